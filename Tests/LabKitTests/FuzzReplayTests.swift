import Foundation
import LabKit
import Testing

/// The fuzz targets in CI, without libFuzzer (docs/robustness.md, "Fuzzing"): the ordinary build's
/// `labctl-fuzz TARGET FILE...` feeds every seed `scripts/fuzz` would start a target from, and
/// `scripts/fuzz` seeds exactly the targets `labctl-fuzz` has.
@Suite(.enabled(if: builtProduct("labctl-fuzz") != nil, "labctl-fuzz is not built (`swift build --build-tests` builds it)"))
struct FuzzReplayTests {
    let root = LabFixture.repoRoot.path
    let runner = HostProcessRunner()

    func lines(_ arguments: [String]) async throws -> [String] {
        let result = try await runner.run(Command(arguments, deadline: .seconds(60)))
        #expect(result.succeeded, "\(arguments.joined(separator: " ")): \(result.stderrText)")
        return result.stdoutText.split(separator: "\n").map(String.init)
    }

    @Test func everyTargetReadsEveryOneOfItsSeeds() async throws {
        let binary = try #require(builtProduct("labctl-fuzz"))
        let targets = try await lines([binary, "--list"]).compactMap { $0.split(separator: "\t").first.map(String.init) }
        #expect(targets.count == 13)
        #expect(try await lines(["\(root)/scripts/fuzz", "--list"]) == targets, "scripts/fuzz must seed the targets labctl-fuzz has")
        for target in targets {
            let seeds = try await lines(["\(root)/scripts/fuzz", "--seeds", target]).map { "\(root)/\($0)" }
            #expect(!seeds.isEmpty && seeds.allSatisfy { FileManager.default.fileExists(atPath: $0) }, "\(target): \(seeds)")
            let replay = try await lines([binary, target] + seeds)
            #expect(replay.count == seeds.count, "\(target): \(replay)")
        }
    }
}
