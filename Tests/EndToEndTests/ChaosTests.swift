import Foundation
import LabKit
import LabHarness
import Testing

/// Issue 19, random kills: a seeded driver SIGKILLs labctl (its process group) at a random moment
/// of `up`, `snapshot restore`, `rebuild cluster2` and `destroy` on the testbed, runs the same
/// command again to the end, and checks that the lab converged: no duplicate VM or snapshot, no
/// stage that finished before the kill run again, journal and lab snapshot manifests readable, and
/// every VM in the state the command promises.
///
/// `LABCTL_CHAOS_N` kills per command (CI: 2), `LABCTL_CHAOS_SEED` replays a run (the seed is
/// printed), `LABCTL_CHAOS_COMMANDS` picks commands (`up,restore,rebuild,destroy`). `scripts/chaos`
/// runs a large N and prints the figures. The lab stops at the nodes' checkpoint (`--to
/// node.checkpoint`, as SnapshotE2ETests do): Kubernetes and the mesh are recording stubs on the
/// testbed, and a whole `up` costs ~140 s, too much for N runs in CI.
@Suite("random kills on the testbed (seeded)", .serialized,
       .enabled(if: LabctlBinary.exists, "needs the labctl binary: run `swift build --build-tests` first"),
       .enabled(if: Testbed.isAvailable, "needs root and the testbed packages (see output)"))
struct ChaosTests {
    static let nodesOnly = ["--to", "node.checkpoint"]
    /// The window of each command's work on the 4-node test lab (measured on the 2-core build
    /// machine); the kill comes at a uniformly random point of it, so some runs end before. `up`'s
    /// window is short: in the runs measured, its 20 stages had all finished by 2.8 s.
    /// `restore` and `destroy` are the uninterrupted run times measured (2.3-2.5 s, 1.2-1.5 s), so nearly every run is killed.
    static let typical: [String: Double] = ["up": 3.5, "restore": 2.5, "rebuild": 10, "destroy": 1.5]
    static let allCommands = ["up", "restore", "rebuild", "destroy"]

    struct Figures {
        var runs = 0
        var kills = 0
        var endedBeforeKill = 0
        var failures = 0
        var delays: [Double] = []
        /// How long the runs that ended before their kill took (what `typical` should cover).
        var uninterrupted: [Double] = []
        var reruns: [Double] = []
        /// Stage instances the re-runs started (up, rebuild): the work left by the kills.
        var rerunStages = 0
        /// Stage instances the re-runs adopted: done by the killed run, not yet journaled.
        var rerunAdopted = 0
        /// Stage instances the killed runs finished (journaled) before the kill.
        var finishedBeforeKill = 0

        func line(_ command: String) -> String {
            let mean = reruns.isEmpty ? 0 : reruns.reduce(0, +) / Double(reruns.count)
            return String(format: "chaos %@: %d runs, %d killed, %d ended before the kill, %d convergence failures; "
                          + "kill at %.1f-%.1f s; uninterrupted runs took %.1f-%.1f s; re-run to convergence mean %.1f s, max %.1f s; "
                          + "stages finished before the kills %d, run by the re-runs %d, adopted by them %d",
                          command, runs, kills, endedBeforeKill, failures, delays.min() ?? 0, delays.max() ?? 0,
                          uninterrupted.min() ?? 0, uninterrupted.max() ?? 0, mean, reruns.max() ?? 0,
                          finishedBeforeKill, rerunStages, rerunAdopted)
        }
    }

    @Test("SIGKILL at a random moment of up, snapshot restore, rebuild cluster2 and destroy; the re-run converges")
    func randomKills() async throws {
        let env = ProcessInfo.processInfo.environment
        let n = env["LABCTL_CHAOS_N"].flatMap(Int.init) ?? 2
        let seed = env["LABCTL_CHAOS_SEED"].flatMap { UInt64($0) } ?? UInt64.random(in: 1...UInt64(UInt32.max))
        let commands = env["LABCTL_CHAOS_COMMANDS"].map { $0.split(separator: ",").map(String.init) } ?? Self.allCommands
        #expect(commands.allSatisfy(Self.allCommands.contains), "LABCTL_CHAOS_COMMANDS: \(commands)")
        print("chaos: seed \(seed) (replay with LABCTL_CHAOS_SEED=\(seed)), \(n) kills per command, commands \(commands.joined(separator: ","))")
        var rng = SplitMix64(seed: seed)

        let tb = try await Testbed.shared()
        let lab = try await TestLab.make(tb, name: "e2e-chaos", dhcp: true, baseMAC: "00:50:56:3f:00:78")
        defer { Task { await lab.cleanUp() } }
        var figures: [String: Figures] = [:]
        let started = ContinuousClock.now
        for round in 0..<n {
            for command in Self.allCommands where commands.contains(command) {
                try await prepare(lab, for: command)
                let delay = Double.random(in: 0.05..<1, using: &rng) * (Self.typical[command] ?? 5)
                var f = figures[command, default: Figures()]
                let problems = try await chaos(lab, command, delay: delay, figures: &f)
                if !problems.isEmpty {
                    f.failures += 1
                    Issue.record("seed \(seed), round \(round), \(command) with the kill planned at \(String(format: "%.2f", delay)) s: \(problems.joined(separator: "; "))")
                }
                figures[command] = f
            }
        }
        for command in Self.allCommands where commands.contains(command) { print(figures[command, default: Figures()].line(command)) }
        print("chaos: seed \(seed), total \(ContinuousClock.now - started)")
        await lab.cleanUp()
    }

