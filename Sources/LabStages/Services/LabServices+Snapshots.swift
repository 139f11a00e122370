import Foundation
import LabKit

/// Lab snapshots, destroy and rebuild over the same services and VM path convention the node
/// stages use (issue 7, docs/snapshots.md).
extension LabServices {
    /// The lab's machines: `vm(node:)` for every node, the resolved VM folder and base VM.
    public var machines: LabMachines {
        LabMachines(
            topology: LabTopology(lab: lab),
            machines: lab.clusters.flatMap { c in
                c.nodes.map { n in LabMachine(node: n.name, cluster: c.name, vm: vm(node: n.name), endpoint: endpoint(node: n)) }
            },
            vmFolder: vmFolder, baseVM: baseVM)
    }

    /// Deadlines from lab.json `vmware.timeouts`: a vmrun call, a start, first contact.
    public var snapshotLimits: SnapshotLimits {
        SnapshotLimits(maxParallel: 8, query: timeouts.vmrun, snapshot: timeouts.vmrun * 2, revert: timeouts.vmrun * 2,
                       start: timeouts.start, ssh: timeouts.firstContact)
    }

    public func snapshots(progress: @escaping @Sendable (String, String) -> Void = { _, _ in }) -> LabSnapshots {
        LabSnapshots(hypervisor: hypervisor, machines: machines, paths: paths, connector: connector,
                     reservedNames: LabSnapshots.checkpointNames(lab), limits: snapshotLimits, progress: progress)
    }
}
