import Foundation
import LabKit

extension VMwareHypervisor {
    /// The driver for a lab: vmrun located from `lab.vmware` (lab.json, then `LABCTL_VMRUN`, the OS
    /// default, PATH), its deadlines from `lab.vmware.timeouts`, leases of the lab's vmnet.
    public init(lab: Lab, runner: any CommandRunner = HostProcessRunner(), platform: HostPlatform = .current,
                environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        self.init(vmrun: try Vmrun(spec: lab.vmware, runner: runner, platform: platform, environment: environment),
                  leaseFiles: LeaseFile.defaultPaths(vmnet: lab.network.vmnet, platform: platform))
    }

    /// Renders the node's vmx-template (lab-relative overrides first) and applies it to the node's VMX.
    public func applyTemplate(to vm: VMReference, node: NodeSpec, lab: Lab, labDirectory: String?, newClone: Bool = false) async throws {
        let settings = try VMXTemplates.load(labDirectory: labDirectory).render(node: node, lab: lab)
        try await configure(vm, settings: settings.set, removing: settings.remove, newClone: newClone)
    }
}
