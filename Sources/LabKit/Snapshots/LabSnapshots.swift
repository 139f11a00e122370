import Foundation

/// Deadlines and parallelism of lab snapshot operations. Every wait has one.
public struct SnapshotLimits: Sendable, Hashable {
    /// VMs worked on at once (each vmrun call is its own process; the driver serialises per VM).
    public var maxParallel: Int
    /// Reading a VM's snapshot tree or power state.
    public var query: Duration
    /// Creating or deleting one VM's snapshot.
    public var snapshot: Duration
    /// Reverting one VM.
    public var revert: Duration
    /// Powering one VM on.
    public var start: Duration
    /// Until a restored node answers SSH with its pinned host key.
    public var ssh: Duration

    public init(maxParallel: Int = 8, query: Duration = .seconds(120), snapshot: Duration = .seconds(600),
                revert: Duration = .seconds(600), start: Duration = .seconds(300), ssh: Duration = .seconds(300)) {
        self.maxParallel = maxParallel
        self.query = query
        self.snapshot = snapshot
        self.revert = revert
        self.start = start
        self.ssh = ssh
    }
}

/// What to do when `save` finds a complete lab snapshot of that name.
public enum ExistingSnapshotPolicy: Sendable, Hashable {
    /// `labctl snapshot save NAME`: refuse.
    case refuse
    /// The checkpoints `labctl up` takes: keep it when it still describes this lab (same nodes, its
    /// VMware snapshots exist, its journal position is still in the journal's history); replace it
    /// when a restore or rebuild has since made it part of an abandoned history.
    case keepIfCurrent
}

public struct SnapshotSaveOutcome: Sendable {
    public var manifest: LabSnapshotManifest
    /// False when an existing, current checkpoint was kept.
    public var created: Bool
    /// A stale snapshot of that name was replaced, or a killed save's leftovers were rolled back.
    public var replaced: Bool
}

public struct SnapshotRestoreOutcome: Sendable {
    public var manifest: LabSnapshotManifest
    public var nodes: [String]
    /// Journal entries dropped by the rewind.
    public var rewound: [JournalEntry]
    /// Seconds per node, revert to SSH.
    public var seconds: [String: Double]
}

/// Lab-wide snapshots: save, restore, list and delete, over the `Hypervisor` protocol, the
/// journal and the manifests (docs/snapshots.md). Callers hold the lab lock (`LabRun.withLock`)
/// except inside `labctl up`, whose run already holds it.
public struct LabSnapshots: Sendable {
    public var hypervisor: any Hypervisor
    public var machines: LabMachines
    public var paths: LabPaths
    /// Used by restore to wait for SSH with the pinned host key; nil skips that wait.
    public var connector: (any GuestConnector)?
    /// Names `save` without a name never takes (lab.json's checkpoint names).
    public var reservedNames: Set<String>
    public var limits: SnapshotLimits
    /// `(node, message)` progress lines; the CLI prints them.
    public var progress: @Sendable (String, String) -> Void
    public var clock: @Sendable () -> Date

    public init(hypervisor: any Hypervisor, machines: LabMachines, paths: LabPaths, connector: (any GuestConnector)? = nil,
                reservedNames: Set<String> = [], limits: SnapshotLimits = SnapshotLimits(),
                progress: @escaping @Sendable (String, String) -> Void = { _, _ in },
                clock: @escaping @Sendable () -> Date = { Date() }) {
        self.hypervisor = hypervisor
        self.machines = machines
        self.paths = paths
        self.connector = connector
        self.reservedNames = reservedNames
        self.limits = limits
        self.progress = progress
        self.clock = clock
    }

    public var store: LabSnapshotStore { LabSnapshotStore(paths: paths) }

    /// The lab's checkpoint names (lab.json `checkpoints`).
    public static func checkpointNames(_ lab: Lab) -> Set<String> {
        [lab.checkpoints.nodes, lab.checkpoints.kubernetes, lab.checkpoints.kubeconfig, lab.checkpoints.mesh]
    }

    // MARK: list

    /// Every lab snapshot, oldest first.
    public func list() throws -> [LabSnapshotManifest] { try store.all() }

    // MARK: save

