import Foundation
import LabKit
import Testing

/// lab.json `base.arch` (issue 15.3): the base image's guest architecture, `amd64` unless named.
@Suite struct GuestArchTests {
    @Test func archDefaultsToAmd64() throws {
        let lab = try LabLoader.decode(LabFixture.data([]), source: "lab.json")
        #expect(lab.base.arch == .amd64)
        #expect(LabDefaults.arch == .amd64)
    }

    @Test func arm64IsAccepted() throws {
        let lab = try LabLoader.decode(LabFixture.data([("base.arch", "arm64")]), source: "lab.json")
        #expect(lab.base.arch == .arm64)
        #expect(lab.base.arch.unameMachine == "aarch64" && GuestArch.amd64.unameMachine == "x86_64")
    }

    /// uname's and goreleaser's names are not lab.json's: the error names the path, the value and the choices.
    @Test(arguments: ["x86_64", "aarch64", "arm", ""])
    func otherNamesFailAtTheirJSONPath(value: String) throws {
        let errors = try #require(throws: (any Error).self) {
            try LabLoader.decode(LabFixture.data([("base.arch", value)]), source: "lab.json")
        }
        let all = try (errors as? LabErrors)?.errors ?? [#require(errors as? LabError)]
        let error = try #require(all.first { $0.location?.description.contains("base.arch") == true }, "no error at base.arch: \(all)")
        #expect(error.message.contains("\"amd64\", \"arm64\""), "\(error.message)")
    }

    @Test func schemaNamesArchWithItsChoicesAndDefault() throws {
        let schema = try #require(try JSONSerialization.jsonObject(with: Data(LabSchema.json.utf8)) as? [String: Any])
        let base = try #require((schema["properties"] as? [String: Any])?["base"] as? [String: Any])
        let arch = try #require((base["properties"] as? [String: Any])?["arch"] as? [String: Any])
        #expect(arch["enum"] as? [String] == ["amd64", "arm64"])
        #expect(arch["default"] as? String == "amd64")
    }
}
