import Foundation
import LabKit
#if canImport(Glibc)
import Glibc
#endif

/// `labctl-bench up`: wall time of `labctl up` on the testbed (Tests/Testbed) from a DHCP base, for
/// one cluster (2 nodes), two clusters (4 nodes) and two clusters with four workers each (10 nodes),
/// and whether the per-node parallelism goals hold (docs/benchmarks.md). Needs root (the testbed).
enum UpBenchmark {
    struct Shape {
        var label: String
        var clusters: Int
        var workers: Int
        var nodes: Int { clusters * (1 + workers) }
    }

    static let shapes = [Shape(label: "1 cluster", clusters: 1, workers: 1), Shape(label: "2 clusters", clusters: 2, workers: 1),
                         Shape(label: "2 clusters x 4 workers", clusters: 2, workers: 4)]

    /// The repository, from this file's path (the testbed scripts are not installed anywhere).
    static let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static var testbed: String { repo.appendingPathComponent("Tests/Testbed/testbed").path }
    static var vmrun: String { repo.appendingPathComponent("Tests/Testbed/vmrun").path }
    static var labctl: String {
        URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent().appendingPathComponent("labctl").path
    }

    static func main(_ args: [String]) async -> Int32 {
        if args.contains("--help") || args.contains("-h") {
            say("usage: labctl-bench up [--runs N] [--keep DIR]   (root; runs Tests/Testbed/testbed; prints wall times of labctl up,")
            say("       the median of N rounds (default 3), and a per-stage breakdown of each shape's median run from its journal;")
            say("       --keep copies each lab's .labctl, vmrun call log and output to DIR)")
            return 0
        }
        var keep: URL?
        if let i = args.firstIndex(of: "--keep") {
            guard i + 1 < args.count else {
                FileHandle.standardError.write(Data("labctl-bench up: --keep needs a directory\n".utf8))
                return 2
            }
            keep = URL(fileURLWithPath: args[i + 1])
        }
        var runs = 3
        if let i = args.firstIndex(of: "--runs") {
            guard i + 1 < args.count, let n = Int(args[i + 1]), (1...20).contains(n) else {
                FileHandle.standardError.write(Data("labctl-bench up: --runs needs a number from 1 to 20\n".utf8))
                return 2
            }
            runs = n
        }
        guard getuid() == 0 else {
            FileHandle.standardError.write(Data("labctl-bench up: needs root (it runs the testbed: network namespaces, nspawn guests)\n".utf8))
            return 2
        }
        guard FileManager.default.isExecutableFile(atPath: labctl) else {
            FileHandle.standardError.write(Data("labctl-bench up: no labctl next to labctl-bench (\(labctl)); run swift build first\n".utf8))
            return 2
        }
        // One process at a time owns the testbed (the same lock as the test harness).
        let fd = open("/run/lock/labctl-testbed.lock", O_CREAT | O_RDWR | O_CLOEXEC, 0o644)
        say("waiting for the testbed lock (/run/lock/labctl-testbed.lock) …")
        let lockDeadline = Date().addingTimeInterval(900)
        while fd < 0 || flock(fd, LOCK_EX | LOCK_NB) != 0 {
            if Date() > lockDeadline {
                FileHandle.standardError.write(Data("labctl-bench up: the testbed is busy (15 min)\n".utf8))
                return 1
            }
            usleep(500_000)
        }
        defer { _ = run([testbed, "down"], timeout: 120) }
        _ = run([testbed, "down"], timeout: 120)
        let template = run([testbed, "template"], timeout: 900)
        guard template.status == 0, let key = template.out.split(separator: "\n").last.map({ "\($0)/id_ed25519" }) else {
            FileHandle.standardError.write(Data("testbed template failed: \(template.err)\n".utf8))
            return 1
        }
        guard run([testbed, "up"], timeout: 120).status == 0 else {
            FileHandle.standardError.write(Data("testbed up failed\n".utf8))
            return 1
        }
        let work = URL(fileURLWithPath: "/tmp/labctl-bench-up-\(getpid())")
        defer { try? FileManager.default.removeItem(at: work) }
        // Rounds of the three shapes, interleaved, so that a slow stretch of the shared machine weighs on
        // every shape alike; each shape's figure is its median.
        var samples: [[Double]] = shapes.map { _ in [] }
        for round in 0..<runs {
            for (i, shape) in shapes.enumerated() {
                guard let seconds = measure(shape, slot: i, run: "\(round)-\(i)", work: work, key: key, keep: keep) else { return 1 }
                samples[i].append(seconds)
                say("round \(round + 1)/\(runs)  \(shape.label.padding(toLength: 24, withPad: " ", startingAt: 0)) \(shape.nodes) nodes  "
                    + String(format: "%7.1f s", seconds))
            }
        }
        let medianRound = samples.map { s in s.indices.sorted { s[$0] < s[$1] }[s.count / 2] }
        let times = samples.indices.map { samples[$0][medianRound[$0]] }
        say("")
        for (i, shape) in shapes.enumerated() {
            say("\(shape.label.padding(toLength: 24, withPad: " ", startingAt: 0)) \(shape.nodes) nodes  "
                + String(format: "median %5.1f s   (%.1f-%.1f s over %d runs)", times[i], samples[i].min() ?? 0, samples[i].max() ?? 0, runs))
        }
        for (i, shape) in shapes.enumerated() {
            say("")
            say("\(shape.nodes) nodes, median run, per stage (seconds from the start of labctl up; durations over the nodes):")
            breakdown(work.appendingPathComponent("lab\(medianRound[i])-\(i)"), total: times[i]).forEach(say)
        }
        let goal1 = times[1] <= 1.25 * times[0]
        let goal2 = times[2] <= 1.5 * times[1]
        say(String(format: "4 nodes / 2 nodes  = %.2f (goal ≤ 1.25): %@", times[1] / times[0], goal1 ? "holds" : "MISSED"))
        say(String(format: "10 nodes / 4 nodes = %.2f (goal ≤ 1.50): %@", times[2] / times[1], goal2 ? "holds" : "MISSED"))
        return goal1 && goal2 ? 0 : 3
    }