    /// Takes a VMware snapshot of every selected VM in parallel and records them in a manifest.
    ///
    /// Kill-safe: a `pending` manifest naming the VMs is written before any VMware snapshot is
    /// made; the complete manifest (with every uid) replaces it at the end. A save killed in
    /// between leaves a `pending` manifest, and the next save (or delete) of that name first rolls
    /// back the VMware snapshots it made, found by uid or by their unique name, so no snapshot is
    /// orphaned and no manifest records one that does not exist.
    @discardableResult
    public func save(name requested: String?, selection: NodeSelection = .all, origin: String = "user",
                     existing policy: ExistingSnapshotPolicy = .refuse) async throws -> SnapshotSaveOutcome {
        if let requested { try LabSnapshotStore.validate(name: requested) }
        let targets = try machines.select(selection)
        guard !targets.isEmpty else {
            throw LabError(.invalidInput, "the selection has no nodes", hint: "name nodes with --nodes a,b or a cluster with --cluster C")
        }
        let journal = try Journal.load(path: paths.journal)
        var replaced = false

        if let name = requested, let old = try store.load(name) {
            switch old.status {
            case .pending, .deleting:
                progress("lab", "rolling back the unfinished \(old.status.rawValue) snapshot \(name)")
                try await removeVMwareSnapshots(of: old)
                try store.remove(name)
                replaced = true
            case .complete:
                if policy == .keepIfCurrent, try await isCurrent(old, targets: targets, journal: journal) {
                    return SnapshotSaveOutcome(manifest: old, created: false, replaced: false)
                }
                guard policy == .keepIfCurrent else {
                    throw LabError(.conflict, "a lab snapshot named \(name) exists (taken \(Self.format(old.taken)))",
                                   location: .file(store.path(for: name)),
                                   hint: "pick another name, or `labctl snapshot delete \(name)` first; `labctl snapshot save` without a name picks the next snapshot#N")
                }
                progress("lab", "replacing checkpoint \(name): it belongs to a history that a restore or rebuild abandoned")
                try await delete(old, checkClones: true)
                replaced = true
            }
        }

        // Every target VM must exist; read its tree and power state (in parallel, bounded).
        let observed = try await observe(targets)
        let name: String
        if let requested {
            name = requested
        } else {
            name = try await nextName(trees: observed.map(\.tree))
        }
        let clashes = zip(targets, observed).filter { !$0.1.tree.named(name).isEmpty }.map(\.0.node)
        if !clashes.isEmpty {
            throw LabError(.conflict, "VMware snapshot \(name) already exists on \(clashes.joined(separator: ", "))",
                           location: .other("snapshot \(name)"),
                           hint: "pick another name (VMware allows duplicate names, labctl does not, so restore is never ambiguous), or delete that snapshot in VMware")
        }

        let stage = Self.reachedStage(journal)
        var manifest = LabSnapshotManifest(
            name: name, status: .pending, taken: clock(), journalPosition: journal.position, stage: stage, origin: origin,
            nodes: zip(targets, observed).map { m, o in
                .init(node: m.node, cluster: m.cluster, vm: m.vm.path, snapshotName: name, powerState: o.power,
                      lastNodeEntry: journal.entries.filter { $0.scope == .node(m.node) }.map(\.sequence).max())
            })
        try store.write(manifest)

        let hv = hypervisor
        let limits = self.limits
        let progress = self.progress
        let clock = self.clock
        let results = await forEachBounded(targets, limit: limits.maxParallel) { m in
            progress(m.node, "snapshot \(name)")
            let info = try await withDeadline(limits.snapshot, onTimeout: {
                LabError.deadline("VMware snapshot \(name)", node: m.node, after: limits.snapshot,
                                  hint: "re-run the same command: it rolls back what was made and starts over")
            }) { try await hv.createSnapshot(m.vm, name: name) }
            return (info, clock())
        }
        var failures: [(String, LabError)] = []
        for (i, r) in results.enumerated() {
            switch r {
            case .success(let (info, when)):
                manifest.nodes[i].snapshotUID = info.uid
                manifest.nodes[i].taken = when
            case .failure(let e):
                failures.append((targets[i].node, LabError.wrap(e, node: targets[i].node)))
            }
        }
        guard failures.isEmpty else {
            // Record the uids we know, then roll back; if the rollback fails too, the pending
            // manifest stays for the next save/delete to finish.
            try? store.write(manifest)
            var rolledBack = true
            do {
                try await removeVMwareSnapshots(of: manifest)
                try store.remove(name)
            } catch { rolledBack = false }
            throw Self.combine(failures, what: "lab snapshot \(name) was not taken",
                               hint: rolledBack ? "the snapshots made on the other nodes were removed again; fix the cause and re-run"
                                                : "re-run `labctl snapshot save \(name)` (or `labctl snapshot delete \(name)`) to clean up")
        }
        manifest.status = .complete
        try store.write(manifest)
        return SnapshotSaveOutcome(manifest: manifest, created: true, replaced: replaced)
    }

