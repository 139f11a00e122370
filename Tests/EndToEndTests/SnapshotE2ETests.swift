import Foundation
import LabKit
import Testing
import LabHarness

/// Lab snapshots, destroy and rebuild (issue 7) end to end on the testbed: the real labctl binary,
/// the fake vmrun, real guests. Testbed snapshots hold no memory, so a revert leaves the VM off and
/// restore must start it and wait for SSH (docs/snapshots.md). Needs root; skipped otherwise.
@Suite("lab snapshots, destroy and rebuild on the testbed", .serialized,
       .enabled(if: LabctlBinary.exists, "needs the labctl binary: run `swift build --build-tests` first"),
       .enabled(if: Testbed.isAvailable, "needs root and the testbed packages (see output)"))
struct SnapshotE2ETests {
    /// These tests are about the nodes' checkpoint (seed 7.6): they stop there (`--to`), so the
    /// Kubernetes and mesh stages (covered by KubernetesUpTests and MeshTests) do not run.
    static let nodesOnly = ["--to", "node.checkpoint"]
    /// What must come back after a restore and survive a rebuild of another cluster.
    struct NodeState: Equatable {
        var facts: GuestFacts
        /// `/proc/1/stat` field 22: init's start time in ticks since host boot (the guest's uptime anchor).
        var initStart: String
    }