    /// Makes a DHCP base with the two checkpoints, a lab of `shape` on the addresses of `slot`, times
    /// `labctl up`, deletes the VMs. `run` names the lab's directory and VMs.
    static func measure(_ shape: Shape, slot: Int, run id: String, work: URL, key: String, keep: URL?) -> Double? {
        let dir = work.appendingPathComponent("lab\(id)")
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let baseDir = work.appendingPathComponent("base\(id)").path
        let base = run([testbed, "base-vm", baseDir, "--dhcp", "--name", "base\(id)", "--mac", String(format: "00:50:56:3f:01:%02x", slot)])
        guard base.status == 0, let vmx = base.out.split(separator: "\n").last.map(String.init) else {
            FileHandle.standardError.write(Data("base-vm failed: \(base.err)\n".utf8))
            return nil
        }
        for snap in ["snapshot#1", "snapshot#2"] { _ = run([vmrun, "-T", "ws", "snapshot", vmx, snap]) }
        let labFile = dir.appendingPathComponent("lab.json")
        do { try labJSON(shape, index: slot, name: "bench\(id)", baseVMX: vmx, key: key).write(to: labFile, atomically: true, encoding: .utf8) } catch {
            return nil
        }
        let env = ["LABCTL_VMRUN": vmrun, "LABCTL_FAKE_VMRUN_LOG": dir.appendingPathComponent("vmrun-calls.jsonl").path, "CI": "1"]
        // The slot's addresses were held by the previous round's VMs (other MACs): forget the host's
        // neighbour entries, or the first connection to each waits for the stale one (docs/up.md).
        let flushed = run(["/usr/sbin/ip", "neigh", "flush", "dev", "ltb-host"])
        if flushed.status != 0 { say("warning: ip neigh flush dev ltb-host: \(flushed.err)") }
        let cpu0 = hostBusyCPU(), own0 = childrenCPU()
        let t0 = Date()
        let up = run([labctl, "up", "--to", "node.checkpoint", "--progress", "plain", "--lab", labFile.path], env: env, timeout: 1800)
        let seconds = Date().timeIntervalSince(t0)
        let cpu = String(format: "host CPU busy %.1f s (of %.1f s on %d cores); labctl and its vmrun calls %.1f s",
                         hostBusyCPU() - cpu0, seconds * Double(ProcessInfo.processInfo.activeProcessorCount),
                         ProcessInfo.processInfo.activeProcessorCount, childrenCPU() - own0)
        try? cpu.write(to: dir.appendingPathComponent("cpu"), atomically: true, encoding: .utf8)
        try? String(t0.timeIntervalSince1970).write(to: dir.appendingPathComponent("t0"), atomically: true, encoding: .utf8)
        try? up.out.write(to: dir.appendingPathComponent("up.out"), atomically: true, encoding: .utf8)
        if let keep {
            let dst = keep.appendingPathComponent("\(shape.nodes)-nodes-\(id)")
            try? FileManager.default.removeItem(at: dst)
            try? FileManager.default.createDirectory(at: dst, withIntermediateDirectories: true)
            for item in [".labctl", "vmrun-calls.jsonl", "lab.json", "up.out", "t0", "cpu"] {
                try? FileManager.default.copyItem(at: dir.appendingPathComponent(item), to: dst.appendingPathComponent(item))
            }
        }
        if up.status != 0 {
            FileHandle.standardError.write(Data("labctl up failed for \(shape.label) (exit \(up.status)):\n\(up.out.suffix(3000))\n".utf8))
        }
        let vms = dir.appendingPathComponent("vms")
        for node in (try? FileManager.default.contentsOfDirectory(atPath: vms.path)) ?? [] {
            let nodeVMX = vms.appendingPathComponent("\(node)/\(node).vmx").path
            _ = run([vmrun, "-T", "ws", "stop", nodeVMX, "hard"])
            _ = run([vmrun, "-T", "ws", "deleteVM", nodeVMX])
        }
        _ = run([vmrun, "-T", "ws", "deleteVM", vmx])
        return up.status == 0 ? seconds : nil
    }

