import Foundation
import Testing
@testable import LabKit

@Suite struct EnginePlanTests {
    private func statuses(_ entries: [PlanEntry]) -> [String: PlanEntry.Status] {
        Dictionary(uniqueKeysWithValues: entries.map { ($0.instance.description, $0.status) })
    }

    @Test func planOnAFreshLabShowsWillRunAndBlockedBy() async throws {
        let r = Recorder()
        let graph = try StageGraph(stages: labStages(r), topology: twoClusters)
        let plan = try await Planner.plan(graph: graph, journal: JournalState())
        #expect(plan.count == 16)
        let s = statuses(plan)
        #expect(s["base.check@lab"] == .willRun(.notDone))
        #expect(s["node.clone@cluster1-worker1"] == .blockedBy([StageInstanceID("base.check", .lab)]))
        #expect(s["mesh.trust@lab"] == .blockedBy([StageInstanceID("cluster.init", .cluster("cluster1")), StageInstanceID("cluster.init", .cluster("cluster2"))]))
        #expect(await r.actions.isEmpty)
    }

    @Test func planAfterAFailureMatchesWhatUpThenDoes() async throws {
        let r = Recorder()
        let dir = try temporaryDirectory()
        let bad = StageInstanceID("node.identity", .node("cluster2-worker1"))
        await r.setFailing([bad])
        _ = try await engine(labStages(r), dir: dir).run()
        await r.setFailing([])
        let journalPath = LabPaths(root: dir).journal
        let before = try Data(contentsOf: URL(fileURLWithPath: journalPath))
        await r.resetCounts()

        let graph = try StageGraph(stages: labStages(r), topology: twoClusters)
        let plan = try await Planner.plan(graph: graph, journal: try Journal.load(path: journalPath))
        #expect(await r.actions.isEmpty, "plan runs no action")
        #expect(try Data(contentsOf: URL(fileURLWithPath: journalPath)) == before, "plan writes nothing")
        let s = statuses(plan)
        #expect(s["base.check@lab"] == .done)
        #expect(s["node.clone@cluster2-worker1"] == .done)
        #expect(s[bad.description] == .willRun(.failedBefore))
        #expect(s["node.checkpoint@cluster2-worker1"] == .blockedBy([bad]))

        // `up` then runs exactly what plan said would run.
        let willRun = Set(plan.filter { $0.status != .done }.map(\.instance))
        let summary = try await engine(labStages(r), dir: dir).run()
        #expect(Set(summary.ran) == willRun)
    }

    @Test func labRunHoldsTheLockWritesLogsAndTimings() async throws {
        let dir = try temporaryDirectory()
        let paths = LabPaths(root: dir)
        let topology = LabTopology(clusters: [.init(name: "c1", nodes: ["c1-cp"])])
        let gate = Gate()
        let stages = [
            Stage(id: "node.clone", scope: .node, action: { ctx in
                ctx.log("cloning \(ctx.scope.name)")
                await gate.arrive()
                await gate.waitOpen()
            }),
            Stage(id: "mesh.trust", scope: .lab, dependencies: [.init("node.clone", .allNodes)], action: { ctx in ctx.log("trusted") }),
        ]
        let first = Task { try await LabRun.run(stages: stages, topology: topology, paths: paths) { _ in } }
        await gate.waitArrived()
        // A second labctl on the same lab is refused while the first runs.
        let refused = await #expect(throws: LabError.self) {
            _ = try await LabRun.run(stages: stages, topology: topology, paths: paths) { _ in }
        }
        #expect(refused?.code == .conflict)
        #expect(refused?.message.contains("PID \(getpid())") == true)
        await gate.open()
        let summary = try await first.value
        #expect(summary.outcome == .succeeded)
        let nodeLog = try String(contentsOfFile: paths.log(node: "c1-cp"), encoding: .utf8)
        #expect(nodeLog.hasSuffix(" node.clone: cloning c1-cp\n"))
        let hostLog = try String(contentsOfFile: (paths.logs as NSString).appendingPathComponent("host.log"), encoding: .utf8)
        #expect(hostLog.hasSuffix(" mesh.trust@lab: trusted\n"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: paths.timings).count == 1)
        // The lock is free again.
        try LabLock.acquire(path: paths.lock).release()
    }
}

/// A one-shot rendezvous for tests, without sleeps.
actor Gate {
    private var arrived = false
    private var isOpen = false
    private var arrivalWaiters: [CheckedContinuation<Void, Never>] = []
    private var openWaiters: [CheckedContinuation<Void, Never>] = []

    func arrive() {
        arrived = true
        arrivalWaiters.forEach { $0.resume() }
        arrivalWaiters = []
    }
    func waitArrived() async {
        if arrived { return }
        await withCheckedContinuation { arrivalWaiters.append($0) }
    }
    func open() {
        isOpen = true
        openWaiters.forEach { $0.resume() }
        openWaiters = []
    }
    /// For a waiter that must stay cancellable (a stage deadline): poll this with `Task.sleep`.
    var opened: Bool { isOpen }
    func waitOpen() async {
        if isOpen { return }
        await withCheckedContinuation { openWaiters.append($0) }
    }
}
