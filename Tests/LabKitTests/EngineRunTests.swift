import Foundation
import Testing
@testable import LabKit

@Suite struct EngineRunTests {
    private func id(_ stage: String, _ node: String) -> StageInstanceID { StageInstanceID(stage, .node(node)) }

    @Test func respectsDependencyOrderAndRunsEverythingOnce() async throws {
        let r = Recorder()
        let dir = try temporaryDirectory()
        let e = try engine(labStages(r), dir: dir)
        let summary = try await e.run()
        #expect(summary.outcome == .succeeded)
        #expect(summary.ran.count == 16)
        #expect(await r.actions.count == 16)
        #expect(Set(await r.actions).count == 16)
        let starts = await r.startTick
        let ends = await r.endTick
        for inst in e.graph.order {
            for d in e.graph.dependencies(of: inst) {
                let end = try #require(ends[d])
                let start = try #require(starts[inst])
                #expect(end < start, "\(d) must finish before \(inst) starts")
            }
        }
    }

    @Test func perNodeWorkRunsInParallelWithinTheBound() async throws {
        // Ten nodes, one node stage each taking 150 ms.
        let topology = LabTopology(clusters: [
            .init(name: "c1", nodes: (1...5).map { "c1-n\($0)" }), .init(name: "c2", nodes: (1...5).map { "c2-n\($0)" }),
        ])
        let r = Recorder()
        let stage = [fakeStage("node.clone", .node, work: .milliseconds(150), recorder: r)]
        let wide = try engine(stage, topology: topology, dir: try temporaryDirectory(), options: EngineOptions(maxConcurrency: 16))
        _ = try await wide.run()
        // All ten actions were in flight together: the per-node work overlapped. (Wall time is
        // not asserted here: the host is shared and journal fsyncs vary; the testbed benchmark
        // measures it.)
        #expect(await r.maxInFlight == 10)
        let starts = await r.startTick.values
        let ends = await r.endTick.values
        #expect((starts.max() ?? 0) < (ends.min() ?? 0), "every clone started before the first one finished")

        let r2 = Recorder()
        let narrow = try engine([fakeStage("node.clone", .node, work: .milliseconds(50), recorder: r2)], topology: topology,
                                dir: try temporaryDirectory(), options: EngineOptions(maxConcurrency: 3))
        let s = try await narrow.run()
        #expect(s.ran.count == 10)
        #expect(await r2.maxInFlight == 3)
    }

    @Test func sharedResourcesSerializeJustThatPart() async throws {
        let r = Recorder()
        let events = EventLog()
        let stages = [
            fakeStage("node.clone", .node, resources: ["base-vm"], work: .milliseconds(40), recorder: r),
            fakeStage("node.identity", .node, deps: [.init("node.clone")], work: .milliseconds(80), recorder: r),
        ]
        let e = try engine(stages, dir: try temporaryDirectory(), events: events)
        let s = try await e.run()
        #expect(s.outcome == .succeeded)
        #expect(await r.maxByResource["base-vm"] == 1)
        // The identity stages do not hold the resource, so they overlap with clones of other nodes.
        #expect(await r.maxInFlight >= 2)
        let waits = events.events.compactMap { ev -> String? in
            if case .waiting(_, let requirement, let hint) = ev { return "\(requirement) \(hint ?? "")" }
            return nil
        }
        #expect(waits.count == 3)
        #expect(waits.allSatisfy { $0.hasPrefix("base-vm held by node.clone@") })
    }

