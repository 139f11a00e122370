import Foundation
import LabKit
import LabHarness
#if canImport(Glibc)
import Glibc
#endif

/// `labctl-bench restore`: wall time of `labctl snapshot restore` for one node and for all nodes,
/// in one run (issue 7: all nodes should take at most 1.5 × one node, since VMs restore in parallel).
///
/// With `--lab FILE` it uses a lab that is up (and the environment's `LABCTL_VMRUN`); without, it
/// builds a four-node lab on the testbed (root, Tests/Testbed/README.md) and runs `labctl up` first.
enum RestoreBenchmark {
    struct Options {
        var lab: String?
        var runs = 3
        var labctl: String?
    }

    static func main(_ args: [String]) async -> Int32 {
        var o = Options()
        var i = 0
        while i < args.count {
            let value = i + 1 < args.count ? args[i + 1] : nil
            switch args[i] {
            case "--lab": o.lab = value; i += 1
            case "--runs": o.runs = max(1, value.flatMap(Int.init) ?? o.runs); i += 1
            case "--labctl": o.labctl = value; i += 1
            case "-h", "--help":
                say("usage: labctl-bench restore [--lab lab.json] [--runs 3] [--labctl PATH]")
                say("  without --lab: a four-node testbed lab is built and brought up first (needs root)")
                return 0
            default:
                FileHandle.standardError.write(Data("labctl-bench restore: unknown option \(args[i])\n".utf8))
                return 2
            }
            i += 1
        }
        do {
            return try await run(o)
        } catch {
            FileHandle.standardError.write(Data("labctl-bench restore: \(error)\n".utf8))
            return 1
        }
    }

    struct Failure: Error, CustomStringConvertible { var description: String }

    static func run(_ o: Options) async throws -> Int32 {
        let labctl = o.labctl ?? URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("labctl").path
        guard FileManager.default.isExecutableFile(atPath: labctl) else {
            throw Failure(description: "no labctl at \(labctl) (build it, or pass --labctl)")
        }
        var environment = ["CI": "1"]
        let labFile: String
        if let lab = o.lab {
            labFile = lab
        } else {
            let missing = Testbed.missingPrerequisites()
            guard missing.isEmpty else { throw Failure(description: "the testbed needs: \(missing.joined(separator: ", ")); or pass --lab") }
            say("setting up a four-node testbed lab…")
            let tb = try await Testbed.shared()
            let base = try await tb.makeBaseVM(name: "bench-base", mac: "00:50:56:3f:00:70")
            for snap in ["snapshot#1", "snapshot#2"] {
                let r = try await tb.vmrun(["-T", "ws", "snapshot", base, snap])
                guard r.succeeded else { throw Failure(description: "snapshot of the base: \(r.stdout)") }
            }
            labFile = try await tb.writeLabJSON(baseVMX: base).path
            environment.merge(await tb.environment) { $1 }
            let up = try await HostProcess.run([labctl, "up", "--to", "node.checkpoint", "--progress", "plain", "--lab", labFile], environment: environment,
                                               timeout: .seconds(1200))
            guard up.succeeded else { throw Failure(description: "labctl up failed:\n\(up.stdout.suffix(3000))\(up.stderr)") }
        }
        let loaded = try LabLoader.load(path: labFile)
        guard let first = loaded.lab.nodes.first?.name else { throw Failure(description: "the lab has no nodes") }
        let count = loaded.lab.nodes.count
        func labctlRun(_ args: [String]) async throws -> Duration {
            let t0 = ContinuousClock.now
            let r = try await HostProcess.run([labctl] + args + ["--lab", labFile], environment: environment, timeout: .seconds(1200))
            guard r.succeeded else { throw Failure(description: "labctl \(args.joined(separator: " ")) failed:\n\(r.stdout.suffix(2000))\(r.stderr)") }
            return ContinuousClock.now - t0
        }
        let name = "bench-restore"
        _ = try? await labctlRun(["snapshot", "delete", name])
        _ = try await labctlRun(["snapshot", "save", name])
        var one: [Double] = []
        var all: [Double] = []
        for run in 1...o.runs {
            one.append(try await labctlRun(["snapshot", "restore", name, "--nodes", first]).seconds)
            all.append(try await labctlRun(["snapshot", "restore", name]).seconds)
            say(String(format: "run %d: one node %.2f s, all %d nodes %.2f s", run, one.last ?? 0, count, all.last ?? 0))
        }
        _ = try? await labctlRun(["snapshot", "delete", name])
        let m1 = median(one), mAll = median(all)
        let ratio = m1 > 0 ? mAll / m1 : 0
        say(String(format: "restore, median of %d: one node (%@) %.2f s; all %d nodes %.2f s; ratio %.2f", o.runs, first, m1, count, mAll, ratio))
        say(ratio <= 1.5 ? "goal met: all nodes ≤ 1.5 × one node" : "goal NOT met: all nodes > 1.5 × one node")
        return ratio <= 1.5 ? 0 : 3
    }


    static func median(_ xs: [Double]) -> Double {
        let s = xs.sorted()
        guard !s.isEmpty else { return 0 }
        return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
    }
}
