import Foundation
import Testing
@testable import LabKit
import LabTestSupport

/// A four-node lab (two clusters) on the in-memory hypervisor, in a temporary state directory.
struct SnapFixture {
    let root: String
    let paths: LabPaths
    let fake = FakeHypervisor()
    let machines: LabMachines
    let connector: FakeConnector

    static let topology = LabTopology(clusters: [
        .init(name: "cluster1", nodes: ["c1-cp", "c1-w1"]),
        .init(name: "cluster2", nodes: ["c2-cp", "c2-w1"]),
    ])

    init() async throws {
        root = try temporaryDirectory()
        paths = LabPaths(root: (root as NSString).appendingPathComponent(".labctl"))
        let folder = (root as NSString).appendingPathComponent("vms")
        let ms = Self.topology.clusters.enumerated().flatMap { ci, c in
            c.nodes.enumerated().map { ni, n in
                LabMachine(node: n, cluster: c.name, vm: VMReference(path: LabMachines.conventionalVMPath(folder: folder, node: n)),
                           endpoint: GuestEndpoint(node: n, host: "10.213.64.\(11 + ci * 2 + ni)", user: "lab"))
            }
        }
        machines = LabMachines(topology: Self.topology, machines: ms, vmFolder: folder,
                               baseVM: VMReference(path: (root as NSString).appendingPathComponent("base/base.vmx")))
        let fake = self.fake
        connector = FakeConnector { ep in
            let path = LabMachines.conventionalVMPath(folder: folder, node: ep.node)
            return await fake.power(path) == .on
        }
        for m in ms { await fake.add(m.vm.path, power: .on, disk: "\(m.node) v1") }
        if let base = machines.baseVM { await fake.add(base.path) }
    }

    func vm(_ node: String) -> String { machines.machine(node)?.vm.path ?? "" }

    func snapshots(reserved: Set<String> = [], limits: SnapshotLimits = SnapshotLimits()) -> LabSnapshots {
        LabSnapshots(hypervisor: fake, machines: machines, paths: paths, connector: connector, reservedNames: reserved, limits: limits)
    }

    /// Journals `stage@scope` done for each pair, in order; returns the position after them.
    @discardableResult
    func journal(_ entries: [(String, StageScope)]) async throws -> UInt64 {
        let j = try Journal(path: paths.journal)
        for (stage, scope) in entries {
            try await j.record(StageInstanceID(stage, scope), outcome: .done, started: Date(), ended: Date())
        }
        return await j.position
    }

    func nodeStages(_ stage: String) -> [(String, StageScope)] {
        Self.topology.nodes.map { (stage, StageScope.node($0)) }
    }

    func journalState() throws -> JournalState { try Journal.load(path: paths.journal) }
}

@Suite("Lab snapshots")
struct SnapshotTests {
    @Test func saveRecordsEveryNodeByUIDWithJournalPosition() async throws {
        let f = try await SnapFixture()
        try await f.journal(f.nodeStages("node.clone"))
        let position = try await f.journal([("node.identity", .node("c2-w1"))])
        await f.fake.setPower(f.vm("c1-w1"), .off)

        let out = try await f.snapshots().save(name: "before-k8s")
        #expect(out.created)
        let m = try #require(try LabSnapshotStore(paths: f.paths).load("before-k8s"))
        #expect(m.status == .complete)
        #expect(m.journalPosition == position)
        #expect(m.stage == "node.identity@c2-w1")
        #expect(m.nodeNames == ["c1-cp", "c1-w1", "c2-cp", "c2-w1"])
        for record in m.nodes {
            let tree = await f.fake.tree(record.vm)
            let uid = try #require(record.snapshotUID)
            #expect(tree.contains { $0.uid == uid && $0.name == "before-k8s" })
            #expect(record.powerState == (record.node == "c1-w1" ? .off : .on))
            #expect(record.taken != nil)
        }
        // The file is what list reads.
        #expect(try f.snapshots().list().map(\.name) == ["before-k8s"])
    }