    /// The idempotent save the checkpoint stages of `labctl up` call: keeps a current complete
    /// snapshot of that name, rolls back a killed one, replaces a stale one.
    @discardableResult
    public func checkpoint(name: String, selection: NodeSelection = .all) async throws -> SnapshotSaveOutcome {
        try await save(name: name, selection: selection, origin: "checkpoint", existing: .keepIfCurrent)
    }

    /// The next `snapshot#N` that no lab snapshot, no VM's snapshot (the lab's VMs and the base)
    /// and no checkpoint name in lab.json uses.
    public func nextName(trees: [SnapshotTree] = []) async throws -> String {
        var used = Set(try store.all().map(\.name)).union(reservedNames)
        for t in trees { used.formUnion(t.snapshots.map(\.name)) }
        var others = machines.machines.map(\.vm)
        if let base = machines.baseVM { others.append(base) }
        for r in await readTrees(others) {
            if case .success(let t?) = r { used.formUnion(t.snapshots.map(\.name)) }
        }
        var n = 1
        while used.contains("snapshot#\(n)") { n += 1 }
        return "snapshot#\(n)"
    }

    // MARK: restore

    /// Reverts every selected VM to its recorded snapshot (by uid) in parallel, starts those that
    /// were running, waits until each answers SSH with its pinned host key, and rewinds the journal
    /// to the snapshot's position (first, so a kill leaves `up` with more to do, never less).
    @discardableResult
    public func restore(name: String, selection: NodeSelection = .all) async throws -> SnapshotRestoreOutcome {
        guard let manifest = try store.load(name) else {
            throw LabError(.notFound, "no lab snapshot named \(name)", location: .file(store.path(for: name)),
                           hint: "`labctl snapshot list` shows the lab's snapshots")
        }
        guard manifest.status == .complete else {
            throw LabError(.conflict, "lab snapshot \(name) is \(manifest.status.rawValue), not complete", location: .file(store.path(for: name)),
                           hint: manifest.status == .pending
                               ? "its save was interrupted; `labctl snapshot save \(name)` takes it again, `labctl snapshot delete \(name)` removes it"
                               : "its delete was interrupted; `labctl snapshot delete \(name)` finishes it")
        }
        let targets = try machines.select(selection)
        let lacking = targets.filter { manifest.node($0.node) == nil }.map(\.node)
        guard lacking.isEmpty else {
            let has = manifest.nodeNames.filter { machines.machine($0) != nil }
            throw LabError(.conflict, "lab snapshot \(name) has no snapshot of \(lacking.joined(separator: ", "))",
                           location: .file(store.path(for: name)),
                           hint: has.isEmpty ? "none of this lab's nodes are in it"
                                             : "restore the nodes it has: `labctl snapshot restore \(name) --nodes \(has.joined(separator: ","))`")
        }
        // Every VM must still have the recorded snapshot; check all before changing anything.
        let observed = try await observe(targets)
        var missing: [String] = []
        for (m, o) in zip(targets, observed) {
            guard let uid = manifest.node(m.node)?.snapshotUID, o.tree.snapshots.contains(where: { $0.uid == uid }) else {
                missing.append(m.node)
                continue
            }
        }
        guard missing.isEmpty else {
            throw LabError(.notFound, "the VMware snapshot of lab snapshot \(name) is gone on \(missing.joined(separator: ", "))",
                           location: .file(store.path(for: name)),
                           hint: "it was deleted outside labctl; `labctl snapshot delete \(name)` forgets this lab snapshot")
        }

        // The journal first: after a kill, `up` re-runs more than needed, never less.
        let journal = try Journal(path: paths.journal)
        let restored = Set(targets.map(\.node))
        let full = restored == Set(machines.nodeNames)
        let covered = Set(machines.topology.clusters.filter { Set($0.nodes).isSubset(of: restored) }.map(\.name))
        let rewound = try await journal.rewind { scope -> UInt64? in
            switch scope {
            case .node(let n):
                if let record = manifest.node(n), restored.contains(n) { return record.journalPosition ?? manifest.journalPosition }
                return full && machines.machine(n) == nil ? manifest.journalPosition : nil
            case .cluster(let c): return covered.contains(c) || full ? manifest.journalPosition : nil
            case .lab: return full ? manifest.journalPosition : nil
            }
        }

        let hv = hypervisor
        let limits = self.limits
        let progress = self.progress
        let connector = self.connector
        let results = await forEachBounded(targets, limit: limits.maxParallel) { m -> Double in
            let started = ContinuousClock.now
            guard let record = manifest.node(m.node), let uid = record.snapshotUID else { return 0 }
            progress(m.node, "reverting to \(name) (uid \(uid))")
            try await withDeadline(limits.revert, onTimeout: {
                LabError.deadline("revert to \(name)", node: m.node, after: limits.revert, hint: Self.logHint(m))
            }) { try await hv.revert(m.vm, to: .uid(uid)) }
            guard record.powerState == .on else { return Self.seconds(since: started) }
            // A snapshot without memory (and the testbed's) reverts to powered off: start it.
            let state = try await withDeadline(limits.query, onTimeout: {
                LabError.deadline("reading the power state", node: m.node, after: limits.query, hint: Self.logHint(m))
            }) { try await hv.powerState(m.vm) }
            if state != .on {
                progress(m.node, "starting")
                try await withDeadline(limits.start, onTimeout: {
                    LabError.deadline("starting the VM", node: m.node, after: limits.start, hint: Self.logHint(m))
                }) { try await hv.start(m.vm) }
            }
            if let connector {
                progress(m.node, "waiting for SSH on \(m.endpoint.host)")
                do {
                    let session = try await withDeadline(limits.ssh, onTimeout: {
                        LabError(.timeout, "\(m.node) did not answer SSH on \(m.endpoint.host):\(m.endpoint.port) within \(limits.ssh) after the restore",
                                 location: .node(m.node), hint: Self.logHint(m))
                    }) { try await connector.connect(m.endpoint, deadline: limits.ssh) }
                    await session.close()
                } catch let e as LabError where e.code != .timeout && e.code != .security {
                    throw LabError(e.code, "\(m.node) did not come back after the restore: \(e.message)", location: .node(m.node),
                                   hint: Self.logHint(m), cause: e.cause, detail: e.detail)
                }
            }
            progress(m.node, "restored")
            return Self.seconds(since: started)
        }
        var failures: [(String, LabError)] = []
        var seconds: [String: Double] = [:]
        for (i, r) in results.enumerated() {
            switch r {
            case .success(let s): seconds[targets[i].node] = s
            case .failure(let e): failures.append((targets[i].node, LabError.wrap(e, node: targets[i].node)))
            }
        }
        guard failures.isEmpty else {
            throw Self.combine(failures, what: "restore of \(name) did not finish on \(failures.count) node(s)",
                               hint: "the journal is rewound already; re-run `labctl snapshot restore \(name)` once the cause is fixed (\(failures.map { "`labctl logs \($0.0)`" }.joined(separator: ", ")) show the logs)")
        }
        return SnapshotRestoreOutcome(manifest: manifest, nodes: targets.map(\.node), rewound: rewound, seconds: seconds)
    }