    /// Per stage, from the run's journal: when its first instance started and its last one ended
    /// (seconds after `labctl up` was started) and the instances' shortest, median and longest durations.
    static func breakdown(_ dir: URL, total: Double) -> [String] {
        guard let t0 = (try? String(contentsOf: dir.appendingPathComponent("t0"), encoding: .utf8)).flatMap(Double.init),
              let data = try? Data(contentsOf: dir.appendingPathComponent(".labctl/journal.json")),
              let journal = try? JournalState.decoder().decode(JournalState.self, from: data) else {
            return ["  (no journal)"]
        }
        let start = Date(timeIntervalSince1970: t0)
        var order: [String] = []
        var byStage: [String: [JournalEntry]] = [:]
        for e in journal.entries.sorted(by: { $0.started < $1.started }) where e.outcome == .done && e.adopted != true {
            if byStage[e.stage] == nil { order.append(e.stage) }
            byStage[e.stage, default: []].append(e)
        }
        var lines = ["  " + ((try? String(contentsOf: dir.appendingPathComponent("cpu"), encoding: .utf8)) ?? ""),
                     "  stage              n   first start  last end   min    median  max"]
        for stage in order {
            let es = byStage[stage] ?? []
            let d = es.map(\.duration).sorted()
            let first = (es.map(\.started).min() ?? start).timeIntervalSince(start)
            let last = (es.map(\.ended).max() ?? start).timeIntervalSince(start)
            lines.append("  " + stage.padding(toLength: 17, withPad: " ", startingAt: 0)
                + String(format: " %2d  %8.2f   %8.2f  %6.2f  %6.2f  %6.2f", es.count, first, last, d.first ?? 0, d[d.count / 2], d.last ?? 0))
        }
        let lastEnd = journal.entries.map(\.ended).max().map { $0.timeIntervalSince(start) } ?? 0
        lines.append(String(format: "  process start → first stage: %.2f s; last stage → process exit: %.2f s", 
                            (journal.entries.map(\.started).min() ?? start).timeIntervalSince(start), total - lastEnd))
        return lines
    }