    @Test func saveWithoutNameTakesNextFreeNumber() async throws {
        let f = try await SnapFixture()
        // snapshot#1 and #2 are the base VM's checkpoints, #3 is a lab.json checkpoint name,
        // #4 exists on one node VM only.
        if let base = f.machines.baseVM {
            _ = try await f.fake.createSnapshot(base, name: "snapshot#1")
            _ = try await f.fake.createSnapshot(base, name: "snapshot#2")
        }
        _ = try await f.fake.createSnapshot(VMReference(path: f.vm("c2-cp")), name: "snapshot#4")
        let s = f.snapshots(reserved: ["snapshot#3"])
        let first = try await s.save(name: nil, selection: .cluster("cluster1"))
        #expect(first.manifest.name == "snapshot#5")
        let second = try await s.save(name: nil)
        #expect(second.manifest.name == "snapshot#6")
    }

    @Test func selectionByNodesAndCluster() async throws {
        let f = try await SnapFixture()
        let s = f.snapshots()
        #expect(try await s.save(name: "a", selection: .nodes(["c1-w1", "c2-w1"])).manifest.nodeNames == ["c1-w1", "c2-w1"])
        #expect(try await s.save(name: "b", selection: .cluster("cluster2")).manifest.nodeNames == ["c2-cp", "c2-w1"])
        await #expect(throws: LabError.self) { try await s.save(name: "c", selection: .nodes(["nope"])) }
        await #expect(throws: LabError.self) { try await s.save(name: "c", selection: .cluster("cluster9")) }
        #expect(await f.fake.tree(f.vm("c1-cp")).isEmpty)
    }

    @Test func saveRefusesExistingAndInvalidNames() async throws {
        let f = try await SnapFixture()
        let s = f.snapshots()
        try await s.save(name: "x")
        let dup = await #expect(throws: LabError.self) { try await s.save(name: "x") }
        #expect(dup?.code == .conflict)
        // A VMware snapshot of that name on one VM (made outside labctl) is refused too, naming the VM.
        _ = try await f.fake.createSnapshot(VMReference(path: f.vm("c2-w1")), name: "y")
        let clash = await #expect(throws: LabError.self) { try await s.save(name: "y") }
        #expect(clash?.message.contains("c2-w1") == true)
        #expect(try LabSnapshotStore(paths: f.paths).load("y") == nil)
        #expect(await f.fake.tree(f.vm("c1-cp")).map(\.name) == ["x"])
        for bad in ["", "a/b", ".hidden", "-x", "é"] {
            let e = await #expect(throws: LabError.self) { try await s.save(name: bad) }
            #expect(e?.code == .invalidInput)
        }
    }

