import Foundation
import LabKit
import Testing
@testable import LabStages

/// Every script and manifest, rendered for both profiles with the repository's lab.json, equals its
/// golden file. Regenerate after an intended change with:
///
///     LABCTL_UPDATE_GOLDEN=1 swift test --filter LabStagesTests.GoldenTests
///
/// and review the diff (`git diff Tests/LabStagesTests/Golden`).
@Suite struct GoldenTests {
    static let update = ProcessInfo.processInfo.environment["LABCTL_UPDATE_GOLDEN"] == "1"

    /// file name (relative to Golden/) → rendered text
    static func rendered() throws -> [String: String] {
        var files: [String: String] = [:]
        for profile in Fixture.profiles {
            let scripts = try Fixture.scripts(profile: profile)
            for script in try scripts.renderAll() {
                files["\(profile)/scripts/\(script.name).sh"] = script.text
                for (manifest, text) in script.manifests {
                    files["\(profile)/manifests/\(manifest)@\(script.name.split(separator: "@").last ?? "lab").yaml"] = text
                }
            }
        }
        return files
    }

    @Test func scriptsAndManifestsMatchGoldenFiles() throws {
        let files = try Self.rendered()
        #expect(files.count > 60, "expected every script for both profiles, got \(files.count)")
        if Self.update {
            try? FileManager.default.removeItem(atPath: Fixture.goldenSource)
            for (name, text) in files {
                let path = Fixture.goldenSource + "/" + name
                try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
                try text.write(toFile: path, atomically: true, encoding: .utf8)
            }
            return
        }
        let golden = try #require(Bundle.module.resourceURL?.appendingPathComponent("Golden").path)
        for (name, text) in files.sorted(by: { $0.key < $1.key }) {
            let expected = try? String(contentsOfFile: golden + "/" + name, encoding: .utf8)
            #expect(expected != nil, "missing golden file \(name); run LABCTL_UPDATE_GOLDEN=1 swift test --filter GoldenTests")
            if let expected, expected != text {
                let diff = zip(expected.split(separator: "\n", omittingEmptySubsequences: false), text.split(separator: "\n", omittingEmptySubsequences: false))
                    .enumerated().first { $0.element.0 != $0.element.1 }
                Issue.record("\(name) differs from its golden file at line \((diff?.offset ?? 0) + 1): golden '\(diff?.element.0 ?? "")', rendered '\(diff?.element.1 ?? "")'")
            }
        }
        // No stale golden files either.
        let enumerator = FileManager.default.enumerator(atPath: golden)
        while let file = enumerator?.nextObject() as? String {
            if file.hasSuffix(".sh") || file.hasSuffix(".yaml") {
                #expect(files[file] != nil, "golden file \(file) is no longer rendered; regenerate the golden files")
            }
        }
    }
}