    @Test("Pipelined clones: a node starts as soon as its own clone is done, while the next clone runs")
    func nodeStartsWhileTheNextCloneRuns() async throws {
        // Clones share base-vm (one at a time); node.start depends on its own clone only. The second
        // clone waits until node 1's start has begun: if starts waited for every clone (no
        // pipelining), that clone would hit its deadline and the run would fail. Order, not time.
        let topology = LabTopology(clusters: [.init(name: "c", nodes: ["n1", "n2", "n3"])])
        let r = Recorder()
        let firstStart = Gate()
        let clone = Stage(id: "node.clone", scope: .node, resources: ["base-vm"], deadline: .seconds(20),
                          probe: { _ in .notDone },
                          action: { ctx in
                              await r.begin(ctx.instance, resources: ["base-vm"])
                              if ctx.scope.name == "n2" {
                                  while !(await firstStart.opened) { try await Task.sleep(for: .milliseconds(10)) }
                              }
                              await r.end(ctx.instance, resources: ["base-vm"], success: true)
                          })
        let start = Stage(id: "node.start", scope: .node, dependencies: [.init("node.clone")], deadline: .seconds(20),
                          probe: { _ in .notDone },
                          action: { ctx in
                              await r.begin(ctx.instance, resources: [])
                              if ctx.scope.name == "n1" { await firstStart.open() }
                              await r.end(ctx.instance, resources: [], success: true)
                          })
        let s = try await engine([clone, start], topology: topology, dir: try temporaryDirectory()).run()
        #expect(s.outcome == .succeeded)
        #expect(await r.maxByResource["base-vm"] == 1)
        let starts = await r.startTick, ends = await r.endTick
        let n1Start = try #require(starts[id("node.start", "n1")])
        #expect(n1Start < (ends[id("node.clone", "n2")] ?? 0), "node 1 started before the second clone ended")
        #expect(n1Start < (starts[id("node.clone", "n3")] ?? 0), "node 1 started before the third clone began")
        for n in ["n1", "n2", "n3"] {
            #expect((ends[id("node.clone", n)] ?? .max) < (starts[id("node.start", n)] ?? 0), "\(n): its clone before its start")
        }
    }

    @Test func deadlineCancelsTheActionAndNamesTheStage() async throws {
        let r = Recorder()
        let hang = fakeStage("node.first-contact", .node, deadline: .milliseconds(200), work: .seconds(30), recorder: r)
        let e = try engine([hang], topology: LabTopology(clusters: [.init(name: "c", nodes: ["c-n1"])]), dir: try temporaryDirectory())
        let clock = ContinuousClock()
        var summary: RunSummary?
        let elapsed = try await clock.measure { summary = try await e.run() }
        let s = try #require(summary)
        #expect(elapsed < .seconds(3))
        #expect(s.outcome == .failed)
        let failure = try #require(s.failures.first)
        #expect(failure.error.code == .timeout)
        #expect(failure.error.message == "stage node.first-contact on c-n1 did not finish within 200ms")
        #expect(failure.error.location?.description == "stage node.first-contact@c-n1")
        #expect(s.error?.exitCode == 5)
        // The action saw the cancellation (it ended, unsuccessfully).
        try await Task.sleep(for: .milliseconds(100))
        #expect(await r.inFlight == 0)
        let journal = try Journal.load(path: e.journal.path)
        #expect(journal.entry(for: failure.instance)?.outcome == .failed)
    }

    @Test func reRunAfterSuccessRunsNoAction() async throws {
        let r = Recorder()
        let dir = try temporaryDirectory()
        _ = try await engine(labStages(r), dir: dir).run()
        await r.resetCounts()
        let events = EventLog()
        let s = try await engine(labStages(r), dir: dir, events: events).run()
        #expect(s.outcome == .succeeded)
        #expect(await r.actions.isEmpty)
        #expect(s.skipped.count == 16)
        #expect(events.warnings.isEmpty)
        let skips = events.events.filter { if case .stageSkipped(_, .done) = $0 { return true } else { return false } }
        #expect(skips.count == 16)
    }

    @Test func failureStopsThenReRunResumesFromTheFailedStage() async throws {
        let r = Recorder()
        let dir = try temporaryDirectory()
        let bad = id("node.identity", "cluster1-worker1")
        await r.setFailing([bad])
        let events = EventLog()
        let first = try await engine(labStages(r), dir: dir, events: events).run()
        #expect(first.outcome == .failed)
        #expect(first.failures.map(\.instance) == [bad])
        #expect(first.failures.first?.lastLogLines == ["did \(bad)"])
        #expect(first.error?.message == "injected failure in \(bad)")
        // Nothing that depends on the failed instance started.
        #expect(!first.ran.contains(id("node.checkpoint", "cluster1-worker1")))
        #expect(first.ran.contains { $0.stage == "mesh.trust" } == false)
        #expect(!first.notReached.isEmpty)
        let failedEvents = events.events.filter { if case .stageFailed = $0 { return true } else { return false } }
        #expect(failedEvents.count == 1)

        let ranFirst = Set(first.ran)
        await r.setFailing([])
        await r.resetCounts()
        let second = try await engine(labStages(r), dir: dir).run()
        #expect(second.outcome == .succeeded)
        let rerun = await r.actions
        #expect(rerun.contains(bad))
        #expect(Set(rerun).isDisjoint(with: ranFirst), "done stages never run twice")
        #expect(Set(rerun).union(ranFirst).count == 16)
        // A third run does nothing.
        await r.resetCounts()
        _ = try await engine(labStages(r), dir: dir).run()
        #expect(await r.actions.isEmpty)
    }