    /// What each command needs before it: `up` an empty lab, the others a lab that is up.
    func prepare(_ lab: TestLab, for command: String) async throws {
        if command == "up" {
            guard !lab.vmDirectories().isEmpty else { return }
            let r = try await lab.labctl(["destroy", "--yes"])
            #expect(r.succeeded, "setup destroy: \(r.stderr)")
        } else {
            let r = try await lab.up(Self.nodesOnly)
            #expect(r.outcome.succeeded, "setup up: \(r.summary)")
        }
    }

    func arguments(_ command: String) -> [String] {
        switch command {
        case "up": return ["up", "--progress", "json"] + Self.nodesOnly
        case "restore": return ["snapshot", "restore", "snapshot#2"]
        case "rebuild": return ["rebuild", "cluster2", "--progress", "json"] + Self.nodesOnly
        default: return ["destroy", "--yes"]
        }
    }

    /// One chaos round: kill, re-run, check. Returns what did not converge.
    func chaos(_ lab: TestLab, _ command: String, delay: Double, figures: inout Figures) async throws -> [String] {
        var problems: [String] = []
        // restore's promise includes "at the snapshot": a marker written now must be gone after it.
        if command == "restore" {
            for node in lab.nodes {
                let r = try await lab.tb.inGuest(vmx: lab.vmx(node.name), "touch /root/CHAOS-MARKER")
                if !r.succeeded { problems.append("marker on \(node.name): \(r.stderr)") }
            }
        }
        let callsBefore = lab.vmrunCalls().count
        let killed = try await killedAfter(lab, arguments(command), delay: delay)
        figures.runs += 1
        if killed.killed {
            figures.delays.append(killed.seconds)
            figures.kills += 1
        } else {
            figures.endedBeforeKill += 1
            figures.uninterrupted.append(killed.seconds)
        }
        let finishedBefore = Set(ProgressEvents.parse(killed.output).filter { $0["event"] as? String == "stageFinished" }
            .compactMap { $0["instance"] as? String })

        let t0 = ContinuousClock.now
        let rerun = try await lab.labctl(arguments(command))
        let elapsed = ContinuousClock.now - t0
        figures.reruns.append(Self.seconds(elapsed))
        guard rerun.succeeded else {
            return problems + ["re-run failed (exit \(rerun.status)): \(rerun.stderr.suffix(1500)) \(rerun.stdout.suffix(1500))"]
        }
        let events = ProgressEvents.parse(rerun.stdout)
        let startedAgain = events.filter { $0["event"] as? String == "stageStarted" }.compactMap { $0["instance"] as? String }
        figures.rerunStages += startedAgain.count
        figures.finishedBeforeKill += killed.killed ? finishedBefore.count : 0
        figures.rerunAdopted += events.filter { $0["event"] as? String == "stageSkipped" && $0["reason"] as? String == "adopted" }.count
        if startedAgain.count != Set(startedAgain).count { problems.append("a stage started twice in the re-run: \(startedAgain)") }
        switch command {
        case "up":
            // A stage journaled done before the kill is not run again.
            let again = Set(startedAgain).intersection(finishedBefore)
            if !again.isEmpty { problems.append("finished before the kill and ran again: \(again.sorted())") }
        case "rebuild":
            // Only cluster2 is rebuilt, by both runs: cluster1's VMs get no changing vmrun call at all.
            if let outside = startedAgain.first(where: { !$0.contains("@cluster2-") }) { problems.append("the re-run ran \(outside)") }
            let mutating: Set<String> = ["clone", "start", "stop", "snapshot", "deleteSnapshot", "revertToSnapshot", "deleteVM", "reset"]
            let touched = lab.vmrunCalls().dropFirst(callsBefore)
                .filter { argv in argv.contains { $0.contains("/cluster1-") } && argv.contains { mutating.contains($0) } }
            if !touched.isEmpty { problems.append("cluster1 was touched: \(touched)") }
        default:
            break
        }
        problems += try await converged(lab, running: command != "destroy")
        if command == "restore" {
            for node in lab.nodes {
                let r = try await lab.tb.inGuest(vmx: lab.vmx(node.name), "test ! -e /root/CHAOS-MARKER")
                if !r.succeeded { problems.append("\(node.name) is not at snapshot#2: the marker is still there") }
            }
        }
        return problems
    }

