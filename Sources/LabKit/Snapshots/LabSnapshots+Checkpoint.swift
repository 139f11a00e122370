import Foundation

/// The per-node checkpoints `labctl up` takes as each node is ready (`node.checkpoint`, seed 7.6):
/// every node adds itself to one lab snapshot (lab.json `checkpoints.nodes`), so the checkpoint is
/// an ordinary lab snapshot that `snapshot list/restore/delete` know.
///
/// Each node records its own journal position, so restoring it rewinds each node to the moment
/// its own snapshot was taken. The manifest stays `pending` until every node it names has its uid.
extension LabSnapshots {
    /// Serialises read-modify-write of manifests within this process (nodes of one `up` run
    /// checkpoint in parallel; the lab lock keeps other processes out).
    private static let manifestLock = NSLock()

    @discardableResult
    private func updateManifest(_ name: String, _ change: (inout LabSnapshotManifest?) throws -> Void) throws -> LabSnapshotManifest? {
        try Self.manifestLock.withLock {
            var m = try store.load(name)
            try change(&m)
            if var updated = m {
                updated.status = updated.nodes.allSatisfy { $0.snapshotUID != nil } ? .complete : .pending
                updated.journalPosition = updated.nodes.compactMap(\.journalPosition).max() ?? updated.journalPosition
                try store.write(updated)
                m = updated
            }
            return m
        }
    }

    /// True when the node's checkpoint is recorded, exists, and is part of the current history
    /// (its last own journal entry at that moment is still journaled). The `node.checkpoint` probe.
    public func isCheckpointed(name: String, node: String) async throws -> Bool {
        guard let m = try store.load(name), m.status != .deleting, let record = m.node(node),
              let uid = record.snapshotUID, let machine = machines.machine(node) else { return false }
        guard await hypervisor.vmExists(machine.vm) else { return false }
        let hv = hypervisor
        let limits = self.limits
        let tree = try await withDeadline(limits.query, onTimeout: {
            LabError.deadline("reading the VM's snapshots", node: node, after: limits.query, hint: "re-run")
        }) { try await hv.snapshots(machine.vm) }
        guard tree.snapshots.contains(where: { $0.uid == uid }) else { return false }
        return Self.isCurrent(record, journal: try Journal.load(path: paths.journal))
    }

    static func isCurrent(_ record: LabSnapshotManifest.Node, journal: JournalState) -> Bool {
        guard let last = record.lastNodeEntry else { return true }
        return journal.entries.contains { $0.sequence == last && $0.scope == .node(record.node) }
    }

    /// Takes (or keeps) one node's part of the lab snapshot `name`. Idempotent: a current, complete
    /// record is kept; a record left without uid by a kill is rolled back first (its VMware snapshot
    /// is found by its unique name); a stale one is replaced.
    @discardableResult
    public func checkpoint(name: String, node: String) async throws -> SnapshotSaveOutcome {
        try LabSnapshotStore.validate(name: name)
        guard let m = machines.machine(node) else {
            throw LabError(.invalidInput, "no node named \(node) in this lab", hint: "the lab's nodes: \(machines.nodeNames.joined(separator: ", "))")
        }
        let observed = try await observe([m])[0]
        let journal = try Journal.load(path: paths.journal)
        let existing = try store.load(name)
        if existing?.status == .deleting {
            throw LabError(.conflict, "lab snapshot \(name) is being deleted", location: .file(store.path(for: name)),
                           hint: "finish it with `labctl snapshot delete \(name)`, then re-run")
        }
        let record = existing?.node(node)
        if let existing, let record, let uid = record.snapshotUID, observed.tree.snapshots.contains(where: { $0.uid == uid }),
           Self.isCurrent(record, journal: journal) {
            return SnapshotSaveOutcome(manifest: existing, created: false, replaced: false)
        }
        // What to remove first: a stale recorded snapshot, or the one a killed checkpoint made.
        var stale: Int?
        if let record {
            if let uid = record.snapshotUID, observed.tree.snapshots.contains(where: { $0.uid == uid }) {
                stale = uid
            } else if record.snapshotUID == nil {
                let named = observed.tree.named(name)
                guard named.count <= 1 else {
                    throw LabError(.conflict, "\(node) has \(named.count) VMware snapshots named \(name)", location: .file(m.vm.path),
                                   hint: "delete the extra ones in VMware, then re-run")
                }
                stale = named.first?.uid
            }
        }
        if stale == nil, !observed.tree.named(name).isEmpty {
            throw LabError(.conflict, "\(node) already has a VMware snapshot named \(name) that no lab snapshot records",
                           location: .file(m.vm.path),
                           hint: "delete or rename it in VMware, or pick another checkpoint name in lab.json `checkpoints`")
        }
        if let uid = stale {
            if let clones = observed.tree.clones[uid], !clones.isEmpty {
                throw LabError(.conflict, "the old \(name) snapshot of \(node) has linked clones: \(clones.joined(separator: ", "))",
                               location: .file(m.vm.path), hint: "delete those clones first")
            }
            progress(node, "replacing the old \(name) snapshot (uid \(uid))")
            let hv = hypervisor
            let limits = self.limits
            try await withDeadline(limits.snapshot, onTimeout: {
                LabError.deadline("deleting snapshot \(name)", node: node, after: limits.snapshot, hint: "re-run")
            }) { try await hv.deleteSnapshot(m.vm, .uid(uid)) }
        }
        let position = journal.position
        let lastOwn = journal.entries.filter { $0.scope == .node(node) }.map(\.sequence).max()
        let stage = Self.reachedStage(journal)
        let now = clock()
        // The pending record first, so a kill leaves a trace the next run rolls back.
        try updateManifest(name) { manifest in
            var mm = manifest ?? LabSnapshotManifest(name: name, status: .pending, taken: now, journalPosition: position,
                                                     stage: stage, origin: "checkpoint", nodes: [])
            mm.nodes.removeAll { $0.node == node }
            mm.nodes.append(.init(node: node, cluster: m.cluster, vm: m.vm.path, snapshotName: name, powerState: observed.power,
                                  journalPosition: position, lastNodeEntry: lastOwn))
            let order = machines.nodeNames
            mm.nodes.sort { (order.firstIndex(of: $0.node) ?? .max) < (order.firstIndex(of: $1.node) ?? .max) }
            if position >= mm.journalPosition { mm.stage = stage }
            manifest = mm
        }
        let hv = hypervisor
        let limits = self.limits
        progress(node, "snapshot \(name)")
        let info = try await withDeadline(limits.snapshot, onTimeout: {
            LabError.deadline("VMware snapshot \(name)", node: node, after: limits.snapshot, hint: "re-run: the unfinished snapshot is rolled back first")
        }) { try await hv.createSnapshot(m.vm, name: name) }
        let taken = clock()
        let final = try updateManifest(name) { manifest in
            guard var mm = manifest, let i = mm.nodes.firstIndex(where: { $0.node == node }) else { return }
            mm.nodes[i].snapshotUID = info.uid
            mm.nodes[i].taken = taken
            manifest = mm
        }
        guard let final else { throw LabError(.internalError, "the manifest of \(name) vanished", location: .file(store.path(for: name))) }
        return SnapshotSaveOutcome(manifest: final, created: true, replaced: stale != nil)
    }
}
