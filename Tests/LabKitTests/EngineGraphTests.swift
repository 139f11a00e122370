import Foundation
import Testing
@testable import LabKit

@Suite struct EngineGraphTests {
    @Test func expandsPerScopeAndResolvesRelations() throws {
        let r = Recorder()
        let graph = try StageGraph(stages: labStages(r), topology: twoClusters)
        // 1 base + 3×4 node + 2 cluster + 1 mesh
        #expect(graph.count == 16)
        let c2init = StageInstanceID("cluster.init", .cluster("cluster2"))
        #expect(graph.dependencies(of: c2init) == [
            StageInstanceID("node.checkpoint", .node("cluster2-ctrl-plane")),
            StageInstanceID("node.checkpoint", .node("cluster2-worker1")),
        ])
        #expect(graph.dependencies(of: StageInstanceID("mesh.trust", .lab)) == [
            StageInstanceID("cluster.init", .cluster("cluster1")), StageInstanceID("cluster.init", .cluster("cluster2")),
        ])
        #expect(graph.dependencies(of: StageInstanceID("node.identity", .node("cluster1-worker1")))
            == [StageInstanceID("node.clone", .node("cluster1-worker1"))])
        #expect(StageInstanceID("node.clone", .node("cluster1-ctrl-plane")).description == "node.clone@cluster1-ctrl-plane")
        // Topological order: every dependency comes first.
        let index = Dictionary(uniqueKeysWithValues: graph.order.enumerated().map { ($1, $0) })
        for id in graph.order {
            for d in graph.dependencies(of: id) { #expect((index[d] ?? 99) < (index[id] ?? -1), "\(d) before \(id)") }
        }
    }

    @Test func detectsCycles() throws {
        let r = Recorder()
        let stages = [
            fakeStage("a", .node, deps: [.init("c")], recorder: r),
            fakeStage("b", .node, deps: [.init("a")], recorder: r),
            fakeStage("c", .node, deps: [.init("b")], recorder: r),
        ]
        let error = #expect(throws: LabError.self) { try StageGraph(stages: stages, topology: twoClusters) }
        #expect(error?.message.contains("cycle") == true)
        #expect(error?.message.contains("a@") == true && error?.message.contains("b@") == true && error?.message.contains("c@") == true)
    }

    @Test func rejectsUnknownDependenciesAndBadRelations() throws {
        let r = Recorder()
        let unknown = #expect(throws: LabError.self) {
            try StageGraph(stages: [fakeStage("a", .node, deps: [.init("nope")], recorder: r)], topology: twoClusters)
        }
        #expect(unknown?.message == "stage a depends on unknown stage nope")
        let bad = #expect(throws: LabError.self) {
            try StageGraph(stages: [fakeStage("c", .cluster, recorder: r), fakeStage("l", .lab, deps: [.init("c", .ownCluster)], recorder: r)],
                           topology: twoClusters)
        }
        #expect(bad?.message.contains("no cluster of its own") == true)
        let dup = #expect(throws: LabError.self) {
            try StageGraph(stages: [fakeStage("a", .lab, recorder: r), fakeStage("a", .lab, recorder: r)], topology: twoClusters)
        }
        #expect(dup?.message.contains("defined twice") == true)
    }

    @Test func appliesRestrictsScopes() throws {
        let r = Recorder()
        var cp = fakeStage("cp.only", .node, recorder: r)
        cp.applies = { scope, _ in scope.name.hasSuffix("ctrl-plane") }
        let all = fakeStage("after", .cluster, deps: [.init("cp.only", .nodesOfCluster)], recorder: r)
        let graph = try StageGraph(stages: [cp, all], topology: twoClusters)
        #expect(graph.instances(ofStage: "cp.only").map(\.scope.name) == ["cluster1-ctrl-plane", "cluster2-ctrl-plane"])
        #expect(graph.dependencies(of: StageInstanceID("after", .cluster("cluster1"))) == [StageInstanceID("cp.only", .node("cluster1-ctrl-plane"))])
    }

    @Test func scopeKeysRoundTrip() throws {
        for scope in [StageScope.lab, .cluster("c1"), .node("n-1")] {
            let data = try JSONEncoder().encode(scope)
            #expect(try JSONDecoder().decode(StageScope.self, from: data) == scope)
        }
        #expect(twoClusters.scopes(within: .cluster("cluster2")) == [.cluster("cluster2"), .node("cluster2-ctrl-plane"), .node("cluster2-worker1")])
    }
}

@Suite struct EngineFormatTests {
    /// The one duration format: progress lines, summaries and deadlines in error messages.
    @Test func durationsReadNaturally() {
        #expect(formatDuration(.milliseconds(250)) == "250ms")
        #expect(formatDuration(.zero) == "0ms")
        #expect(formatDuration(.seconds(2)) == "2.0s")
        #expect(formatDuration(.milliseconds(1500)) == "1.5s")
        #expect(formatDuration(.seconds(42)) == "42s")
        #expect(formatDuration(.seconds(65)) == "1m05s")
        #expect(formatDuration(.seconds(600)) == "10m00s")
        #expect(formatDuration(.seconds(3725)) == "1h02m")
        #expect(formatDuration(.seconds(-1)) == "0ms")
    }

    /// Rebuilding one worker re-runs its own stages and what depends on it, not the cluster's
    /// `init` when `init` depends on the control plane only.
    @Test func preciseDependenciesKeepARebuildNarrow() async throws {
        let r = Recorder()
        var init_ = fakeStage("cluster.init", .cluster, deps: [.init("node.cp-ready", .nodesOfCluster)], recorder: r)
        init_.applies = nil
        var cpReady = fakeStage("node.cp-ready", .node, deps: [.init("node.clone")], recorder: r)
        cpReady.applies = { scope, _ in scope.name.hasSuffix("ctrl-plane") }
        let stages = [
            fakeStage("node.clone", .node, recorder: r), cpReady, init_,
            fakeStage("node.join", .node, deps: [.init("node.clone"), .init("cluster.init", .ownCluster)], recorder: r),
        ]
        let dir = try temporaryDirectory()
        _ = try await engine(stages, dir: dir).run()
        let journal = try Journal(path: LabPaths(root: dir).journal)
        try await journal.forget(scope: .node("cluster1-worker1"), topology: twoClusters)
        await r.set(StageInstanceID("node.clone", .node("cluster1-worker1")), present: false)
        await r.set(StageInstanceID("node.join", .node("cluster1-worker1")), present: false)
        await r.resetCounts()
        _ = try await engine(stages, dir: dir).run()
        #expect(await r.actions.sorted() == [
            StageInstanceID("node.clone", .node("cluster1-worker1")), StageInstanceID("node.join", .node("cluster1-worker1")),
        ])
    }
}