    @Test func failedSaveRollsBackWhatItMade() async throws {
        let f = try await SnapFixture()
        await f.fake.fail(.create, vmContaining: "c2-cp")
        let e = await #expect(throws: LabError.self) { try await f.snapshots().save(name: "s") }
        #expect(e?.message.contains("c2-cp") == true)
        for n in SnapFixture.topology.nodes { #expect(await f.fake.tree(f.vm(n)).isEmpty, "orphan on \(n)") }
        #expect(try LabSnapshotStore(paths: f.paths).load("s") == nil)
    }

    @Test func killedSaveIsReconciledByTheNextSave() async throws {
        // A save killed after the pending manifest and two VMware snapshots, before the rest.
        let f = try await SnapFixture()
        let store = LabSnapshotStore(paths: f.paths)
        let pending = LabSnapshotManifest(
            name: "snapshot#2", status: .pending, taken: Date(), journalPosition: 0, stage: nil,
            nodes: f.machines.machines.map { .init(node: $0.node, cluster: $0.cluster, vm: $0.vm.path, snapshotName: "snapshot#2", powerState: .on) })
        try store.write(pending)
        let early1 = try await f.fake.createSnapshot(VMReference(path: f.vm("c1-cp")), name: "snapshot#2")
        _ = try await f.fake.createSnapshot(VMReference(path: f.vm("c2-w1")), name: "snapshot#2")
        // While pending it cannot be restored.
        let refused = await #expect(throws: LabError.self) { try await f.snapshots().restore(name: "snapshot#2") }
        #expect(refused?.code == .conflict)

        let out = try await f.snapshots().save(name: "snapshot#2")
        #expect(out.replaced)
        let m = try #require(try store.load("snapshot#2"))
        #expect(m.status == .complete)
        for record in m.nodes {
            let tree = await f.fake.tree(record.vm)
            #expect(tree.count == 1, "exactly one snapshot on \(record.node)")
            #expect(tree.first?.uid == record.snapshotUID)
        }
        // The early snapshot was rolled back and taken again, so it is consistent with the others.
        #expect(m.node("c1-cp")?.snapshotUID != early1.uid)
    }

    @Test func saveWhoseRollbackFailsLeavesPendingThatTheNextRunCompletes() async throws {
        let f = try await SnapFixture()
        await f.fake.fail(.create, vmContaining: "c1-w1", times: 1)
        await f.fake.fail(.deleteSnapshot, vmContaining: "c2-cp", times: 1)
        await #expect(throws: LabError.self) { try await f.snapshots().save(name: "s") }
        let left = try #require(try LabSnapshotStore(paths: f.paths).load("s"))
        #expect(left.status == .pending)
        // Every VMware snapshot that still exists is recorded by uid in the pending manifest.
        for record in left.nodes {
            for snap in await f.fake.tree(record.vm) { #expect(record.snapshotUID == snap.uid) }
        }
        // delete of a pending snapshot cleans up, leaving nothing behind.
        try await f.snapshots().delete(name: "s")
        for n in SnapshotFixtureNodes.all { #expect(await f.fake.tree(f.vm(n)).isEmpty) }
        #expect(try LabSnapshotStore(paths: f.paths).load("s") == nil)
    }

    @Test func restoreRevertsStartsWaitsForSSHAndRewinds() async throws {
        let f = try await SnapFixture()
        let position = try await f.journal(f.nodeStages("node.clone") + f.nodeStages("node.identity"))
        let s = f.snapshots()
        try await s.save(name: "snapshot#2")
        // Later stages, and damage.
        try await f.journal([("cluster.init", .cluster("cluster1")), ("cluster.init", .cluster("cluster2")), ("mesh.trust", .lab)])
        for n in SnapshotFixtureNodes.all { await f.fake.setDisk(f.vm(n), "\(n) broken") }
        await f.fake.setPower(f.vm("c1-w1"), .off)

        let out = try await s.restore(name: "snapshot#2")
        #expect(Set(out.nodes) == Set(SnapshotFixtureNodes.all))
        #expect(out.rewound.count == 3)
        for n in SnapshotFixtureNodes.all {
            #expect(await f.fake.disk(f.vm(n)) == "\(n) v1")
            #expect(await f.fake.power(f.vm(n)) == .on, "\(n) started after the revert")
        }
        #expect(Set(f.connector.connected) == Set(SnapshotFixtureNodes.all))
        let j = try f.journalState()
        #expect(j.entries.allSatisfy { $0.sequence <= position })
        #expect(j.entries.count == 8)
        // Sequences keep growing after a rewind.
        #expect(j.nextSequence > position + 3)
    }

    @Test func restoreRefusesSnapshotThatLacksNodesAndNamesThem() async throws {
        let f = try await SnapFixture()
        let s = f.snapshots()
        try await s.save(name: "half", selection: .cluster("cluster1"))
        let e = await #expect(throws: LabError.self) { try await s.restore(name: "half") }
        #expect(e?.code == .conflict)
        #expect(e?.message.contains("c2-cp, c2-w1") == true)
        #expect(e?.hint?.contains("--nodes c1-cp,c1-w1") == true)
        #expect(await f.fake.calls.filter { $0.hasPrefix("revert") }.isEmpty, "nothing reverted")
        let missing = await #expect(throws: LabError.self) { try await s.restore(name: "nope") }
        #expect(missing?.code == .notFound)
    }

    @Test func partialRestoreRewindsOnlyThoseScopes() async throws {
        let f = try await SnapFixture()
        try await f.journal(f.nodeStages("node.clone"))
        let s = f.snapshots()
        try await s.save(name: "c1", selection: .cluster("cluster1"))
        try await f.journal(f.nodeStages("node.identity") + [("cluster.init", .cluster("cluster1")), ("cluster.init", .cluster("cluster2"))])
        try await s.restore(name: "c1", selection: .cluster("cluster1"))
        let left = Set(try f.journalState().entries.map(\.instance.description))
        #expect(!left.contains("node.identity@c1-cp") && !left.contains("cluster.init@cluster1"))
        #expect(left.contains("node.identity@c2-cp") && left.contains("cluster.init@cluster2"))
        #expect(await f.fake.calls.filter { $0.contains("c2-") && $0.hasPrefix("revert") }.isEmpty)
    }

    @Test func nodeThatDoesNotComeBackIsNamedWithItsLogCommand() async throws {
        let f = try await SnapFixture()
        let s = f.snapshots()
        try await s.save(name: "s")
        await f.fake.fail(.start, vmContaining: "c2-w1")
        let e = await #expect(throws: LabError.self) { try await s.restore(name: "s") }
        #expect(e?.message.contains("c2-w1") == true)
        #expect(e?.hint?.contains("labctl logs c2-w1") == true)
        // The others came back.
        #expect(await f.fake.power(f.vm("c1-cp")) == .on)
    }

    @Test func restoreHasADeadlineForSSH() async throws {
        let f = try await SnapFixture()
        let slow = FakeConnector { _ in
            try? await Task.sleep(for: .seconds(30))
            return true
        }
        var limits = SnapshotLimits()
        limits.ssh = .milliseconds(200)
        let s = LabSnapshots(hypervisor: f.fake, machines: f.machines, paths: f.paths, connector: slow, limits: limits)
        try await s.save(name: "s")
        let started = ContinuousClock.now
        let e = await #expect(throws: LabError.self) { try await s.restore(name: "s", selection: .nodes(["c1-cp"])) }
        #expect(e?.code == .timeout)
        #expect(e?.message.contains("c1-cp") == true)
        #expect(ContinuousClock.now - started < .seconds(5))
    }

    @Test func restoreAndSaveRunInParallelWithABound() async throws {
        let f = try await SnapFixture()
        await f.fake.setDelay(.milliseconds(100))
        var limits = SnapshotLimits()
        limits.maxParallel = 3
        let s = LabSnapshots(hypervisor: f.fake, machines: f.machines, paths: f.paths, connector: f.connector, limits: limits)
        try await s.save(name: "s")
        #expect(await f.fake.maxInFlight == 3)
    }

    @Test func deleteRemovesEveryVMwareSnapshotThenTheManifest() async throws {
        let f = try await SnapFixture()
        let s = f.snapshots()
        try await s.save(name: "a")
        try await s.save(name: "b")
        try await s.delete(name: "a")
        for n in SnapshotFixtureNodes.all { #expect(await f.fake.tree(f.vm(n)).map(\.name) == ["b"]) }
        #expect(try s.list().map(\.name) == ["b"])
        let e = await #expect(throws: LabError.self) { try await s.delete(name: "a") }
        #expect(e?.code == .notFound)
    }

    @Test func interruptedDeleteIsFinishedByTheNextDelete() async throws {
        let f = try await SnapFixture()
        let s = f.snapshots()
        try await s.save(name: "a")
        await f.fake.fail(.deleteSnapshot, vmContaining: "c1-w1", times: 1)
        await #expect(throws: LabError.self) { try await s.delete(name: "a") }
        #expect(try LabSnapshotStore(paths: f.paths).load("a")?.status == .deleting)
        try await s.delete(name: "a")
        for n in SnapshotFixtureNodes.all { #expect(await f.fake.tree(f.vm(n)).isEmpty) }
        #expect(try s.list().isEmpty)
    }

    @Test func deleteRefusesSnapshotsThatLinkedClonesUseAndNamesThem() async throws {
        let f = try await SnapFixture()
        let s = f.snapshots()
        let m = try await s.save(name: "a").manifest
        let uid = try #require(m.node("c1-cp")?.snapshotUID)
        await f.fake.addClone(f.vm("c1-cp"), uid: uid, clone: "/vms/other/other.vmx")
        let e = await #expect(throws: LabError.self) { try await s.delete(name: "a") }
        #expect(e?.code == .conflict)
        #expect(e?.message.contains("/vms/other/other.vmx") == true)
        #expect(await f.fake.calls.filter { $0.hasPrefix("deleteSnapshot") }.isEmpty, "nothing deleted")
        #expect(try LabSnapshotStore(paths: f.paths).load("a")?.status == .complete)

        // The base VM's snapshot that the nodes are linked clones of.
        let base = try #require(f.machines.baseVM)
        let baseSnap = try await f.fake.createSnapshot(base, name: "snapshot#1")
        await f.fake.addClone(base.path, uid: baseSnap.uid, clone: f.vm("c1-w1"))
        let b = await #expect(throws: LabError.self) { try await s.delete(name: "snapshot#1") }
        #expect(b?.code == .conflict)
        #expect(b?.message.contains(f.vm("c1-w1")) == true)
        #expect(await f.fake.tree(base.path).count == 1)
    }

    @Test func checkpointIsIdempotentAndReplacedWhenItsHistoryWasAbandoned() async throws {
        let f = try await SnapFixture()
        try await f.journal(f.nodeStages("node.clone"))
        let s = f.snapshots()
        let first = try await s.checkpoint(name: "snapshot#2")
        #expect(first.created)
        let again = try await s.checkpoint(name: "snapshot#2")
        #expect(!again.created)
        #expect(again.manifest.nodes.map(\.snapshotUID) == first.manifest.nodes.map(\.snapshotUID))
        #expect(await f.fake.tree(f.vm("c1-cp")).count == 1)
        try await f.journal(f.nodeStages("node.identity"))
        let third = try await s.checkpoint(name: "snapshot#3")
        // Restore #2: #3 now belongs to an abandoned history and is retaken by the next checkpoint.
        try await s.restore(name: "snapshot#2")
        #expect(!(try await s.checkpoint(name: "snapshot#2")).created)
        try await f.journal(f.nodeStages("node.identity"))
        let retaken = try await s.checkpoint(name: "snapshot#3")
        #expect(retaken.created && retaken.replaced)
        #expect(retaken.manifest.node("c1-cp")?.snapshotUID != third.manifest.node("c1-cp")?.snapshotUID)
        for n in SnapshotFixtureNodes.all { #expect(await f.fake.tree(f.vm(n)).map(\.name) == ["snapshot#2", "snapshot#3"]) }
    }
}

enum SnapshotFixtureNodes {
    static let all = SnapFixture.topology.nodes
}

@Suite("Destroy")
struct DestroyTests {
    final class Pins: @unchecked Sendable {
        let lock = NSLock()
        var forgotten: [String] = []
        func add(_ s: String) { lock.lock(); forgotten.append(s); lock.unlock() }
    }

    func destroyer(_ f: SnapFixture, pins: Pins) -> LabDestroy {
        LabDestroy(hypervisor: f.fake, machines: f.machines, paths: f.paths, forgetPin: { pins.add($0.node) })
    }

    @Test func destroyClusterTouchesOnlyThatCluster() async throws {
        let f = try await SnapFixture()
        try await f.journal(f.nodeStages("node.clone") + [("cluster.init", .cluster("cluster1")), ("cluster.init", .cluster("cluster2")), ("mesh.trust", .lab)])
        try await f.snapshots().save(name: "all")
        try await f.snapshots().save(name: "c2", selection: .cluster("cluster2"))
        // The mesh CA root lives in the state dir's pki folder: destroy never touches it.
        let root = (f.paths.pki as NSString).appendingPathComponent("root-cert.pem")
        try FileManager.default.createDirectory(atPath: f.paths.pki, withIntermediateDirectories: true)
        try Data("ROOT".utf8).write(to: URL(fileURLWithPath: root))
        await f.fake.resetCalls()
        let pins = Pins()

        let plan = try await destroyer(f, pins: pins).plan(.cluster("cluster2"))
        #expect(plan.items.map(\.node) == ["c2-cp", "c2-w1"])
        #expect(plan.journalEntries == 3)
        #expect(plan.snapshots == ["all", "c2"])

        try await destroyer(f, pins: pins).run(.cluster("cluster2"))
        #expect(await !f.fake.exists(f.vm("c2-cp")))
        #expect(await !f.fake.exists(f.vm("c2-w1")))
        #expect(await f.fake.power(f.vm("c1-cp")) == .on)
        #expect(await f.fake.calls.allSatisfy { $0.contains("/c2-") }, "only cluster2's VMs were touched")
        #expect(await f.fake.calls.filter { $0.hasPrefix("stop") }.count == 2)
        #expect(Set(pins.forgotten) == ["c2-cp", "c2-w1"])
        let left = Set(try f.journalState().entries.map(\.instance.description))
        #expect(left == ["node.clone@c1-cp", "node.clone@c1-w1", "cluster.init@cluster1", "mesh.trust@lab"])
        // Manifests no longer record snapshots that went with the VMs.
        let manifests = try f.snapshots().list()
        #expect(manifests.map(\.name) == ["all"])
        #expect(manifests.first?.nodeNames == ["c1-cp", "c1-w1"])
        #expect(try String(contentsOfFile: root, encoding: .utf8) == "ROOT")
    }

    @Test func destroyRefusesVMsThatAreNotTheLabs() async throws {
        let f = try await SnapFixture()
        var machines = f.machines
        machines.machines[0].vm = VMReference(path: "/elsewhere/c1-cp/c1-cp.vmx")
        let pins = Pins()
        let d = LabDestroy(hypervisor: f.fake, machines: machines, paths: f.paths, forgetPin: { pins.add($0.node) })
        let e = await #expect(throws: LabError.self) { try await d.run(.lab) }
        #expect(e?.code == .security)
        machines.machines[0].vm = try #require(f.machines.baseVM)
        let b = await #expect(throws: LabError.self) {
            try await LabDestroy(hypervisor: f.fake, machines: machines, paths: f.paths).run(.node("c1-cp"))
        }
        #expect(b?.message.contains("base VM") == true)
        // `..` cannot escape the folder either.
        machines.machines[0].vm = VMReference(path: f.machines.vmFolder + "/../x/x.vmx")
        await #expect(throws: LabError.self) { try await LabDestroy(hypervisor: f.fake, machines: machines, paths: f.paths).run(.node("c1-cp")) }
        #expect(await f.fake.calls.isEmpty)
        #expect(pins.forgotten.isEmpty)
    }

    @Test func interruptedDestroyIsCompletedByRunningItAgain() async throws {
        let f = try await SnapFixture()
        try await f.journal(f.nodeStages("node.clone"))
        await f.fake.fail(.delete, vmContaining: "c1-w1", times: 1)
        let pins = Pins()
        await #expect(throws: LabError.self) { try await destroyer(f, pins: pins).run(.lab) }
        // The journal is forgotten last: the failed run left it for the re-run.
        #expect(try f.journalState().entries.count == 4)
        #expect(await f.fake.exists(f.vm("c1-w1")))
        try await destroyer(f, pins: pins).run(.lab)
        for n in SnapshotFixtureNodes.all { #expect(await !f.fake.exists(f.vm(n))) }
        #expect(try f.journalState().entries.isEmpty)
        #expect(await f.fake.exists(f.machines.baseVM?.path ?? ""), "the base VM stays")
    }

    @Test func scopeNames() async throws {
        let f = try await SnapFixture()
        #expect(try f.machines.scope(named: "cluster2") == .cluster("cluster2"))
        #expect(try f.machines.scope(named: "c1-w1") == .node("c1-w1"))
        #expect(try f.machines.scope(named: nil) == .lab)
        #expect(throws: LabError.self) { try f.machines.scope(named: "nope") }
    }
}

@Suite("Node checkpoints as lab snapshots")
struct NodeCheckpointTests {
    @Test func nodesCheckpointInParallelIntoOneLabSnapshot() async throws {
        let f = try await SnapFixture()
        try await f.journal(f.nodeStages("node.verify"))
        let s = f.snapshots()
        try await withThrowingTaskGroup(of: Void.self) { g in
            for n in SnapshotFixtureNodes.all { g.addTask { try await s.checkpoint(name: "snapshot#2", node: n) } }
            try await g.waitForAll()
        }
        let m = try #require(try LabSnapshotStore(paths: f.paths).load("snapshot#2"))
        #expect(m.status == .complete)
        #expect(m.nodeNames == SnapshotFixtureNodes.all)
        #expect(m.origin == "checkpoint")
        for n in SnapshotFixtureNodes.all { #expect(try await s.isCheckpointed(name: "snapshot#2", node: n)) }
        // Idempotent.
        let again = try await s.checkpoint(name: "snapshot#2", node: "c1-cp")
        #expect(!again.created)
        #expect(await f.fake.tree(f.vm("c1-cp")).count == 1)
    }

    @Test func partialCheckpointIsPendingAndRestoreRefusesIt() async throws {
        let f = try await SnapFixture()
        let s = f.snapshots()
        try await s.checkpoint(name: "snapshot#2", node: "c1-cp")
        #expect(try LabSnapshotStore(paths: f.paths).load("snapshot#2")?.status == .complete)
        // Complete for the node it has; a full restore names the nodes it lacks.
        let e = await #expect(throws: LabError.self) { try await s.restore(name: "snapshot#2") }
        #expect(e?.message.contains("c1-w1, c2-cp, c2-w1") == true)
    }

    @Test func killedNodeCheckpointIsRolledBackAndRetaken() async throws {
        let f = try await SnapFixture()
        let s = f.snapshots()
        // Killed after the pending record and the VMware snapshot, before the uid was recorded.
        let store = LabSnapshotStore(paths: f.paths)
        try store.write(LabSnapshotManifest(name: "snapshot#2", status: .pending, taken: Date(), journalPosition: 0, stage: nil,
                                            origin: "checkpoint",
                                            nodes: [.init(node: "c1-w1", cluster: "cluster1", vm: f.vm("c1-w1"), snapshotName: "snapshot#2",
                                                          powerState: .on, journalPosition: 0)]))
        let early = try await f.fake.createSnapshot(VMReference(path: f.vm("c1-w1")), name: "snapshot#2")
        #expect(try await !s.isCheckpointed(name: "snapshot#2", node: "c1-w1"))
        let out = try await s.checkpoint(name: "snapshot#2", node: "c1-w1")
        #expect(out.created && out.replaced)
        let tree = await f.fake.tree(f.vm("c1-w1"))
        #expect(tree.count == 1 && tree.first?.uid != early.uid)
        #expect(try store.load("snapshot#2")?.node("c1-w1")?.snapshotUID == tree.first?.uid)
        // A snapshot of that name that no manifest records is not silently adopted.
        _ = try await f.fake.createSnapshot(VMReference(path: f.vm("c2-cp")), name: "snapshot#2")
        let e = await #expect(throws: LabError.self) { try await s.checkpoint(name: "snapshot#2", node: "c2-cp") }
        #expect(e?.code == .conflict)
    }

    @Test func restoreRewindsEachNodeToItsOwnPosition() async throws {
        let f = try await SnapFixture()
        let s = f.snapshots()
        // c1-cp verified and checkpointed early; the others later.
        try await f.journal([("node.verify", .node("c1-cp"))])
        try await s.checkpoint(name: "snapshot#2", node: "c1-cp")
        try await f.journal([("node.checkpoint", .node("c1-cp"))])
        for n in ["c1-w1", "c2-cp", "c2-w1"] {
            try await f.journal([("node.verify", .node(n))])
            try await s.checkpoint(name: "snapshot#2", node: n)
            try await f.journal([("node.checkpoint", .node(n))])
        }
        try await f.journal([("cluster.init", .cluster("cluster1"))])
        try await s.restore(name: "snapshot#2")
        let left = Set(try f.journalState().entries.map(\.instance.description))
        #expect(left == Set(SnapshotFixtureNodes.all.map { "node.verify@\($0)" }))
        // After the restore, the checkpoints are current: the re-run of node.checkpoint keeps them.
        for n in SnapshotFixtureNodes.all { #expect(try await s.isCheckpointed(name: "snapshot#2", node: n)) }
    }
}