    static func logHint(_ m: LabMachine) -> String {
        "`labctl logs \(m.node)` shows the node's log; VMware's own is \((m.vm.directory as NSString).appendingPathComponent("vmware.log"))"
    }

    // MARK: delete

    /// Deletes every VM's snapshot of the lab snapshot, then its manifest. Refuses, before changing
    /// anything, a snapshot that linked clones depend on (naming them), and a name that is not a lab
    /// snapshot but one of the base VM's.
    @discardableResult
    public func delete(name: String) async throws -> LabSnapshotManifest {
        guard let manifest = try store.load(name) else {
            if let base = machines.baseVM, await hypervisor.vmExists(base) {
                let hv = hypervisor
                let limits = self.limits
                let tree = try await withDeadline(limits.query, onTimeout: {
                    LabError(.timeout, "reading the base VM's snapshots did not finish within \(limits.query)", location: .file(base.path))
                }) { try await hv.snapshots(base) }
                if let snap = tree.named(name).first {
                    let clones = tree.named(name).flatMap { tree.clones[$0.uid] ?? [] }
                    throw LabError(.conflict, clones.isEmpty
                                   ? "\(name) is a snapshot of the base VM, not a lab snapshot; labctl does not delete it"
                                   : "\(name) is the base VM's snapshot (uid \(snap.uid)) that linked clones depend on: \(clones.joined(separator: ", "))",
                                   location: .file(base.path),
                                   hint: clones.isEmpty ? "delete it in VMware if you must" : "deleting it would break those VMs; `labctl destroy` them first")
                }
            }
            throw LabError(.notFound, "no lab snapshot named \(name)", location: .file(store.path(for: name)),
                           hint: "`labctl snapshot list` shows the lab's snapshots")
        }
        try await delete(manifest, checkClones: true)
        return manifest
    }

