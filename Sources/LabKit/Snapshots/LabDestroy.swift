import Foundation

/// What `labctl destroy` would remove, for the confirmation prompt and `--format json`.
public struct DestroyPlan: Sendable, Hashable {
    public struct Item: Sendable, Hashable {
        public var node: String
        public var cluster: String
        public var vm: String
        public var exists: Bool
        public init(node: String, cluster: String, vm: String, exists: Bool) {
            self.node = node
            self.cluster = cluster
            self.vm = vm
            self.exists = exists
        }
    }

    public var scope: StageScope
    public var items: [Item]
    /// Journal entries that will be forgotten.
    public var journalEntries: Int
    /// Lab snapshots that lose these nodes (removed when no node is left).
    public var snapshots: [String]

    public init(scope: StageScope, items: [Item], journalEntries: Int, snapshots: [String]) {
        self.scope = scope
        self.items = items
        self.journalEntries = journalEntries
        self.snapshots = snapshots
    }
}

/// `labctl destroy [NODE|CLUSTER]`: stops and deletes the selected VMs, forgets their host-key
/// pins, their journal entries and their place in lab snapshots. Only the lab's VMs: a path
/// outside `vmware.vmFolder`, or the base VM, is refused before anything changes.
///
/// Kill-safe by order and idempotence: manifests first (so none records a snapshot whose VM is
/// about to go), then the VMs (a VM already gone is skipped), then pins, then the journal. Every
/// step tolerates its effect being there already, so running destroy again completes it.
/// The lab's PKI (`LabPaths.pki`, the mesh's CA root) is never touched.
public struct LabDestroy: Sendable {
    public var hypervisor: any Hypervisor
    public var machines: LabMachines
    public var paths: LabPaths
    /// Removes a node's host-key pin (the CLI passes the lab's known_hosts editor).
    public var forgetPin: @Sendable (GuestEndpoint) throws -> Void
    public var limits: SnapshotLimits
    public var progress: @Sendable (String, String) -> Void

    public init(hypervisor: any Hypervisor, machines: LabMachines, paths: LabPaths,
                forgetPin: @escaping @Sendable (GuestEndpoint) throws -> Void = { _ in },
                limits: SnapshotLimits = SnapshotLimits(), progress: @escaping @Sendable (String, String) -> Void = { _, _ in }) {
        self.hypervisor = hypervisor
        self.machines = machines
        self.paths = paths
        self.forgetPin = forgetPin
        self.limits = limits
        self.progress = progress
    }

    /// The scopes whose journal entries go: the scope and everything inside it.
    public func forgottenScopes(_ scope: StageScope) -> Set<StageScope> {
        machines.topology.scopes(within: scope)
    }

    public func plan(_ scope: StageScope) async throws -> DestroyPlan {
        let targets = machines.machines(in: scope)
        for m in targets { try machines.checkOwned(m) }
        var items: [DestroyPlan.Item] = []
        for m in targets {
            items.append(.init(node: m.node, cluster: m.cluster, vm: m.vm.path, exists: await hypervisor.vmExists(m.vm)))
        }
        let scopes = forgottenScopes(scope)
        let journal = try Journal.load(path: paths.journal)
        let names = Set(targets.map(\.node))
        let snaps = try LabSnapshotStore(paths: paths).all().filter { $0.nodes.contains { names.contains($0.node) } }.map(\.name)
        return DestroyPlan(scope: scope, items: items, journalEntries: journal.entries.filter { scopes.contains($0.scope) }.count,
                           snapshots: snaps)
    }

    /// Destroys the scope's VMs. Callers hold the lab lock.
    @discardableResult
    public func run(_ scope: StageScope) async throws -> DestroyPlan {
        let plan = try await plan(scope)
        let targets = machines.machines(in: scope)
        let snapshots = LabSnapshots(hypervisor: hypervisor, machines: machines, paths: paths)
        try snapshots.forgetNodes(Set(targets.map(\.node)))

        let hv = hypervisor
        let limits = self.limits
        let progress = self.progress
        let results = await forEachBounded(targets, limit: limits.maxParallel) { m in
            guard await hv.vmExists(m.vm) else { return }
            let state = try await withDeadline(limits.query, onTimeout: {
                LabError.deadline("reading the power state", node: m.node, after: limits.query, hint: "re-run `labctl destroy`")
            }) { try await hv.powerState(m.vm) }
            if state != .off {
                progress(m.node, "stopping")
                // Hard: the VM is about to be deleted, a clean shutdown buys nothing.
                try await withDeadline(limits.start, onTimeout: {
                    LabError.deadline("stopping the VM", node: m.node, after: limits.start, hint: "re-run `labctl destroy`")
                }) { try await hv.stop(m.vm, mode: .hard) }
            }
            progress(m.node, "deleting \(m.vm.path)")
            try await withDeadline(limits.snapshot, onTimeout: {
                LabError.deadline("deleting the VM", node: m.node, after: limits.snapshot, hint: "re-run `labctl destroy`")
            }) { try await hv.delete(m.vm) }
        }
        let failures = results.enumerated().compactMap { i, r -> (String, LabError)? in
            if case .failure(let e) = r { return (targets[i].node, LabError.wrap(e, node: targets[i].node)) }
            return nil
        }
        guard failures.isEmpty else {
            throw LabSnapshots.combine(failures, what: "destroy did not finish",
                                       hint: "fix the cause and re-run the same `labctl destroy`: it completes what is left")
        }
        for m in targets { try forgetPin(m.endpoint) }
        let journal = try Journal(path: paths.journal)
        try await journal.forget(scopes: forgottenScopes(scope))
        return plan
    }
}
