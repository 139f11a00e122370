import Foundation
import LabKit
import Testing
import LabHarness

/// `labctl up` (issue 6, seed 7.1-7.6) end to end: the real labctl binary, the fake vmrun and real
/// Linux guests on the testbed (Tests/Testbed/README.md). Needs root and the testbed packages; the
/// suite is skipped otherwise and says what is missing.
@Suite("labctl up on the testbed", .serialized,
       .enabled(if: LabctlBinary.exists, "needs the labctl binary: run `swift build --build-tests` first"),
       .enabled(if: Testbed.isAvailable, "needs root and the testbed packages (see output)"))
struct UpTests {
    /// Everything seed 7.5 asks for, checked from inside each guest, plus `snapshot#2` in each .vmsd.
    func checkNodes(_ lab: TestLab) async throws {
        let base = try await GuestFacts.base(lab.tb)
        #expect(base.machineId.count == 32 && base.hostKey.hasPrefix("SHA256:"))
        var machineIds: [String: String] = [:]
        for node in lab.nodes {
            let f = try await GuestFacts.read(lab.tb, vmx: lab.vmx(node.name))
            #expect(f.hostname == node.name, "hostname of \(node.name)")
            #expect(f.addresses == "\(node.address)/24", "address of \(node.name): \(f.addresses)")
            #expect(f.route.hasPrefix("default via \(Testbed.network).2 dev ens33"), "route of \(node.name): \(f.route)")
            for other in lab.nodes {
                #expect(f.hosts.split(separator: "\n").contains { $0.split(separator: " ").map(String.init) == [other.address, other.name] },
                        "/etc/hosts of \(node.name) lists \(other.name)")
            }
            #expect(f.machineId.count == 32 && f.machineId != base.machineId, "machine-id of \(node.name) is new")
            #expect(f.hostKey.hasPrefix("SHA256:") && f.hostKey != base.hostKey, "host key of \(node.name) is new")
            if let clash = machineIds[f.machineId] { Issue.record("\(node.name) has \(clash)'s machine-id") }
            machineIds[f.machineId] = node.name
            #expect(lab.snapshotNames(lab.vmx(node.name)) == TestLab.checkpointsAfterUp, "snapshots of \(node.name)")
        }
        #expect(lab.vmDirectories() == lab.nodes.map(\.name).sorted())
    }

    /// A second `up` skips everything: no stage action, no clone/start/snapshot.
    func checkRerunIsNoop(_ lab: TestLab) async throws {
        let callsBefore = lab.vmrunCalls().count
        let again = try await lab.up()
        #expect(again.outcome.succeeded, "\(again.summary)")
        #expect(again.started.isEmpty, "stages ran again: \(again.started)")
        #expect(Set(again.skipped).count == lab.instanceCount)
        #expect(lab.mutatingCalls(since: callsBefore).isEmpty, "vmrun calls: \(lab.mutatingCalls(since: callsBefore))")
        for node in lab.nodes { #expect(lab.snapshotNames(lab.vmx(node.name)) == TestLab.checkpointsAfterUp) }
    }

    @Test("up brings four nodes up from a static-.10 base (one at a time on .10); a second up changes nothing")
    func staticBase() async throws {
        let tb = try await Testbed.shared()
        let lab = try await TestLab.make(tb, name: "e2e-static", dhcp: false, baseMAC: "00:50:56:3f:00:10")
        defer { Task { await lab.cleanUp() } }
        let run = try await lab.up()
        #expect(run.outcome.succeeded, "\(run.summary)")
        // node.identity is adopted (node.start already moved each node); base.check may be adopted too.
        #expect(Set(run.finished + run.skipped).count == lab.instanceCount, "finished: \(run.finished)")
        #expect(Set(run.finished).isSuperset(of: lab.nodes.flatMap { ["node.clone@\($0.name)", "node.start@\($0.name)", "node.checkpoint@\($0.name)"] }))
        // The first-contact address is a shared resource: node.start instances never overlap.
        var open = 0
        for e in run.events {
            guard let stage = e["stage"] as? String, stage == "node.start" else { continue }
            if e["event"] as? String == "stageStarted" { open += 1; #expect(open == 1, "two clones on .10 at once") }
            if e["event"] as? String == "stageFinished" { open -= 1 }
        }
        try await checkNodes(lab)
        try await checkRerunIsNoop(lab)
        let status = try await lab.labctl(["status", "--format", "json"])
        #expect(status.succeeded, "\(status.stderr)")
        let rows = (try? JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as? [[String: Any]]) ?? []
        #expect(rows.count == 4)
        for row in rows {
            let last = (row["role"] as? String) == "control-plane" ? "cluster.init" : "node.join"
            #expect(row["power"] as? String == "on" && row["ssh"] as? Bool == true && row["checkpoint"] as? String == "snapshot#5"
                    && row["lastStage"] as? String == last, "\(row)")
        }
        await lab.cleanUp()
    }

    @Test("up brings four nodes up from a DHCP base (all at once, found by MAC); plan then says everything is done")
    func dhcpBase() async throws {
        let tb = try await Testbed.shared()
        let lab = try await TestLab.make(tb, name: "e2e-dhcp", dhcp: true, baseMAC: "00:50:56:3f:00:20")
        defer { Task { await lab.cleanUp() } }
        let plan0 = try await lab.labctl(["plan", "--format", "json"])
        #expect(plan0.succeeded, "\(plan0.stderr)")
        #expect(lab.mutatingCalls().isEmpty, "plan changed something")
        let run = try await lab.up()
        #expect(run.outcome.succeeded, "\(run.summary)")
        try await checkNodes(lab)
        let plan = try await lab.labctl(["plan", "--format", "json"])
        let entries = (try? JSONSerialization.jsonObject(with: Data(plan.stdout.utf8)) as? [[String: Any]]) ?? []
        #expect(entries.count == lab.instanceCount && entries.allSatisfy { $0["status"] as? String == "done" }, "\(plan.stdout)")
        try await checkRerunIsNoop(lab)
        let logs = try await lab.labctl(["logs", "cluster1-ctrl-plane"])
        #expect(logs.succeeded && logs.stdout.contains("node-identity"), "\(logs.stdout.suffix(500))")
        await lab.cleanUp()
    }

    @Test("up killed after clone, during first contact and during identity resumes without duplicates")
    func killAndResume() async throws {
        let tb = try await Testbed.shared()
        let lab = try await TestLab.make(tb, name: "e2e-kill", dhcp: true, baseMAC: "00:50:56:3f:00:30")
        defer { Task { await lab.cleanUp() } }
        var finishedBefore: Set<String> = []
        func event(_ e: [String: Any], _ name: String, _ stage: String) -> Bool {
            e["event"] as? String == name && e["stage"] as? String == stage
        }
        let killPoints: [(String, @Sendable ([String: Any]) -> Bool)] = [
            ("after clone", { e in e["event"] as? String == "stageFinished" && e["stage"] as? String == "node.clone" }),
            ("during first contact", { e in e["event"] as? String == "waiting" && (e["instance"] as? String ?? "").hasPrefix("node.start@") }),
            ("during identity", { e in e["event"] as? String == "log" && (e["line"] as? String ?? "").contains("node-identity:") }),
        ]
        for (label, point) in killPoints {
            let events = try await lab.upKilled(when: point)
            let finished = events.filter { $0["event"] as? String == "stageFinished" }.compactMap { $0["instance"] as? String }
            #expect(Set(finished).isDisjoint(with: finishedBefore), "\(label): ran again: \(Set(finished).intersection(finishedBefore))")
            finishedBefore.formUnion(finished)
            #expect(lab.vmDirectories().allSatisfy { d in lab.nodes.contains { $0.name == d } }, "\(label): \(lab.vmDirectories())")
        }
        let resumed = try await lab.up()
        #expect(resumed.outcome.succeeded, "\(resumed.summary)")
        let again = Set(resumed.started).intersection(finishedBefore)
        #expect(again.isEmpty, "stages finished before ran again: \(again)")
        #expect(resumed.started.count == Set(resumed.started).count, "a stage started twice: \(resumed.started)")
        let clones = lab.vmrunCalls().filter { $0.contains("clone") }.count
        #expect(clones == lab.nodes.count, "clone calls: \(clones)")
        try await checkNodes(lab)
        try await checkRerunIsNoop(lab)
        await lab.cleanUp()
    }

    @Test("an injected vmrun hang ends in a timeout within its deadline; a transient failure is retried")
    func faults() async throws {
        let tb = try await Testbed.shared()
        let lab = try await TestLab.make(tb, name: "e2e-fault", dhcp: true, baseMAC: "00:50:56:3f:00:40", timeouts: (20, 10, 30))
        defer { Task { await lab.cleanUp() } }
        let hang = lab.dir.appendingPathComponent("hang.json")
        try #"{"hang": [{"command": "start", "times": 1, "vm": "cluster2-worker-node01"}]}"#.write(to: hang, atomically: true, encoding: .utf8)
        let t0 = ContinuousClock.now
        let failed = try await lab.up(faults: hang, timeout: .seconds(300))
        let elapsed = ContinuousClock.now - t0
        #expect(!failed.outcome.succeeded && !failed.outcome.timedOut, "\(failed.summary)")
        #expect(failed.outcome.status == 5, "exit status \(failed.outcome.status) (timeout is 5)")
        let failures = (failed.runFinished?["failures"] as? [[String: Any]]) ?? []
        #expect(failures.contains { ($0["instance"] as? String) == "node.start@cluster2-worker-node01" }, "\(failed.summary)")
        // start deadline 20 s; the rest of the run (other nodes finishing) is bounded too.
        #expect(elapsed < .seconds(150), "took \(elapsed)")

        let transient = lab.dir.appendingPathComponent("transient.json")
        try #"{"fail": [{"command": "start", "times": 1, "error": "unknown"}, {"command": "snapshot", "times": 1, "error": "unknown"}]}"#
            .write(to: transient, atomically: true, encoding: .utf8)
        let ok = try await lab.up(faults: transient)
        #expect(ok.outcome.succeeded, "\(ok.summary)")
        #expect(ok.named("warning").contains { ($0["text"] as? String ?? "").contains("retry") || ($0["message"] as? String ?? "").contains("retry") }
                || lab.vmrunCalls().filter { $0.contains("start") }.count > lab.nodes.count,
                "no retry seen")
        try await checkNodes(lab)
        await lab.cleanUp()
    }
}