    @Test func probeDisagreementReRunsWithAWarning() async throws {
        let r = Recorder()
        let dir = try temporaryDirectory()
        _ = try await engine(labStages(r), dir: dir).run()
        await r.set(id("node.clone", "cluster1-worker1"), present: false)  // someone deleted the VM
        await r.resetCounts()
        let events = EventLog()
        let s = try await engine(labStages(r), dir: dir, events: events).run()
        #expect(s.outcome == .succeeded)
        #expect(Set(await r.actions) == [
            id("node.clone", "cluster1-worker1"), id("node.identity", "cluster1-worker1"), id("node.checkpoint", "cluster1-worker1"),
            StageInstanceID("cluster.init", .cluster("cluster1")), StageInstanceID("mesh.trust", .lab),
        ])
        #expect(events.warnings == ["node.clone@cluster1-worker1 is journaled done but the system says otherwise; running it again"])
    }

    @Test func adoptsWhatTheProbeFindsDone() async throws {
        let r = Recorder()
        let dir = try temporaryDirectory()
        let graph = try StageGraph(stages: labStages(r), topology: twoClusters)
        for inst in graph.order { await r.set(inst, present: true) }
        let s = try await engine(labStages(r), dir: dir).run()
        #expect(s.outcome == .succeeded)
        #expect(await r.actions.isEmpty)
        let journal = try Journal.load(path: LabPaths(root: dir).journal)
        #expect(journal.entries.count == 16)
        #expect(journal.entries.allSatisfy { $0.outcome == .done && $0.adopted == true })
    }

    @Test func fromAndOnlySelectExactlyTheirInstances() async throws {
        let r = Recorder()
        let dir = try temporaryDirectory()
        _ = try await engine(labStages(r), dir: dir).run()

        await r.resetCounts()
        let from = try await engine(labStages(r), dir: dir,
                                    options: EngineOptions(selection: .from(stage: "node.identity", scope: .node("cluster2-worker1")))).run()
        #expect(from.outcome == .succeeded)
        #expect(await r.actions.sorted() == [
            StageInstanceID("cluster.init", .cluster("cluster2")), StageInstanceID("mesh.trust", .lab),
            id("node.checkpoint", "cluster2-worker1"), id("node.identity", "cluster2-worker1"),
        ])

        await r.resetCounts()
        _ = try await engine(labStages(r), dir: dir, options: EngineOptions(selection: .only(stage: "node.checkpoint", scope: nil))).run()
        #expect(await r.actions.sorted() == twoClusters.nodes.map { id("node.checkpoint", $0) }.sorted())

        // --only refuses when a dependency is not done.
        let fresh = try temporaryDirectory()
        let blocked = await #expect(throws: LabError.self) {
            _ = try await engine(labStages(r), dir: fresh, options: EngineOptions(selection: .only(stage: "node.identity", scope: .node("cluster1-worker1")))).run()
        }
        #expect(blocked?.code == .conflict)
        #expect(blocked?.location?.description == "node.identity@cluster1-worker1 is blocked by node.clone@cluster1-worker1")

        let unknown = await #expect(throws: LabError.self) {
            _ = try await engine(labStages(r), dir: dir, options: EngineOptions(selection: .from(stage: "node.nope", scope: nil))).run()
        }
        #expect(unknown?.code == .invalidInput)
    }

    /// `--to node.checkpoint`: the stage and what it needs run; nothing after it is considered,
    /// and a later plain run picks up from there.
    @Test func upToRunsTheStageAndItsDependenciesOnly() async throws {
        let r = Recorder()
        let dir = try temporaryDirectory()
        let first = try await engine(labStages(r), dir: dir, options: EngineOptions(selection: .upTo(stage: "node.checkpoint", scope: nil))).run()
        #expect(first.outcome == .succeeded)
        let ran = Set(await r.actions.map(\.stage))
        #expect(ran == ["base.check", "node.clone", "node.identity", "node.checkpoint"])
        #expect(await r.actions.count == 1 + 3 * twoClusters.nodes.count)

        await r.resetCounts()
        _ = try await engine(labStages(r), dir: dir).run()
        #expect(await r.actions.sorted() == [
            StageInstanceID("cluster.init", .cluster("cluster1")), StageInstanceID("cluster.init", .cluster("cluster2")),
            StageInstanceID("mesh.trust", .lab),
        ])
    }

    /// `labctl rebuild cluster2`: forget cluster2's scope, destroy its VMs, run again.
    @Test func rebuildOfOneClusterReRunsExactlyItsScopeAndDependentLabStages() async throws {
        let r = Recorder()
        let dir = try temporaryDirectory()
        _ = try await engine(labStages(r), dir: dir).run()
        let journal = try Journal(path: LabPaths(root: dir).journal)
        let removed = try await journal.forget(scope: .cluster("cluster2"), topology: twoClusters)
        #expect(removed.count == 7)  // 3 stages × 2 nodes + cluster.init@cluster2
        let graph = try StageGraph(stages: labStages(r), topology: twoClusters)
        for inst in graph.order where twoClusters.scopes(within: .cluster("cluster2")).contains(inst.scope) {
            await r.set(inst, present: false)  // the VMs are gone
        }
        await r.resetCounts()
        let s = try await engine(labStages(r), dir: dir).run()
        #expect(s.outcome == .succeeded)
        let expected = Set(graph.order.filter { twoClusters.scopes(within: .cluster("cluster2")).contains($0.scope) })
            .union([StageInstanceID("mesh.trust", .lab)])
        #expect(Set(await r.actions) == expected)
        #expect(await r.actions.count == 8)
    }

    /// A crash after cluster2's stages re-ran but before the lab stage did: the lab stage is
    /// still journaled done (from before), yet the next `up` re-runs it, because its
    /// dependencies are newer in the journal.
    @Test func rebuildSurvivesACrashBeforeTheLabStage() async throws {
        let r = Recorder()
        let dir = try temporaryDirectory()
        _ = try await engine(labStages(r), dir: dir).run()
        let journal = try Journal(path: LabPaths(root: dir).journal)
        try await journal.forget(scope: .cluster("cluster2"), topology: twoClusters)
        let graph = try StageGraph(stages: labStages(r), topology: twoClusters)
        let c2 = graph.order.filter { twoClusters.scopes(within: .cluster("cluster2")).contains($0.scope) }
        for inst in c2 { await r.set(inst, present: false) }
        for inst in c2 {
            _ = try await engine(labStages(r), dir: dir, options: EngineOptions(selection: .only(stage: inst.stage, scope: inst.scope))).run()
        }
        await r.resetCounts()
        _ = try await engine(labStages(r), dir: dir).run()
        #expect(await r.actions == [StageInstanceID("mesh.trust", .lab)])
    }

    @Test func cancellationStopsPromptlyAndLeavesAConsistentJournal() async throws {
        let r = Recorder()
        let dir = try temporaryDirectory()
        let stages = [
            fakeStage("node.clone", .node, work: .milliseconds(10), recorder: r),
            fakeStage("node.identity", .node, deps: [.init("node.clone")], work: .seconds(60), recorder: r),
        ]
        let e = try engine(stages, dir: dir)
        let task = Task { try await e.run() }
        // Wait (bounded) until the long stages are running.
        for _ in 0..<200 where await r.count("node.identity") < 4 { try await Task.sleep(for: .milliseconds(10)) }
        #expect(await r.count("node.identity") == 4)
        let clock = ContinuousClock()
        let start = clock.now
        task.cancel()
        let summary = try await task.value
        #expect(clock.now - start < .seconds(2))
        #expect(summary.outcome == .cancelled)
        #expect(summary.error?.code == .cancelled)
        let journal = try Journal.load(path: LabPaths(root: dir).journal)
        #expect(journal.entries.filter { $0.stage == "node.clone" && $0.outcome == .done }.count == 4)
        #expect(journal.entries.filter { $0.stage == "node.identity" && $0.outcome == .failed }.count == 4)
    }

    @Test func writesATimingsFilePerRun() async throws {
        let r = Recorder()
        let dir = try temporaryDirectory()
        let paths = LabPaths(root: dir)
        let options = EngineOptions(timingsDirectory: paths.timings)
        _ = try await engine(labStages(r), dir: dir, options: options).run()
        try await Task.sleep(for: .milliseconds(5))
        _ = try await engine(labStages(r), dir: dir, options: options).run()
        let files = try FileManager.default.contentsOfDirectory(atPath: paths.timings).filter { $0.hasSuffix(".json") }.sorted()
        #expect(files.count == 2)
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        let first = try decoder.decode(Timings.self, from: Data(contentsOf: URL(fileURLWithPath: (paths.timings as NSString).appendingPathComponent(files[0]))))
        #expect(first.stages.count == 16)
        #expect(first.stages["node.clone@cluster1-ctrl-plane"].map { $0 >= 0.02 } == true)
        #expect(first.total >= 0.06)  // at least base → clone → identity → checkpoint → init → mesh in a row
        #expect(first.outcome == "succeeded")
    }

    @Test func eventStreamDeliversEveryEventAndEnds() async throws {
        let r = Recorder()
        let (stream, handler) = StageEngine.eventStream()
        let graph = try StageGraph(stages: labStages(r), topology: twoClusters)
        let e = StageEngine(graph: graph, journal: try Journal(path: LabPaths(root: try temporaryDirectory()).journal), onEvent: handler)
        async let summary = e.run()
        var started = 0, finished = 0, last: String = ""
        for await event in stream {
            switch event {
            case .stageStarted: started += 1
            case .stageFinished: finished += 1
            case .runFinished: last = "finished"
            default: break
            }
        }
        #expect(try await summary.outcome == .succeeded)
        #expect(started == 16 && finished == 16 && last == "finished")
    }
}