    /// Busy CPU seconds of the whole machine so far (/proc/stat: everything but idle and iowait).
    static func hostBusyCPU() -> Double {
        guard let text = try? String(contentsOfFile: "/proc/stat", encoding: .utf8), let line = text.split(separator: "\n").first else { return 0 }
        let v = line.split(separator: " ").dropFirst().compactMap { Double($0) }
        guard v.count >= 5 else { return 0 }
        return (v.reduce(0, +) - v[3] - v[4]) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// CPU seconds (user + system) of this process's finished children: labctl and the vmrun calls it
    /// waited for (not the guests, whose runners vmrun detaches).
    static func childrenCPU() -> Double {
        var u = rusage()
        getrusage(RUSAGE_CHILDREN.rawValue, &u)
        return Double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + Double(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6
    }

    static func labJSON(_ shape: Shape, index: Int, name: String, baseVMX: String, key: String) -> String {
        let n = "10.213.64"
        // Each shape gets addresses no earlier shape used (.11, .21, .31 …): a reused address still has
        // the deleted VM's MAC in the host's ARP cache for up to ~30 s (docs/up.md), which would be
        // measured as well.
        var host = 11 + 10 * index
        var clusters: [String] = []
        for c in 1...shape.clusters {
            // The testbed's guests do not use memoryMiB; 1024 keeps `up`'s preflight memory check
            // (labctl doctor) passing for 10 nodes on a small host.
            var nodes = [#"{"name": "cluster\#(c)-ctrl-plane", "role": "control-plane", "address": "\#(n).\#(host)", "memoryMiB": 1024}"#]
            host += 1
            for w in 1...shape.workers {
                nodes.append(String(format: #"{"name": "cluster%d-worker-node%02d", "role": "worker", "address": "%@.%d", "memoryMiB": 1024}"#, c, w, n, host))
                host += 1
            }
            let pool = 80 + (c - 1) * 20 + 1
            clusters.append(#"{"name": "cluster\#(c)", "network": "network\#(c)", "metallb": ["\#(n).\#(pool)-\#(n).\#(pool + 19)"], "nodes": [\#(nodes.joined(separator: ", "))]}"#)
        }
        return """
        {"apiVersion": "labctl.dev/v1", "name": "\(name)", "profile": "seed-2021",
         "network": {"vmnet": "vmnet8", "subnet": "\(n).0/24", "gateway": "\(n).2", "hostAddress": "\(n).1", "dns": ["\(n).2"], "dhcp": "\(n).128-\(n).254"},
         "base": {"name": "base", "vmx": "\(baseVMX)", "workerCheckpoint": "snapshot#1", "controlPlaneCheckpoint": "snapshot#2"},
         "ssh": {"user": "lab", "port": 22, "privateKey": "\(key)"},
         "vmware": {"product": "ws", "vmFolder": "vms", "cloneKind": "linked", "timeouts": {"startSeconds": 180, "softStopSeconds": 30, "defaultSeconds": 120}},
         "mesh": {"id": "mesh1"},
         "clusters": [\(clusters.joined(separator: ",\n"))]}
        """
    }

    struct Outcome {
        var status: Int32
        var out: String
        var err: String
    }

    /// Runs a process to its end (bounded), output through temp files so no pipe fills up.
    static func run(_ argv: [String], env: [String: String] = [:], timeout: TimeInterval = 300) -> Outcome {
        let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("bench-\(UUID().uuidString)")
        try? FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: tmp) }
        let out = tmp.appendingPathComponent("out"), err = tmp.appendingPathComponent("err")
        _ = FileManager.default.createFile(atPath: out.path, contents: nil)
        _ = FileManager.default.createFile(atPath: err.path, contents: nil)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: argv[0])
        p.arguments = Array(argv.dropFirst())
        p.environment = ProcessInfo.processInfo.environment.merging(env) { $1 }
        p.standardOutput = try? FileHandle(forWritingTo: out)
        p.standardError = try? FileHandle(forWritingTo: err)
        p.standardInput = FileHandle.nullDevice
        do { try p.run() } catch { return Outcome(status: 127, out: "", err: "\(error)") }
        let deadline = Date().addingTimeInterval(timeout)
        while p.isRunning && Date() < deadline { usleep(50_000) }
        if p.isRunning { kill(p.processIdentifier, SIGKILL) }
        p.waitUntilExit()
        return Outcome(status: p.terminationStatus,
                       out: (try? String(contentsOf: out, encoding: .utf8)) ?? "", err: (try? String(contentsOf: err, encoding: .utf8)) ?? "")
    }
}
