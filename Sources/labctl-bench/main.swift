// labctl-bench: benchmarks against local servers it starts itself (docs/ssh.md).
//
//   labctl-bench ssh [--commands N] [--spawn-commands N] [--upload-mib N]
//   labctl-bench restore [--lab FILE] [--runs N]    (docs/snapshots.md)
//   labctl-bench up [--runs N] [--keep DIR] [--latency-model FILE]   (root: labctl up on the testbed, 2/4/10 nodes; docs/benchmarks.md)
//   labctl-bench lock PATH [--hold S] [--wait S]    (a second process on a lab lock; docs/robustness.md)
//
// Subcommands are dispatched by name so later benchmarks can be added next to `ssh`.
import Foundation
#if canImport(Glibc)
import Glibc
#endif

let benchmarks: [String: ([String]) async -> Int32] = [
    "ssh": SSHBenchmark.main,
    "restore": RestoreBenchmark.main,
    "up": UpBenchmark.main,
    "lock": LockProbe.main,
]

let args = Array(CommandLine.arguments.dropFirst())
guard let name = args.first, let bench = benchmarks[name] else {
    let list = benchmarks.keys.sorted().joined(separator: ", ")
    FileHandle.standardError.write(Data("usage: labctl-bench <benchmark> [options]\nbenchmarks: \(list)\n".utf8))
    exit(args.first == "--help" || args.first == "-h" ? 0 : 2)
}
exit(await bench(Array(args.dropFirst())))

/// Prints and flushes, so progress shows when the output is piped into a log.
func say(_ text: String) {
    print(text)
    fflush(nil)
}
