import Foundation
import LabKit
import Testing
import LabHarness

/// The fake vmrun's latency model (issue 16, Tests/Testbed/README.md "Latency model"): which delay a
/// call gets and which models are refused. Read from the call log's `latency` events, so nothing here
/// measures time. Needs python3 only (no root, no guests: `list` and refused calls touch no VM).
@Suite("Fake vmrun latency model", .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/python3"), "needs python3"))
struct LatencyModelTests {
    struct Run {
        var outcome: ProcessOutcome
        /// The `latency` events of the call log: argv and seconds.
        var delays: [(argv: [String], seconds: Double)]
    }

    /// Runs the fake vmrun with `model` (written to a file) and a call log of its own, in an empty run directory.
    func vmrun(_ args: [String], model: String) async throws -> Run {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("latency-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let modelFile = dir.appendingPathComponent("model.json")
        try model.write(to: modelFile, atomically: true, encoding: .utf8)
        let log = dir.appendingPathComponent("calls.jsonl")
        let outcome = try await HostProcess.run([Testbed.vmrunPath] + args, environment: [
            "LABCTL_FAKE_VMRUN_LATENCY": modelFile.path, "LABCTL_FAKE_VMRUN_LOG": log.path,
            "LABCTL_TESTBED_RUN": dir.appendingPathComponent("run").path,
        ], timeout: .seconds(30))
        let text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
        let delays = text.split(separator: "\n").compactMap { line -> ([String], Double)? in
            guard let data = line.data(using: .utf8),
                  let o = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any], o["event"] as? String == "latency",
                  let argv = o["argv"] as? [String], let s = o["seconds"] as? Double else { return nil }
            return (argv, s)
        }
        return Run(outcome: outcome, delays: delays.map { (argv: $0.0, seconds: $0.1) })
    }

    @Test("Each command gets its own delay, clones by kind, others the default; the call still does its work")
    func delaysPerCommand() async throws {
        let model = #"{"notes": "test", "commands": {"list": 0.02, "clone.linked": 0.03, "clone.full": 0.04}, "defaultSeconds": 0.01, "bootSeconds": 5}"#
        let list = try await vmrun(["-T", "ws", "list"], model: model)
        #expect(list.outcome.stdout == "Total running VMs: 0\n")
        #expect(list.delays.map(\.seconds) == [0.02])
        // The clones fail (no such VM) after their delay, as a slow host agent would answer.
        let linked = try await vmrun(["-T", "ws", "clone", "/nonexistent/a.vmx", "/tmp/b.vmx", "linked", "-snapshot=s"], model: model)
        #expect(linked.outcome.status == 255 && linked.outcome.stdout.hasPrefix("Error: Cannot open VM: /nonexistent/a.vmx"))
        #expect(linked.delays.map(\.seconds) == [0.03])
        let full = try await vmrun(["-T", "ws", "clone", "/nonexistent/a.vmx", "/tmp/b.vmx", "full"], model: model)
        #expect(full.delays.map(\.seconds) == [0.04])
        let other = try await vmrun(["-T", "ws", "checkToolsState", "/nonexistent/a.vmx"], model: model)
        #expect(other.delays.map(\.seconds) == [0.01])
    }

    @Test("The shipped Workstation model loads and names every command labctl's up and snapshot use")
    func shippedModel() async throws {
        let file = Testbed.scriptsDir.appendingPathComponent("latency/workstation.json")
        let text = try String(contentsOf: file, encoding: .utf8)
        let list = try await vmrun(["-T", "ws", "list"], model: text)
        #expect(list.outcome.succeeded, "\(list.outcome.stdout)")
        #expect(list.delays.count == 1)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        let commands = try #require(object["commands"] as? [String: Double])
        for c in ["list", "clone.linked", "start", "getGuestIPAddress", "snapshot", "revertToSnapshot", "deleteSnapshot", "stop", "deleteVM"] {
            #expect(commands[c] != nil, "\(c) has a figure")
        }
        #expect((object["bootSeconds"] as? Double ?? 0) > 0)
    }

    @Test("A model that is not valid is refused on every call, saying why", arguments: [
        (#"{"commands": {"lst": 1}}"#, "unknown command(s) lst"),
        (#"{"commands": {"list": -1}}"#, "commands.list must be a number of seconds from 0 to 3600, got -1"),
        (#"{"commands": {"list": "fast"}}"#, "commands.list must be a number of seconds"),
        (#"{"bootSecs": 3}"#, "unknown key(s) bootSecs"),
        (#"{"commands": [1]}"#, "commands must be an object"),
        (#"{"commands": "#, "latency model"),
    ])
    func refused(model: String, message: String) async throws {
        let r = try await vmrun(["-T", "ws", "list"], model: model)
        #expect(r.outcome.status == 255)
        #expect(r.outcome.stdout.hasPrefix("Error: latency model "), "\(r.outcome.stdout)")
        #expect(r.outcome.stdout.contains(message), "\(r.outcome.stdout)")
        #expect(r.delays.isEmpty)
    }
}