    func delete(_ manifest: LabSnapshotManifest, checkClones: Bool) async throws {
        if checkClones, manifest.status == .complete {
            let observed = try await observeExisting(manifest.nodes.map(\.vmReference))
            var clones: [String] = []
            for (record, tree) in zip(manifest.nodes, observed) {
                if let uid = record.snapshotUID, let t = tree { clones += t.clones[uid] ?? [] }
            }
            if !clones.isEmpty {
                throw LabError(.conflict, "lab snapshot \(manifest.name) cannot be deleted: linked clones depend on it: \(clones.joined(separator: ", "))",
                               location: .file(store.path(for: manifest.name)),
                               hint: "delete those clones first; labctl never breaks a linked clone")
            }
        }
        var marked = manifest
        marked.status = .deleting
        try store.write(marked)
        try await removeVMwareSnapshots(of: marked)
        try store.remove(manifest.name)
    }

    /// Deletes the VMware snapshots a manifest made: by uid when recorded, else the one snapshot of
    /// that name (a save killed before it learnt the uid). Missing VMs and snapshots are done already.
    func removeVMwareSnapshots(of manifest: LabSnapshotManifest) async throws {
        let hv = hypervisor
        let limits = self.limits
        let progress = self.progress
        let results = await forEachBounded(manifest.nodes, limit: limits.maxParallel) { record in
            let vm = record.vmReference
            guard await hv.vmExists(vm) else { return }
            let tree = try await withDeadline(limits.query, onTimeout: {
                LabError.deadline("reading the snapshots", node: record.node, after: limits.query, hint: "re-run the command")
            }) { try await hv.snapshots(vm) }
            let uid: Int?
            if let recorded = record.snapshotUID {
                uid = tree.snapshots.contains { $0.uid == recorded } ? recorded : nil
            } else {
                let named = tree.named(record.snapshotName)
                guard named.count <= 1 else {
                    throw LabError(.conflict, "\(record.node) has \(named.count) VMware snapshots named \(record.snapshotName) (uids \(named.map { String($0.uid) }.joined(separator: ", ")))",
                                   location: .file(vm.path), hint: "delete the extra ones in VMware, then re-run")
                }
                uid = named.first?.uid
            }
            guard let uid else { return }
            if let clones = tree.clones[uid], !clones.isEmpty {
                throw LabError(.conflict, "snapshot \(record.snapshotName) of \(record.node) has linked clones: \(clones.joined(separator: ", "))",
                               location: .file(vm.path), hint: "delete those clones first")
            }
            progress(record.node, "deleting snapshot \(record.snapshotName) (uid \(uid))")
            try await withDeadline(limits.snapshot, onTimeout: {
                LabError.deadline("deleting snapshot \(record.snapshotName)", node: record.node, after: limits.snapshot, hint: "re-run the command")
            }) { try await hv.deleteSnapshot(vm, .uid(uid)) }
        }
        let failures = results.enumerated().compactMap { i, r -> (String, LabError)? in
            if case .failure(let e) = r { return (manifest.nodes[i].node, LabError.wrap(e, node: manifest.nodes[i].node)) }
            return nil
        }
        guard failures.isEmpty else {
            throw Self.combine(failures, what: "removing the VMware snapshots of \(manifest.name) failed",
                               hint: "fix the cause and re-run `labctl snapshot delete \(manifest.name)`: it finishes what is left")
        }
    }

    // MARK: destroy support

    /// Drops destroyed nodes from every manifest (their snapshots go with their VMs), so no manifest
    /// records a snapshot that no longer exists. A manifest left without nodes is removed.
    public func forgetNodes(_ nodes: Set<String>) throws {
        for var m in try store.all() where m.nodes.contains(where: { nodes.contains($0.node) }) {
            m.nodes.removeAll { nodes.contains($0.node) }
            if m.nodes.isEmpty { try store.remove(m.name) } else { try store.write(m) }
        }
    }

