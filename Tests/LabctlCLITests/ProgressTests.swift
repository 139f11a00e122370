import Foundation
import Testing
import LabKit
@testable import LabctlCLI

/// Collects renderer output.
/// A clock the test moves by hand.
final class FakeClock: @unchecked Sendable {
    private let lock = NSLock()
    private var current: Duration = .zero
    func set(_ d: Duration) { lock.lock(); current = d; lock.unlock() }
    var now: @Sendable () -> Duration { { self.lock.lock(); defer { self.lock.unlock() }; return self.current } }
}

enum Script {
    static let clone1 = StageInstanceID("node.clone", .node("c1-cp"))
    static let clone2 = StageInstanceID("node.clone", .node("c1-w1"))
    static let identity1 = StageInstanceID("node.identity", .node("c1-cp"))
    static let checkpoint1 = StageInstanceID("node.checkpoint", .node("c1-cp"))
    static let failure = LabError(.timeout, "stage node.identity on c1-cp did not finish within 2s",
                                  location: .stage("node.identity@c1-cp"),
                                  hint: "look at the log of c1-cp (`labctl logs c1-cp`), then run `labctl up` again")

    /// A run: one skip, one success, a resource wait, a warning, logs, and a timeout.
    static func play(into renderer: any ProgressRenderer, clock: FakeClock) {
        renderer.handle(.runStarted(instances: [clone1, clone2, identity1, checkpoint1]))
        renderer.handle(.stageSkipped(clone2, reason: .done))
        clock.set(.seconds(0))
        renderer.handle(.stageStarted(clone1))
        renderer.handle(.waiting(identity1, requirement: "base-vm", hint: "held by node.clone@c1-cp"))
        renderer.handle(.log(.node("c1-cp"), line: "vmrun clone linked"))
        clock.set(.milliseconds(1500))
        renderer.handle(.stageFinished(clone1, duration: .milliseconds(1500)))
        renderer.handle(.warning("the base VM has 2 snapshots named snapshot#1"))
        clock.set(.seconds(2))
        renderer.handle(.stageStarted(identity1))
        renderer.handle(.log(.node("c1-cp"), line: "writing /etc/hosts"))
        clock.set(.milliseconds(4250))
        renderer.handle(.stageFailed(identity1, error: failure, lastLogLines: ["writing /etc/hosts", "setting hostname"]))
        renderer.handle(.runFinished(RunSummary(
            outcome: .failed, ran: [clone1], skipped: [clone2],
            failures: [StageFailure(instance: identity1, error: failure, lastLogLines: ["writing /etc/hosts", "setting hostname"])],
            notReached: [checkpoint1], duration: .milliseconds(4300), durations: [clone1: .milliseconds(1500), identity1: .milliseconds(2250)])))
        renderer.finish()
    }
}

@Suite struct ProgressTests {
    @Test func modeResolution() {
        #expect(ProgressOptions.resolve(.auto, isTTY: true, environment: [:]) == .tty)
        #expect(ProgressOptions.resolve(.auto, isTTY: false, environment: [:]) == .plain)
        #expect(ProgressOptions.resolve(.auto, isTTY: true, environment: ["CI": "true"]) == .plain)
        #expect(ProgressOptions.resolve(.auto, isTTY: true, environment: ["TERM": "dumb"]) == .plain)
        #expect(ProgressOptions.resolve(.json, isTTY: true, environment: [:]) == .json)
        #expect(ProgressOptions.resolve(.tty, isTTY: false, environment: ["CI": "1"]) == .tty)
        #expect(throws: Never.self) { _ = try ProgressOptions.parse(["--progress", "json"]) }
        #expect(throws: (any Error).self) { _ = try ProgressOptions.parse(["--progress", "fancy"]) }
    }

    @Test func plainGolden() {
        let buffer = OutputBuffer()
        let clock = FakeClock()
        Script.play(into: PlainProgressRenderer(output: buffer.output, resumeCommand: "labctl up --lab lab.json", clock: clock.now), clock: clock)
        #expect(buffer.value == Golden.plain)
        #expect(!buffer.value.contains("\u{1B}"))
    }

    @Test func jsonGolden() throws {
        let buffer = OutputBuffer()
        let clock = FakeClock()
        Script.play(into: JSONProgressRenderer(output: buffer.output, resumeCommand: "labctl up --lab lab.json"), clock: clock)
        #expect(buffer.value == Golden.json)
        // Every line is a JSON object on its own.
        for line in buffer.value.split(separator: "\n") {
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            #expect(object?["event"] is String)
        }
    }

