import Foundation
import Testing
import LabKit
@testable import LabStages

/// A lab.json crafted to inject shell never reaches a shell unquoted (issue 19, docs/robustness.md,
/// "Shell injection"). Values that rendered scripts carry as bare words are refused by `labctl
/// validate` with their lab.json path, and again by the renderer; values that pass validation (paths
/// with spaces and quotes) never appear in a rendered script at all.
@Suite struct InjectionTests {
    static let hostile = ["a$(touch /tmp/labctl-pwned)", "a`id`", "a'b", "a\"b", "a;reboot", "a\nb", "-oProxyCommand=x", "a b", "a|b", "a&b", "a>b"]

    /// The lab.json fields that end up in scripts as words, and how to set each in the JSON.
    static let fields: [(path: String, set: @Sendable (inout [String: Any], String) -> Void)] = [
        ("name", { $0["name"] = $1 }),
        ("ssh.user", { set(&$0, "ssh", "user", $1) }),
        ("mesh.id", { set(&$0, "mesh", "id", $1) }),
        ("base.name", { set(&$0, "base", "name", $1) }),
        ("base.interface", { set(&$0, "base", "interface", $1) }),
        ("clusters[0].name", { setCluster(&$0, "name", $1) }),
        ("clusters[0].network", { setCluster(&$0, "network", $1) }),
        ("clusters[0].nodes[1].name", { json, value in
            var clusters = json["clusters"] as? [[String: Any]] ?? []
            var nodes = clusters[0]["nodes"] as? [[String: Any]] ?? []
            nodes[1]["name"] = value
            clusters[0]["nodes"] = nodes
            json["clusters"] = clusters
        }),
    ]

    static func set(_ json: inout [String: Any], _ object: String, _ key: String, _ value: String) {
        var o = json[object] as? [String: Any] ?? [:]
        o[key] = value
        json[object] = o
    }

    static func setCluster(_ json: inout [String: Any], _ key: String, _ value: String) {
        var clusters = json["clusters"] as? [[String: Any]] ?? []
        clusters[0][key] = value
        json["clusters"] = clusters
    }

    static func repoJSON() throws -> [String: Any] {
        let data = try Data(contentsOf: URL(fileURLWithPath: Fixture.repoRoot + "/lab.json"))
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    @Test func hostileWordsInLabJSONAreRefusedByValidateWithTheirPath() throws {
        for field in Self.fields {
            for value in Self.hostile {
                var json = try Self.repoJSON()
                field.set(&json, value)
                let data = try JSONSerialization.data(withJSONObject: json)
                do {
                    _ = try LabLoader.check(data, source: "lab.json")
                    Issue.record("lab.json with \(field.path) = \(value.debugDescription) was accepted")
                } catch let errors as LabErrors {
                    #expect(errors.errors.allSatisfy { $0.code == .invalidInput })
                    #expect(errors.errors.contains { $0.location?.description.hasPrefix("lab.json: \(field.path) (line") == true },
                            "no error names \(field.path) for \(value.debugDescription): \(errors)")
                }
            }
        }
    }

    /// The renderer checks again: a `Lab` built in code, never validated, cannot smuggle a word in.
    @Test func theRendererRefusesHostileWordsOfAnUnvalidatedLab() throws {
        let clean = try Fixture.lab(profile: "seed-2021")
        let setters: [(String, (inout Lab, String) -> Void)] = [
            ("ssh.user", { $0.ssh.user = $1 }), ("mesh.id", { $0.mesh.id = $1 }),
            ("base.interface", { $0.base.interface = $1 }), ("clusters[1].network", { $0.clusters[1].network = $1 }),
            ("clusters[1].nodes[0].name", { $0.clusters[1].nodes[0].name = $1 }),
        ]
        for (path, set) in setters {
            for value in Self.hostile {
                var lab = clean
                set(&lab, value)
                let error = #expect(throws: LabError.self) { try StageScripts(lab: lab, publicKey: Fixture.publicKey) }
                #expect(error?.location == .lab(path))
                #expect(error?.code == .invalidInput)
            }
        }
    }

    @Test func hostileVersionOverridesAreRefused() throws {
        for value in ["1.21.0$(id)", "1.21.0 && reboot", "1.21.0\n", "`id`"] {
            let lab = try Fixture.lab(profile: "seed-2021", versions: ["kubernetes": value])
            let error = #expect(throws: LabError.self) { try StageScripts(lab: lab, publicKey: Fixture.publicKey) }
            #expect(error?.location == .lab("versions.kubernetes"))
        }
    }