    // MARK: helpers

    struct Observed: Sendable {
        var tree: SnapshotTree
        var power: PowerState
    }

    /// Tree and power state of VMs that must exist.
    func observe(_ targets: [LabMachine]) async throws -> [Observed] {
        let hv = hypervisor
        let limits = self.limits
        let results = await forEachBounded(targets, limit: limits.maxParallel) { m -> Observed in
            guard await hv.vmExists(m.vm) else {
                throw LabError(.notFound, "\(m.node) has no VM at \(m.vm.path)", location: .node(m.node),
                               hint: "`labctl up` creates it")
            }
            return try await withDeadline(limits.query, onTimeout: {
                LabError.deadline("reading the VM's snapshots and power state", node: m.node, after: limits.query, hint: "re-run the command")
            }) { Observed(tree: try await hv.snapshots(m.vm), power: try await hv.powerState(m.vm)) }
        }
        var out: [Observed] = []
        var failures: [(String, LabError)] = []
        for (i, r) in results.enumerated() {
            switch r {
            case .success(let o): out.append(o)
            case .failure(let e): failures.append((targets[i].node, LabError.wrap(e, node: targets[i].node)))
            }
        }
        guard failures.isEmpty else {
            throw Self.combine(failures, what: "cannot read \(failures.count) VM(s)", hint: nil)
        }
        return out
    }

    /// Trees of VMs that may be gone (nil).
    func observeExisting(_ vms: [VMReference]) async throws -> [SnapshotTree?] {
        try await readTrees(vms).map { try $0.get() }
    }

    /// The snapshot trees of `vms`, read in parallel (bounded), each within the query deadline;
    /// nil for a VM that does not exist.
    private func readTrees(_ vms: [VMReference]) async -> [Result<SnapshotTree?, Error>] {
        let hv = hypervisor
        let limits = self.limits
        return await forEachBounded(vms, limit: limits.maxParallel) { vm -> SnapshotTree? in
            guard await hv.vmExists(vm) else { return nil }
            return try await withDeadline(limits.query, onTimeout: {
                LabError(.timeout, "reading the snapshots of \(vm.path) did not finish within \(limits.query)", location: .file(vm.path))
            }) { try await hv.snapshots(vm) }
        }
    }

    /// A complete snapshot still describes this lab: the same nodes, every VMware snapshot there,
    /// and its journal position is still part of the journal's history (the entry it ended with
    /// survives; a restore to an earlier snapshot or a rebuild drops it).
    func isCurrent(_ m: LabSnapshotManifest, targets: [LabMachine], journal: JournalState) async throws -> Bool {
        guard Set(m.nodeNames) == Set(targets.map(\.node)) else { return false }
        if m.journalPosition > 0, !journal.entries.contains(where: { $0.sequence == m.journalPosition }) { return false }
        let trees = try await observeExisting(m.nodes.map(\.vmReference))
        for (record, tree) in zip(m.nodes, trees) {
            guard let uid = record.snapshotUID, let tree, tree.snapshots.contains(where: { $0.uid == uid }) else { return false }
        }
        return true
    }

    /// The last stage instance journaled done: what `list` shows as "the stage the lab had reached".
    static func reachedStage(_ journal: JournalState) -> String? {
        journal.entries.filter { $0.outcome == .done }.max { $0.sequence < $1.sequence }?.instance.description
    }

    static func combine(_ failures: [(String, LabError)], what: String, hint: String?) -> LabError {
        if failures.count == 1, let (node, e) = failures.first {
            return LabError(e.code, "\(what): \(node): \(e.message)", location: e.location ?? .node(node),
                            hint: e.hint.map { h in hint.map { "\(h); \($0)" } ?? h } ?? hint, cause: e.cause, detail: e.detail)
        }
        let code = failures.first?.1.code ?? .internalError
        let detail = failures.map { "\($0.0): \($0.1.message)" + ($0.1.hint.map { " (\($0))" } ?? "") }.joined(separator: "; ")
        return LabError(code, "\(what): \(detail)", location: .other("nodes \(failures.map(\.0).joined(separator: ", "))"), hint: hint)
    }

    static func seconds(since start: ContinuousClock.Instant) -> Double {
        let d = ContinuousClock.now - start
        return Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }

    static func format(_ date: Date) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime]
        return f.string(from: date)
    }
}
