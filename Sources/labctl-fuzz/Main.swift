import Foundation

// Two builds of one program. `scripts/fuzz` builds it with `-sanitize=fuzzer,address` and
// `-DLABCTL_FUZZ`: then it is a libFuzzer binary for the target named in LABCTL_FUZZ_TARGET.
// The ordinary `swift build` builds the replay mode: `labctl-fuzz TARGET FILE...` feeds files to a
// target once, without libFuzzer (to reproduce a crash in a debugger), and keeps the targets compiled.

#if LABCTL_FUZZ
// SwiftPM links an executable with `main` pointing at the module's entry point, and libFuzzer's
// archive brings its own `main` that calls LLVMFuzzerTestOneInput, so both are given: the entry
// point hands over to libFuzzer's driver, and the callback exists under the name its `main` wants.
@_extern(c, "LLVMFuzzerRunDriver")
func llvmFuzzerRunDriver(_ argc: UnsafeMutablePointer<CInt>,
                         _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
                         _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> CInt

/// Looked up once: the environment does not change while libFuzzer runs.
let selectedTarget: FuzzTarget? = ProcessInfo.processInfo.environment["LABCTL_FUZZ_TARGET"].flatMap(FuzzTargets.named)

@_cdecl("LLVMFuzzerTestOneInput")
func fuzzOneInput(_ bytes: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let target = selectedTarget else { return 0 }
    let data = bytes.map { Data(bytes: $0, count: size) } ?? Data()
    target.run(data)
    return 0
}

@main
struct FuzzMain {
    static func main() {
        guard selectedTarget != nil else {
            FileHandle.standardError.write(Data("labctl-fuzz: set LABCTL_FUZZ_TARGET to one of: \(FuzzTargets.all.map(\.name).joined(separator: " "))\n".utf8))
            exit(2)
        }
        var argc = CommandLine.argc
        var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
        exit(llvmFuzzerRunDriver(&argc, &argv, fuzzOneInput))
    }
}
#else
@main
struct FuzzMain {
    static func main() {
        let args = Array(CommandLine.arguments.dropFirst())
        if args.first == "--list" {
            for target in FuzzTargets.all { print("\(target.name)\t\(target.input)") }
            return
        }
        guard let name = args.first, let target = FuzzTargets.named(name), args.count >= 2 else {
            FileHandle.standardError.write(Data("""
                usage: labctl-fuzz TARGET FILE...   feed files to a fuzz target once (no libFuzzer)
                       labctl-fuzz --list           the targets
                the libFuzzer build: scripts/fuzz [TARGET] [SECONDS]

                """.utf8))
            exit(2)
        }
        for file in args.dropFirst() {
            guard let data = FileManager.default.contents(atPath: file) else {
                FileHandle.standardError.write(Data("labctl-fuzz: cannot read \(file)\n".utf8))
                exit(1)
            }
            target.run(data)
            print("\(name): \(file): ok")
        }
    }
}
#endif