    /// Values that pass validation: paths with spaces, quotes, `$()` and backticks are legal file
    /// names, so lab.json may hold them. They go to vmrun and ssh as argv elements (VMwareDriverTests
    /// `InjectionArgvTests`) and never into a script: not one of them, nor any part of one, is rendered.
    @Test func pathsThatPassValidationNeverAppearInARenderedScript() throws {
        let marker = "LABCTLPATH"
        let hostilePath = "/tmp/\(marker) it's \"a\" $(touch x) `id`;\(marker)"
        var json = try Self.repoJSON()
        Self.set(&json, "base", "vmx", hostilePath + "/base.vmx")
        Self.set(&json, "ssh", "privateKey", hostilePath + "/id_ed25519")
        json["vmware"] = ["vmFolder": hostilePath + "/vms", "vmrun": hostilePath + "/vmrun"]
        let lab = try LabLoader.check(try JSONSerialization.data(withJSONObject: json), source: "lab.json").lab
        #expect(lab.base.vmx.contains(marker))
        let scripts = try StageScripts(lab: lab, publicKey: Fixture.publicKey).renderAll()
        #expect(scripts.count >= StageScript.allCases.count)
        for script in scripts {
            #expect(!script.text.contains(marker), "\(script.name) carries a lab.json path")
        }
    }

    /// The edgiest values validation lets through (dots, underscores, digits first, upper case where
    /// allowed) render scripts that shellcheck passes, and each value stays one word.
    @Test(.enabled(if: ScriptTests.hasShellcheck, "shellcheck is not installed (scripts/install-deps test installs it)"))
    func edgiestValidValuesRenderScriptsThatPassShellcheck() throws {
        var json = try Self.repoJSON()
        Self.set(&json, "ssh", "user", "Lab.User_1")
        Self.set(&json, "mesh", "id", "9mesh_1.x-Y")
        Self.set(&json, "base", "interface", "enp0s3.100")
        Self.setCluster(&json, "network", "Net_1.a-b")
        let lab = try LabLoader.check(try JSONSerialization.data(withJSONObject: json), source: "lab.json").lab
        let dir = try Fixture.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var files: [String] = []
        for script in try StageScripts(lab: lab, publicKey: Fixture.publicKey).renderAll() {
            let path = "\(dir)/\(script.name).sh"
            try script.text.write(toFile: path, atomically: true, encoding: .utf8)
            files.append(path)
            #expect(!script.text.contains("Lab.User_1'"), "\(script.name): the user name touches a quote")
        }
        let result = try Fixture.run(["shellcheck", "--shell=bash", "--severity=style", "--format=gcc"] + files)
        #expect(result.status == 0, "shellcheck found problems:\n\(result.stdout)\(result.stderr)")
        let syntax = try Fixture.run(["bash", "-n"] + [files[0]])
        #expect(syntax.status == 0)
    }
    /// Every place that hands a string to a shell (`sh -c`) was reviewed (docs/robustness.md, "Shell
    /// injection"): constant text, `shellQuote`d values, or lab.json names the validator keeps to
    /// script words. A new one fails this test until it is reviewed and added here and in the doc.
    @Test func everyShellStringInTheSourcesWasReviewed() throws {
        let reviewed: [String: Int] = [
            "GuestSSH/SSHSession.swift": 1,  // constant script, the key on stdin
            "LabStages/Base/BaseStages.swift": 1,  // constant
            "LabStages/Kubernetes/KubernetesOperations.swift": 2,  // probes: shellQuote'd user and node, constants
            "LabStages/Mesh/MeshOperations.swift": 2,  // probes: cluster names (script words), constants
            "LabStages/Node/NodeOperations.swift": 3,  // constant identity query
            "LabHarness/Testbed.swift": 1,  // tests only, never linked into labctl: the test's own command in a testbed guest
        ]
        let sources = Fixture.repoRoot + "/Sources"
        let pattern = try NSRegularExpression(pattern: #""(/bin/)?(ba)?sh", *"-c"|"sh -c "#)
        var found: [String: Int] = [:]
        let files = FileManager.default.enumerator(atPath: sources)?.compactMap { $0 as? String }.filter { $0.hasSuffix(".swift") } ?? []
        #expect(files.count > 50)
        for file in files {
            let text = try String(contentsOfFile: sources + "/" + file, encoding: .utf8)
            let n = pattern.numberOfMatches(in: text, range: NSRange(text.startIndex..., in: text))
            if n > 0 { found[file] = n }
        }
        #expect(found == reviewed, "review each new `sh -c` (docs/robustness.md, Shell injection), then update this list")
    }
}