    /// The lab's state after a command that converged: `running` (up, restore, rebuild) means every
    /// node's VM exists once, runs and answers SSH with its name; otherwise (destroy) no VM is left.
    func converged(_ lab: TestLab, running: Bool) async throws -> [String] {
        var problems: [String] = []
        let expected = running ? lab.nodes.map(\.name).sorted() : []
        if lab.vmDirectories() != expected { problems.append("VM folders \(lab.vmDirectories()), expected \(expected)") }
        for node in lab.vmDirectories() {
            let names = lab.snapshotNames(lab.vmx(node))
            if names.count != Set(names).count { problems.append("\(node) has duplicate snapshots: \(names)") }
        }
        let list = try await lab.tb.vmrun(["-T", "ws", "list"])
        let ours = list.stdout.split(separator: "\n").map(String.init).filter { $0.hasPrefix(lab.vmFolder.path + "/") }
        if ours.count != Set(ours).count { problems.append("vmrun list names a VM twice: \(ours)") }
        let want = running ? Set(lab.nodes.map { lab.vmx($0.name) }) : []
        if Set(ours) != want { problems.append("running VMs \(ours.sorted()), expected \(want.sorted())") }
        let paths = LabPaths(root: lab.stateDir.path)
        do {
            let journal = try Journal.load(path: paths.journal)
            if !running, let left = journal.entries.first(where: { $0.scope.kind == .node }) {
                problems.append("the journal still has \(left.instance) after destroy")
            }
        } catch { problems.append("journal: \(error)") }
        do { _ = try LabSnapshotStore(paths: paths).all() } catch { problems.append("snapshot manifests: \(error)") }
        if running {
            for node in lab.nodes {
                let r = try await lab.tb.ssh(node.address, user: "lab", "hostname")
                let name = r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
                if !r.succeeded || name != node.name { problems.append("ssh \(node.name): \(name) \(r.stderr)") }
            }
        }
        return problems
    }

    /// Starts `labctl ARGS --lab <lab.json>` and SIGKILLs it `delay` seconds later, unless it ended
    /// before. Returns whether it was killed, its standard output, and when it was killed or ended.
    func killedAfter(_ lab: TestLab, _ args: [String], delay: Double) async throws -> (killed: Bool, output: String, seconds: Double) {
        let out = lab.dir.appendingPathComponent("chaos-\(UUID().uuidString).out")
        _ = FileManager.default.createFile(atPath: out.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: out) }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: LabctlBinary.path)
        p.arguments = args + ["--lab", lab.labFile.path]
        p.environment = ProcessInfo.processInfo.environment.merging(await lab.environment()) { $1 }
        p.standardOutput = try FileHandle(forWritingTo: out)
        p.standardError = FileHandle.nullDevice
        p.standardInput = FileHandle.nullDevice
        try p.run()
        let start = ContinuousClock.now
        // A GCD timer, not Task.sleep: the kill must not wait for a thread of the (2-thread) cooperative pool.
        let timer = KillTimer()
        let pid = p.processIdentifier
        DispatchQueue.global().asyncAfter(deadline: .now() + delay) { [p] in
            timer.fire(start: start) {
                guard p.isRunning else { return false }
                // labctl, and its process group where it leads one (Foundation may start the child in
                // its own group; otherwise -pid names no group and this does nothing).
                kill(pid, SIGKILL)
                kill(-pid, SIGKILL)
                return true
            }
        }
        p.waitUntilExit()
        let ended = Self.seconds(ContinuousClock.now - start)
        let killedAt = timer.firedAt
        return (killedAt != nil, (try? String(contentsOf: out, encoding: .utf8)) ?? "", killedAt ?? ended)
    }

    static func seconds(_ d: Duration) -> Double {
        Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }
}

/// When the kill was sent (seconds after the start), if it was: set once, from the timer's thread.
final class KillTimer: @unchecked Sendable {
    private let lock = NSLock()
    private var at: Double?
    var firedAt: Double? { lock.withLock { at } }

    func fire(start: ContinuousClock.Instant, _ body: () -> Bool) {
        lock.withLock {
            if body() { at = ChaosTests.seconds(ContinuousClock.now - start) }
        }
    }
}

/// SplitMix64 (Steele, Lea, Flood 2014): a tiny seeded generator, so a chaos run replays from its seed.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