    func state(_ lab: TestLab, _ node: String) async throws -> NodeState {
        let facts = try await GuestFacts.read(lab.tb, vmx: lab.vmx(node))
        let r = try await lab.tb.inGuest(vmx: lab.vmx(node), "awk '{print $22}' /proc/1/stat")
        return NodeState(facts: facts, initStart: r.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    func journal(_ lab: TestLab) throws -> JournalState {
        try Journal.load(path: lab.stateDir.appendingPathComponent("journal.json").path)
    }

    func snapshotList(_ lab: TestLab) async throws -> [[String: Any]] {
        let r = try await lab.labctl(["snapshot", "list", "--format", "json"])
        #expect(r.succeeded, "\(r.stderr)")
        return (try? JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [[String: Any]]) ?? []
    }

    func uuid(_ vmx: String) -> String {
        let text = (try? String(contentsOfFile: vmx, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").first { $0.hasPrefix("uuid.bios") }.map(String.init) ?? ""
    }

    @Test("restore snapshot#2 after breaking the nodes brings every node back; up then runs only what came after; a killed restore completes")
    func restore() async throws {
        let tb = try await Testbed.shared()
        let lab = try await TestLab.make(tb, name: "e2e-snap", dhcp: true, baseMAC: "00:50:56:3f:00:50")
        defer { Task { await lab.cleanUp() } }
        let up = try await lab.up(Self.nodesOnly)
        #expect(up.outcome.succeeded, "\(up.summary)")

        // The nodes' checkpoint is an ordinary lab snapshot with a manifest.
        let list = try await snapshotList(lab)
        let cp = try #require(list.first { $0["name"] as? String == "snapshot#2" }, "\(list)")
        #expect(cp["status"] as? String == "complete")
        #expect(Set(cp["nodes"] as? [String] ?? []) == Set(lab.nodes.map(\.name)))

        var before: [String: GuestFacts] = [:]
        for n in lab.nodes { before[n.name] = try await GuestFacts.read(tb, vmx: lab.vmx(n.name)) }
        let journalBefore = try journal(lab)

        // Break every node: files gone, hostname changed.
        for n in lab.nodes {
            let r = try await tb.inGuest(vmx: lab.vmx(n.name),
                                         "rm -f /etc/hosts && echo broken > /etc/hostname && hostname broken && touch /root/BROKEN")
            #expect(r.succeeded, "\(r.stderr)")
        }

        let restore = try await lab.labctl(["snapshot", "restore", "snapshot#2"])
        #expect(restore.succeeded, "\(restore.stdout)\n\(restore.stderr)")
        for n in lab.nodes {
            let f = try await GuestFacts.read(tb, vmx: lab.vmx(n.name))
            #expect(f == before[n.name], "\(n.name) came back as it was")
            let gone = try await tb.inGuest(vmx: lab.vmx(n.name), "test ! -e /root/BROKEN")
            #expect(gone.succeeded, "\(n.name) still has /root/BROKEN")
            let ssh = try await tb.ssh(n.address, user: "lab", "hostname")
            #expect(ssh.succeeded && ssh.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == n.name, "ssh \(n.name): \(ssh.stderr)")
        }
        // The journal is rewound to each node's snapshot: its checkpoint entry (recorded after) is gone.
        let rewound = try journal(lab)
        #expect(rewound.entries.count < journalBefore.entries.count)
        #expect(!rewound.entries.contains { $0.stage == "node.checkpoint" }, "\(rewound.entries.map(\.instance))")
        #expect(lab.nodes.allSatisfy { n in rewound.done(StageInstanceID("node.verify", .node(n.name))) != nil })

        // `up` runs only what came after the checkpoint: nothing is cloned, started or re-identified.
        let calls = lab.vmrunCalls().count
        let again = try await lab.up(Self.nodesOnly)
        #expect(again.outcome.succeeded, "\(again.summary)")
        #expect(again.started.allSatisfy { $0.hasPrefix("node.checkpoint@") }, "ran: \(again.started)")
        #expect(!lab.mutatingCalls(since: calls).contains { $0 == "clone" || $0 == "start" || $0 == "revertToSnapshot" },
                "\(lab.mutatingCalls(since: calls))")
        for n in lab.nodes { #expect(lab.snapshotNames(lab.vmx(n.name)) == ["snapshot#2"]) }

        // Kill a restore while it reverts/starts the VMs; running it again completes.
        let partial = try await lab.killed(["snapshot", "restore", "snapshot#2"]) { $0.contains("] starting") }
        #expect(partial.contains("reverting"))
        let rerun = try await lab.labctl(["snapshot", "restore", "snapshot#2"])
        #expect(rerun.succeeded, "\(rerun.stdout)\n\(rerun.stderr)")
        for n in lab.nodes {
            let ssh = try await tb.ssh(n.address, user: "lab", "true")
            #expect(ssh.succeeded, "\(n.name) answers SSH after the re-run")
            #expect(try await GuestFacts.read(tb, vmx: lab.vmx(n.name)) == before[n.name])
        }
        // A snapshot some nodes lack is refused, naming them; nothing is reverted.
        let half = try await lab.labctl(["snapshot", "save", "half", "--cluster", "cluster1"])
        #expect(half.succeeded, "\(half.stderr)")
        let callsBefore = lab.vmrunCalls().count
        let refused = try await lab.labctl(["snapshot", "restore", "half"])
        #expect(refused.status == 4 && refused.stderr.contains("cluster2-ctrl-plane"), "\(refused.stderr)")
        #expect(!lab.mutatingCalls(since: callsBefore).contains("revertToSnapshot"))
        let deleted = try await lab.labctl(["snapshot", "delete", "half"])
        #expect(deleted.succeeded, "\(deleted.stderr)")
        #expect(lab.snapshotNames(lab.vmx("cluster1-ctrl-plane")) == ["snapshot#2"])
        await lab.cleanUp()
    }

    @Test("rebuild cluster2 re-creates its two VMs while cluster1 keeps machine-id and uptime; a killed rebuild completes")
    func rebuild() async throws {
        let tb = try await Testbed.shared()
        let lab = try await TestLab.make(tb, name: "e2e-rebuild", dhcp: true, baseMAC: "00:50:56:3f:00:60")
        defer { Task { await lab.cleanUp() } }
        let up = try await lab.up(Self.nodesOnly)
        #expect(up.outcome.succeeded, "\(up.summary)")
        let c1 = lab.nodes.filter { $0.cluster == "cluster1" }
        let c2 = lab.nodes.filter { $0.cluster == "cluster2" }
        var keep: [String: NodeState] = [:]
        for n in c1 { keep[n.name] = try await state(lab, n.name) }
        var old: [String: (GuestFacts, String)] = [:]
        for n in c2 { old[n.name] = (try await GuestFacts.read(tb, vmx: lab.vmx(n.name)), uuid(lab.vmx(n.name))) }

        let calls = lab.vmrunCalls().count
        let run = try await lab.labctl(["rebuild", "cluster2", "--progress", "json"] + Self.nodesOnly)
        #expect(run.succeeded, "\(run.stdout.suffix(3000))\n\(run.stderr)")
        let events = ProgressEvents.parse(run.stdout)
        let started = events.filter { $0["event"] as? String == "stageStarted" }.compactMap { $0["instance"] as? String }
        #expect(!started.isEmpty && started.allSatisfy { $0.contains("@cluster2-") }, "ran: \(started)")
        // cluster1's VMs were not touched by any vmrun call.
        let touched = lab.vmrunCalls().dropFirst(calls).filter { argv in argv.contains { $0.contains("/cluster1-") } }
            .filter { argv in ["clone", "start", "stop", "snapshot", "deleteSnapshot", "revertToSnapshot", "deleteVM", "reset"].contains { argv.contains($0) } }
        #expect(touched.isEmpty, "\(touched)")

        for n in c2 {
            let f = try await GuestFacts.read(tb, vmx: lab.vmx(n.name))
            #expect(f.addresses == "\(n.address)/24", "same address for \(n.name)")
            #expect(f.hostname == n.name)
            #expect(f.machineId != old[n.name]?.0.machineId, "new machine-id for \(n.name)")
            #expect(uuid(lab.vmx(n.name)) != old[n.name]?.1, "new VM for \(n.name)")
        }
        for n in c1 { #expect(try await state(lab, n.name) == keep[n.name], "\(n.name) kept machine-id and uptime") }

        // The journal and `labctl status` agree.
        let j = try journal(lab)
        let status = try await lab.labctl(["status", "--format", "json"])
        let rows = (try? JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as? [[String: Any]]) ?? []
        #expect(rows.count == lab.nodes.count, "\(status.stdout)")
        for row in rows {
            let node = row["node"] as? String ?? ""
            #expect(row["power"] as? String == "on" && row["ssh"] as? Bool == true, "\(row)")
            #expect(j.done(StageInstanceID("node.checkpoint", .node(node))) != nil, "journal: \(node) checkpointed")
            #expect(row["lastStage"] as? String == "node.checkpoint", "\(row)")
        }
        let cp = try await snapshotList(lab).first { $0["name"] as? String == "snapshot#2" }
        #expect(cp?["status"] as? String == "complete" && (cp?["nodes"] as? [String])?.count == lab.nodes.count, "\(String(describing: cp))")

        // SIGKILL mid-rebuild (after cluster2's VMs were cloned again); the same rebuild completes.
        _ = try await lab.killed(["rebuild", "cluster2", "--progress", "json"] + Self.nodesOnly) { $0.contains("\"stage\":\"node.start\"") }
        #expect(lab.vmDirectories().allSatisfy { d in lab.nodes.contains { $0.name == d } }, "\(lab.vmDirectories())")
        let again = try await lab.labctl(["rebuild", "cluster2", "--progress", "json"] + Self.nodesOnly)
        #expect(again.succeeded, "\(again.stdout.suffix(3000))\n\(again.stderr)")
        #expect(lab.vmDirectories() == lab.nodes.map(\.name).sorted(), "no orphan VM: \(lab.vmDirectories())")
        for n in lab.nodes {
            let ssh = try await tb.ssh(n.address, user: "lab", "hostname")
            #expect(ssh.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == n.name, "\(n.name): \(ssh.stderr)")
        }
        for n in c1 { #expect(try await state(lab, n.name) == keep[n.name], "\(n.name) still untouched") }

        // destroy without --yes and without a terminal refuses and changes nothing.
        let refused = try await lab.labctl(["destroy", "cluster2"])
        #expect(!refused.succeeded && refused.stdout.contains("cluster2-ctrl-plane"), "\(refused.stdout)\(refused.stderr)")
        #expect(lab.vmDirectories() == lab.nodes.map(\.name).sorted())
        let destroyed = try await lab.labctl(["destroy", "cluster2", "--yes"])
        #expect(destroyed.succeeded, "\(destroyed.stderr)")
        #expect(lab.vmDirectories() == c1.map(\.name).sorted())
        #expect(FileManager.default.fileExists(atPath: lab.baseVMX), "the base VM stays")
        let j2 = try journal(lab)
        #expect(!j2.entries.contains { $0.scope == .node("cluster2-ctrl-plane") || $0.scope == .node("cluster2-worker-node01") })
        await lab.cleanUp()
    }
}
