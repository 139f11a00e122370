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
            say("usage: labctl-bench up [--runs N] [--keep DIR] [--latency-model FILE]")
            say("       (root; runs Tests/Testbed/testbed) wall times of labctl up --to node.checkpoint for 2, 4 and 10 nodes, the")
            say("       median of N rounds (default 3), labctl's own CPU and vmrun calls per node, a per-stage breakdown of each")
            say("       shape's median run; --keep copies each lab's .labctl, vmrun call log and output to DIR.")
            say("       --latency-model FILE: the fake vmrun sleeps as a VMware host would (Tests/Testbed/latency/workstation.json);")
            say("       adds the model's ideal ratios, rebuild cluster2 ÷ up and restore of all nodes ÷ one node (docs/benchmarks.md)")
            return 0
        }
        func value(_ flag: String) -> String?? {
            guard let i = args.firstIndex(of: flag) else { return .none }
            return .some(i + 1 < args.count ? args[i + 1] : nil)
        }
        var keep: URL?
        if case .some(let dir) = value("--keep") {
            guard let dir else { return usage("--keep needs a directory") }
            keep = URL(fileURLWithPath: dir)
        }
        var runs = 3
        if case .some(let n) = value("--runs") {
            guard let n, let v = Int(n), (1...20).contains(v) else { return usage("--runs needs a number from 1 to 20") }
            runs = v
        }
        var model: LatencyModel?
        if case .some(let file) = value("--latency-model") {
            guard let file else { return usage("--latency-model needs a file (e.g. Tests/Testbed/latency/workstation.json)") }
            do { model = try LatencyModel.load(file) } catch { return usage("\(error)") }
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
        say("machine load before the runs (/proc/loadavg): \(loadAverage())")
        if let model { say("latency model \(model.path): " + model.summary) }
        let work = URL(fileURLWithPath: "/tmp/labctl-bench-up-\(getpid())")
        defer { try? FileManager.default.removeItem(at: work) }
        // Rounds of the three shapes, interleaved, so that a slow stretch of the shared machine weighs on
        // every shape alike; each shape's figure is its median. With a model, the last round's 10-node lab
        // stays up for the rebuild and restore figures.
        var samples: [[Sample]] = shapes.map { _ in [] }
        var kept: KeptLab?
        for round in 0..<runs {
            for (i, shape) in shapes.enumerated() {
                let keepUp = model != nil && round == runs - 1 && i == shapes.count - 1
                guard let sample = measure(shape, slot: i, run: "\(round)-\(i)", work: work, key: key, keep: keep, model: model,
                                           leaveUp: keepUp) else { return 1 }
                samples[i].append(sample)
                if keepUp { kept = sample.lab }
                say("round \(round + 1)/\(runs)  \(shape.label.padding(toLength: 24, withPad: " ", startingAt: 0)) \(shape.nodes) nodes  "
                    + String(format: "%7.1f s", sample.seconds))
            }
        }
        let medianRound = samples.map { s in s.indices.sorted { s[$0].seconds < s[$1].seconds }[s.count / 2] }
        let times = samples.indices.map { samples[$0][medianRound[$0]].seconds }
        say("")
        for (i, shape) in shapes.enumerated() {
            let t = samples[i].map(\.seconds)
            say("\(shape.label.padding(toLength: 24, withPad: " ", startingAt: 0)) \(shape.nodes) nodes  "
                + String(format: "median %5.1f s   (%.1f-%.1f s over %d runs)", times[i], t.min() ?? 0, t.max() ?? 0, runs))
        }
        for (i, shape) in shapes.enumerated() {
            say("")
            say("\(shape.nodes) nodes, median run, per stage (seconds from the start of labctl up; durations over the nodes):")
            breakdown(work.appendingPathComponent("lab\(medianRound[i])-\(i)"), total: times[i]).forEach(say)
        }
        say("")
        var goals: [Bool] = []
        goals.append(contentsOf: costReport(samples))
        if let model {
            goals.append(contentsOf: ratioReport(times, model: model))
            if let kept {
                goals.append(contentsOf: rebuildAndRestore(kept, upSeconds: times[shapes.count - 1], runs: runs, model: model))
            } else {
                say("rebuild and restore: not measured (the 10-node lab did not stay up)")
                goals.append(false)
            }
        } else {
            say("(no --latency-model: the ratios, rebuild and restore goals are measured under a model only; docs/benchmarks.md)")
        }
        say("machine load after the runs (/proc/loadavg): \(loadAverage())")
        return goals.allSatisfy { $0 } ? 0 : 3
    }

    static func usage(_ message: String) -> Int32 {
        FileHandle.standardError.write(Data("labctl-bench up: \(message)\n".utf8))
        return 2
    }

    /// One timed `labctl up`.
    struct Sample {
        var seconds: Double
        /// CPU seconds (user + system) of the labctl process itself, not of the vmrun calls it made.
        var labctlCPU: Double
        /// vmrun calls labctl made, by command.
        var vmrunCalls: [String: Int]
        var totalCalls: Int { vmrunCalls.values.reduce(0, +) }
        /// Set when the lab was left up (`leaveUp`).
        var lab: KeptLab?
    }

    /// A lab left running for the rebuild and restore measurements.
    struct KeptLab {
        var labFile: String
        var environment: [String: String]
        var nodes: [String]
        var baseVMX: String
        var directory: URL
    }

    /// Issue 16's cost goals: labctl's own CPU and its vmrun calls per node, and that neither grows per node
    /// (the slope between shapes), from each shape's median run.
    static func costReport(_ samples: [[Sample]]) -> [Bool] {
        let median = samples.map { s in s.sorted { $0.seconds < $1.seconds }[s.count / 2] }
        say("labctl's own cost (median runs; CPU of the labctl process only, from /proc/<pid>/stat; calls from the fake vmrun's call log):")
        for (i, shape) in shapes.enumerated() {
            let m = median[i]
            let byCommand = m.vmrunCalls.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
            say(String(format: "  %2d nodes: labctl CPU %.2f s (%.3f s per node); vmrun calls %d (%.2f per node): ", shape.nodes, m.labctlCPU,
                       m.labctlCPU / Double(shape.nodes), m.totalCalls, Double(m.totalCalls) / Double(shape.nodes)) + byCommand)
        }
        let n = shapes.map { Double($0.nodes) }
        let calls = median.map { Double($0.totalCalls) }
        let cpu = median.map(\.labctlCPU)
        func slope(_ v: [Double], _ a: Int, _ b: Int) -> Double { (v[b] - v[a]) / (n[b] - n[a]) }
        let callSlopes = [slope(calls, 0, 1), slope(calls, 1, 2)]
        let cpuSlopes = [slope(cpu, 0, 1), slope(cpu, 1, 2)]
        let perNode = callSlopes.max() ?? 0
        let fixed = calls[0] - n[0] * callSlopes[0]
        // "No growth per node": each added node costs what the previous ones did (within one call, and within
        // 25 % or 0.02 s of CPU: the machine is shared).
        let callsHold = perNode <= 6 && callSlopes[1] <= callSlopes[0] + 1
        let cpuHold = cpuSlopes[1] <= max(cpuSlopes[0] * 1.25, cpuSlopes[0] + 0.02)
        say(String(format: "  vmrun calls per added node: %.1f (2→4 nodes), %.1f (4→10 nodes); %.0f for the lab as a whole", callSlopes[0], callSlopes[1], fixed))
        say(String(format: "  goal ≤ 6 vmrun calls per node, no growth: %@", callsHold ? "PASS" : "MISS"))
        say(String(format: "  labctl CPU per added node: %.3f s (2→4 nodes), %.3f s (4→10 nodes); goal no growth: %@", cpuSlopes[0], cpuSlopes[1],
                   cpuHold ? "PASS" : "MISS"))
        return [callsHold, cpuHold]
    }

    /// Issue 16's scaling goals under the latency model, next to the model's own ideal: the clones in a row
    /// (under base-vm) plus one node's path from start to checkpoint.
    static func ratioReport(_ times: [Double], model: LatencyModel) -> [Bool] {
        let ideal = shapes.map { model.idealUp(nodes: $0.nodes) }
        say("")
        say("under the latency model; ideal = the model's serial clones plus one node's start-to-checkpoint (docs/benchmarks.md):")
        for (i, shape) in shapes.enumerated() {
            say(String(format: "  %2d nodes: measured %5.1f s, ideal %5.1f s (labctl and the guests' own work: %+.1f s)", shape.nodes, times[i], ideal[i], times[i] - ideal[i]))
        }
        let r1 = times[1] / times[0], i1 = ideal[1] / ideal[0]
        let r2 = times[2] / times[1], i2 = ideal[2] / ideal[1]
        let g1 = r1 <= 1.15, g2 = r2 <= 1.1 * i2
        say(String(format: "  4 nodes / 2 nodes  = %.2f (ideal %.2f; goal ≤ 1.15): %@", r1, i1, g1 ? "PASS" : "MISS"))
        say(String(format: "  10 nodes / 4 nodes = %.2f (ideal %.2f; goal ≤ 1.1 × ideal = %.2f): %@", r2, i2, 1.1 * i2, g2 ? "PASS" : "MISS"))
        return [g1, g2]
    }

    /// `rebuild cluster2` ÷ `up` of the whole lab, and `snapshot restore` of all nodes ÷ one node, on the
    /// 10-node lab under the model (medians of `runs`).
    static func rebuildAndRestore(_ lab: KeptLab, upSeconds: Double, runs: Int, model: LatencyModel) -> [Bool] {
        func labctlTimed(_ args: [String]) -> Double? {
            let t0 = Date()
            let r = run([labctl] + args + ["--lab", lab.labFile], env: lab.environment, timeout: 1800)
            guard r.status == 0 else {
                FileHandle.standardError.write(Data("labctl \(args.joined(separator: " ")) failed (exit \(r.status)):\n\(r.out.suffix(3000))\(r.err.suffix(1000))\n".utf8))
                return nil
            }
            return Date().timeIntervalSince(t0)
        }
        defer { deleteLab(lab) }
        var rebuilds: [Double] = []
        for i in 1...runs {
            flushNeighbours()
            guard let t = labctlTimed(["rebuild", "cluster2", "--to", "node.checkpoint", "--progress", "plain"]) else { return [false, false] }
            rebuilds.append(t)
            say(String(format: "rebuild cluster2 run %d/%d: %.1f s", i, runs, t))
        }
        let snapshot = "bench-restore"
        guard labctlTimed(["snapshot", "save", snapshot]) != nil, let first = lab.nodes.first else { return [false, false] }
        var one: [Double] = [], all: [Double] = []
        for i in 1...runs {
            guard let a = labctlTimed(["snapshot", "restore", snapshot, "--nodes", first]),
                  let b = labctlTimed(["snapshot", "restore", snapshot]) else { return [false, false] }
            one.append(a)
            all.append(b)
            say(String(format: "restore run %d/%d: one node %.1f s, all %d nodes %.1f s", i, runs, a, lab.nodes.count, b))
        }
        let rebuild = RestoreBenchmark.median(rebuilds), m1 = RestoreBenchmark.median(one), mAll = RestoreBenchmark.median(all)
        let cluster2 = lab.nodes.filter { $0.hasPrefix("cluster2-") }.count
        let idealRebuild = model.idealUp(nodes: cluster2) / model.idealUp(nodes: lab.nodes.count)
        let g1 = rebuild / upSeconds <= 0.6, g2 = mAll / m1 <= 1.5
        say("")
        say(String(format: "rebuild cluster2 (%d of %d nodes, --to node.checkpoint) median %.1f s ÷ up %.1f s = %.2f (the model's ideal without destroy: %.2f; goal ≤ 0.6): %@",
                   cluster2, lab.nodes.count, rebuild, upSeconds, rebuild / upSeconds, idealRebuild, g1 ? "PASS" : "MISS"))
        say(String(format: "restore of all %d nodes median %.1f s ÷ one node %.1f s = %.2f (goal ≤ 1.5): %@", lab.nodes.count, mAll, m1, mAll / m1,
                   g2 ? "PASS" : "MISS"))
        return [g1, g2]
    }

    static func loadAverage() -> String {
        ((try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8)) ?? "?").trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The slot's addresses were held by the previous round's VMs (other MACs): forget the host's
    /// neighbour entries, or the first connection to each waits for the stale one (docs/up.md).
    static func flushNeighbours() {
        let flushed = run(["/usr/sbin/ip", "neigh", "flush", "dev", "ltb-host"])
        if flushed.status != 0 { say("warning: ip neigh flush dev ltb-host: \(flushed.err)") }
    }

    /// Stops and deletes the lab's node VMs and its base (without the latency model: cleaning up is not measured).
    static func deleteLab(_ lab: KeptLab) {
        let vms = lab.directory.appendingPathComponent("vms")
        for node in (try? FileManager.default.contentsOfDirectory(atPath: vms.path)) ?? [] {
            let nodeVMX = vms.appendingPathComponent("\(node)/\(node).vmx").path
            _ = run([vmrun, "-T", "ws", "stop", nodeVMX, "hard"])
            _ = run([vmrun, "-T", "ws", "deleteVM", nodeVMX])
        }
        _ = run([vmrun, "-T", "ws", "deleteVM", lab.baseVMX])
    }

    /// Makes a DHCP base with the two checkpoints, a lab of `shape` on the addresses of `slot`, times
    /// `labctl up`, deletes the VMs (unless `leaveUp`). `run` names the lab's directory and VMs.
    static func measure(_ shape: Shape, slot: Int, run id: String, work: URL, key: String, keep: URL?, model: LatencyModel?,
                        leaveUp: Bool) -> Sample? {
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
        let callLog = dir.appendingPathComponent("vmrun-calls.jsonl")
        var env = ["LABCTL_VMRUN": vmrun, "LABCTL_FAKE_VMRUN_LOG": callLog.path, "CI": "1"]
        if let model { env["LABCTL_FAKE_VMRUN_LATENCY"] = model.path }
        flushNeighbours()
        let cpu0 = hostBusyCPU(), own0 = childrenCPU()
        let t0 = Date()
        var ownCPU = 0.0
        let up = run([labctl, "up", "--to", "node.checkpoint", "--progress", "plain", "--lab", labFile.path], env: env, timeout: 1800,
                     watch: { pid in ownCPU = processCPU(pid) ?? ownCPU })
        let seconds = Date().timeIntervalSince(t0)
        let calls = vmrunCalls(callLog)
        let cpu = String(format: "host CPU busy %.1f s (of %.1f s on %d cores); labctl and its vmrun calls %.1f s, labctl alone %.2f s",
                         hostBusyCPU() - cpu0, seconds * Double(ProcessInfo.processInfo.activeProcessorCount),
                         ProcessInfo.processInfo.activeProcessorCount, childrenCPU() - own0, ownCPU)
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
        let nodes = (try? LabLoader.load(path: labFile.path))?.lab.nodes.map(\.name) ?? []
        let lab = KeptLab(labFile: labFile.path, environment: env, nodes: nodes, baseVMX: vmx, directory: dir)
        guard up.status == 0 else {
            deleteLab(lab)
            return nil
        }
        if !leaveUp { deleteLab(lab) }
        return Sample(seconds: seconds, labctlCPU: ownCPU, vmrunCalls: calls, lab: leaveUp ? lab : nil)
    }

    /// The vmrun calls in a call log, by command (the word after the -T flag).
    static func vmrunCalls(_ log: URL) -> [String: Int] {
        let text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
        var counts: [String: Int] = [:]
        for line in text.split(separator: "\n") {
            guard let o = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any], o["event"] as? String == "call",
                  let argv = o["argv"] as? [String] else { continue }
            var i = 1
            while i < argv.count, ["-T", "-vp", "-gu", "-gp"].contains(argv[i]) { i += 2 }
            counts[i < argv.count ? argv[i] : "(none)", default: 0] += 1
        }
        return counts
    }

    /// CPU seconds (utime + stime) of one running process, not its children (/proc/<pid>/stat fields 14 and 15).
    static func processCPU(_ pid: pid_t) -> Double? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = text.lastIndex(of: ")") else { return nil }
        // After "pid (comm)" come the fields from 3 (state) on; utime and stime are 14 and 15.
        let fields = text[text.index(after: close)...].split(separator: " ")
        guard fields.count > 12, let u = Double(fields[11]), let s = Double(fields[12]) else { return nil }
        return (u + s) / Double(sysconf(Int32(_SC_CLK_TCK)))
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
    /// `watch` is called with the process id every 50 ms while it runs (labctl's own CPU is read from /proc
    /// that way: once it has exited, only its children's totals remain).
    static func run(_ argv: [String], env: [String: String] = [:], timeout: TimeInterval = 300,
                    watch: (pid_t) -> Void = { _ in }) -> Outcome {
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
        while p.isRunning && Date() < deadline {
            watch(p.processIdentifier)
            usleep(50_000)
        }
        if p.isRunning { kill(p.processIdentifier, SIGKILL) }
        p.waitUntilExit()
        return Outcome(status: p.terminationStatus,
                       out: (try? String(contentsOf: out, encoding: .utf8)) ?? "", err: (try? String(contentsOf: err, encoding: .utf8)) ?? "")
    }
}
