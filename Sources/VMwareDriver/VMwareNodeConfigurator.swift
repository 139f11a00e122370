import Foundation
import LabKit

/// LabKit's `NodeVMConfigurator` over the VMware driver: the node's vmx-template, rendered
/// (lab-relative overrides first) and applied to its VMX, and checked key by key.
public struct VMwareNodeConfigurator: NodeVMConfigurator {
    public var hypervisor: VMwareHypervisor
    public var lab: Lab
    public var labDirectory: String

    public init(hypervisor: VMwareHypervisor, lab: Lab, labDirectory: String) {
        self.hypervisor = hypervisor
        self.lab = lab
        self.labDirectory = labDirectory
    }

    public func applyTemplate(to vm: VMReference, node: NodeSpec) async throws {
        try await hypervisor.applyTemplate(to: vm, node: node, lab: lab, labDirectory: labDirectory)
    }

    public func applyTemplate(toNewClone vm: VMReference, node: NodeSpec) async throws {
        try await hypervisor.applyTemplate(to: vm, node: node, lab: lab, labDirectory: labDirectory, newClone: true)
    }

    public func isConfigured(_ vm: VMReference, node: NodeSpec) async throws -> Bool {
        let settings = try VMXTemplates.load(labDirectory: labDirectory).render(node: node, lab: lab)
        let vmx = try VMXDocument.load(path: vm.path)
        for (key, value) in settings.set where vmx[key] != value { return false }
        for key in settings.remove where vmx[key] != nil { return false }
        return true
    }
}