@Suite struct EngineRetryTests {
    actor Flaky {
        var calls = 0
        func call() -> Int { calls += 1; return calls }
    }

    @Test func transientFailureIsRetriedWithinBounds() async throws {
        let flaky = Flaky()
        let events = EventLog()
        let stage = Stage(id: "node.start", scope: .node, retry: RetryPolicy(attempts: 3, delay: .milliseconds(10))) { _ in
            if await flaky.call() < 3 { throw LabError(.commandFailed, "vmrun: the operation is not supported in the current state") }
        }
        let topology = LabTopology(clusters: [.init(name: "c", nodes: ["c-n1"])])
        let s = try await engine([stage], topology: topology, dir: try temporaryDirectory(), events: events).run()
        #expect(s.outcome == .succeeded)
        #expect(await flaky.calls == 3)
        #expect(events.warnings == [
            "node.start@c-n1 failed (vmrun: the operation is not supported in the current state); retrying in 10ms (attempt 2 of 3)",
            "node.start@c-n1 failed (vmrun: the operation is not supported in the current state); retrying in 20ms (attempt 3 of 3)",
        ])
    }

    @Test func retriesAreBoundedAndSkipNonTransientErrors() async throws {
        let flaky = Flaky()
        let always = Stage(id: "node.start", scope: .node, retry: RetryPolicy(attempts: 2, delay: .milliseconds(1))) { _ in
            _ = await flaky.call()
            throw LabError(.connection, "no route")
        }
        let topology = LabTopology(clusters: [.init(name: "c", nodes: ["c-n1"])])
        let s = try await engine([always], topology: topology, dir: try temporaryDirectory()).run()
        #expect(s.outcome == .failed)
        #expect(await flaky.calls == 2)

        let other = Flaky()
        let security = Stage(id: "node.pin", scope: .node, retry: RetryPolicy(attempts: 5, delay: .milliseconds(1))) { _ in
            _ = await other.call()
            throw LabError(.security, "host key changed")
        }
        let s2 = try await engine([security], topology: topology, dir: try temporaryDirectory()).run()
        #expect(s2.failures.first?.error.code == .security)
        #expect(await other.calls == 1)
    }
}

@Suite struct EngineContextTests {
    @Test func stagesReportWaitsAndWarningsThroughTheirContext() async throws {
        let events = EventLog()
        let stage = Stage(id: "node.first-contact", scope: .node) { ctx in
            ctx.waiting(for: "SSH on 10.213.64.10", hint: "is the VM on VMnet8?")
            ctx.warn("the base answers on its static address")
            ctx.log("connected")
        }
        let topology = LabTopology(clusters: [.init(name: "c", nodes: ["c-n1"])])
        let s = try await engine([stage], topology: topology, dir: try temporaryDirectory(), events: events).run()
        #expect(s.outcome == .succeeded)
        let waits = events.events.compactMap { e -> String? in
            if case .waiting(let id, let req, let hint) = e { return "\(id) \(req) \(hint ?? "")" } else { return nil }
        }
        #expect(waits == ["node.first-contact@c-n1 SSH on 10.213.64.10 is the VM on VMnet8?"])
        #expect(events.warnings == ["node.first-contact@c-n1: the base answers on its static address"])
        let logs = events.events.compactMap { e -> String? in if case .log(_, let l) = e { return l } else { return nil } }
        #expect(logs == ["connected"])
    }
}