    @Test func ttyRedrawsRunningLinesAndRestoresTheCursor() {
        let buffer = OutputBuffer()
        let clock = FakeClock()
        let tty = TTYProgressRenderer(output: buffer.output, resumeCommand: "labctl up --lab lab.json", clock: clock.now, tick: nil,
                                      columns: { nil })
        Script.play(into: tty, clock: clock)
        let out = buffer.value
        #expect(out.hasPrefix("\u{1B}[?25l"))
        #expect(out.hasSuffix("\u{1B}[?25h"))
        // The running line of clone1, with its last log line, is drawn and then erased for the ✓ line.
        #expect(out.contains("node.clone@c1-cp 0ms"))
        #expect(out.contains("vmrun clone linked"))
        #expect(out.contains("\u{1B}[1A\u{1B}[2K\r\u{1B}[32m✓\u{1B}[0m node.clone@c1-cp \u{1B}[2m(1.5s)\u{1B}[0m\n"))
        #expect(out.contains("\u{1B}[31m✗\u{1B}[0m node.identity@c1-cp (2.2s): stage node.identity on c1-cp did not finish within 2s\n"))
        #expect(out.contains("1 stage already done"))
        #expect(out.contains("To resume: labctl up --lab lab.json\n"))
    }

    @Test func ttyRunningLinesNeverWrap() {
        let buffer = OutputBuffer()
        let tty = TTYProgressRenderer(output: buffer.output, resumeCommand: "labctl up", clock: { .seconds(3) }, tick: nil,
                                      columns: { 40 })
        tty.handle(.stageStarted(Script.identity1))
        tty.handle(.log(.node("c1-cp"), line: "a very long log line that would certainly wrap on a narrow terminal"))
        tty.finish()
        let visible = buffer.value.replacingOccurrences(of: "\u{1B}\\[[0-9;?]*[A-Za-z]", with: "", options: .regularExpression).replacingOccurrences(of: "\r", with: "")
        let lines = visible.split(separator: "\n")
        #expect(lines.count == 2)
        #expect(lines.allSatisfy { $0.count < 40 })
        #expect(lines.last?.hasSuffix("…") == true)
    }

    @Test func failureSummaryNamesStageScopeLogAndResume() {
        let s = RunSummary(outcome: .failed, ran: [], skipped: [],
                           failures: [StageFailure(instance: Script.identity1, error: Script.failure, lastLogLines: ["a", "b"])],
                           notReached: [], duration: .seconds(3), durations: [:])
        #expect(FailureSummary.render(s, resumeCommand: "labctl up --lab x.json") == """
            1 stage failed after 3.0s. Nothing was destroyed.

            ✗ node.identity on node c1-cp: stage node.identity on c1-cp did not finish within 2s
                hint: look at the log of c1-cp (`labctl logs c1-cp`), then run `labctl up` again
                last log lines:
                  | a
                  | b

            To resume: labctl up --lab x.json

            """)
    }

    /// The renderers consume a real engine run (events from many tasks at once).
    @Test func rendersALiveEngineRun() async throws {
        let dir = (NSTemporaryDirectory() as NSString).appendingPathComponent("labctl-progress-\(UUID().uuidString)")
        let topology = LabTopology(clusters: [.init(name: "c1", nodes: ["c1-cp", "c1-w1"])])
        let stages = [
            Stage(id: "node.clone", scope: .node, action: { ctx in ctx.log("cloned \(ctx.scope.name)") }),
            Stage(id: "node.identity", scope: .node, dependencies: [.init("node.clone")], action: { _ in }),
        ]
        let buffer = OutputBuffer()
        let renderer = JSONProgressRenderer(output: buffer.output, resumeCommand: "labctl up")
        let engine = StageEngine(graph: try StageGraph(stages: stages, topology: topology),
                                 journal: try Journal(path: LabPaths(root: dir).journal), onEvent: renderer.handler)
        let summary = try await engine.run()
        renderer.finish()
        #expect(summary.outcome == .succeeded)
        let lines = buffer.value.split(separator: "\n")
        let expected = 12  // runStarted, 4 started, 4 finished, 2 logs, runFinished
        #expect(lines.count == expected)
        #expect(lines.last?.contains("\"outcome\":\"succeeded\"") == true)
    }
}

@Suite struct ProgressPlanRenderingTests {
    @Test func planTableAndJSON() throws {
        let entries = [
            PlanEntry(instance: Script.clone1, status: .done, probe: .done, summary: ""),
            PlanEntry(instance: Script.identity1, status: .willRun(.probeDisagrees), probe: .notDone, summary: ""),
            PlanEntry(instance: Script.checkpoint1, status: .blockedBy([Script.identity1]), probe: nil, summary: ""),
        ]
        #expect(PlanRendering.table(entries) == """
            STAGE            SCOPE  STATUS
            node.clone       c1-cp  done
            node.identity    c1-cp  will run (journaled done, but the system says otherwise)
            node.checkpoint  c1-cp  blocked by node.identity@c1-cp

            1 done, 2 to run.

            """)
        let json = try #require(try JSONSerialization.jsonObject(with: Data(PlanRendering.json(entries).utf8)) as? [[String: Any]])
        #expect(json.count == 3)
        #expect(json[2]["status"] as? String == "blocked")
        #expect(json[2]["blockedBy"] as? [String] == ["node.identity@c1-cp"])
        #expect(json[1]["probe"] as? String == "notDone")
    }
}
