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

    /// Deadlines from lab.json `vmware.timeouts`: a vmrun call, a start, first contact. As many VMs at once
    /// as the stage engine runs node stages (`EngineOptions.maxConcurrency`), so that a whole lab (up to ~10
    /// nodes) saves, restores and is destroyed in one wave, as `up` starts it (docs/benchmarks.md, issue 16).
    public var snapshotLimits: SnapshotLimits {
        SnapshotLimits(maxParallel: EngineOptions().maxConcurrency, query: timeouts.vmrun, snapshot: timeouts.vmrun * 2, revert: timeouts.vmrun * 2,
                       start: timeouts.start, ssh: timeouts.firstContact)
    }

    public func snapshots(progress: @escaping @Sendable (String, String) -> Void = { _, _ in }) -> LabSnapshots {
        LabSnapshots(hypervisor: hypervisor, machines: machines, paths: paths, connector: connector,
                     reservedNames: LabSnapshots.checkpointNames(lab), limits: snapshotLimits, progress: progress)
    }

    /// The checkpoints `up` takes along the way (seed 7.6, 10, 11, 14) are ordinary lab snapshots
    /// (issue 7, docs/snapshots.md): each node adds itself to the lab snapshot `name`, so
    /// `labctl snapshot` lists and restores them. Done when every one of `nodes` is recorded in it.
    func checkpointProbe(name: String, nodes: [String]) async -> ProbeResult {
        let snapshots = snapshots()
        for node in nodes {
            guard await hypervisor.vmExists(vm(node: node)) else { return .notDone }
            guard let done = try? await snapshots.isCheckpointed(name: name, node: node) else { return .unknown }
            if !done { return .notDone }
        }
        return .done
    }

    /// Idempotent per node: a current record is kept, a killed one rolled back, a stale one replaced.
    func takeCheckpoint(name: String, nodes: [String], in ctx: StageContext) async throws {
        let snapshots = snapshots(progress: { _, line in ctx.log(line) })
        for node in nodes {
            let out = try await snapshots.checkpoint(name: name, node: node)
            let uid = out.manifest.node(node)?.snapshotUID.map(String.init) ?? "?"
            ctx.log(out.created ? "\(node): checkpoint \(name) taken (uid \(uid))" : "\(node): checkpoint \(name) exists already (uid \(uid))")
        }
    }
}
