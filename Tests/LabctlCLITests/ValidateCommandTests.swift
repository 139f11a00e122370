import ArgumentParser
import Foundation
import Testing
@testable import LabctlCLI
@testable import LabKit

/// `labctl validate` and `labctl schema`, run in-process through the parser.
@Suite struct ValidateCommandTests {
    static var repoRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }
    static var repoLab: String { repoRoot.appendingPathComponent("lab.json").path }

    static func validate(_ arguments: [String]) throws -> Labctl.Validate.Output {
        let command = try Labctl.parseAsRoot(["validate"] + arguments)
        let validate = try #require(command as? Labctl.Validate)
        return validate.execute()
    }

    static func temporaryFile(_ text: String) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("labctl-cli-\(UUID().uuidString).json")
        try Data(text.utf8).write(to: url)
        return url
    }

    @Test func repositoryLabIsValidWithThePublicSubnetWarningAndASummary() throws {
        let out = try Self.validate([Self.repoLab])
        #expect(out.exitCode == 0)
        #expect(out.stderr.hasPrefix("warning: subnet 194.89.64.0/24 is public address space"))
        #expect(out.stderr.contains("  at: \(Self.repoLab): network.subnet (line 8, column 15)"))
        #expect(out.stderr.components(separatedBy: "warning:").count == 2)
        #expect(out.stdout.contains("is valid (1 warning)"))
        #expect(out.stdout.contains("network  vmnet8 194.89.64.0/24  gateway 194.89.64.2  host 194.89.64.1  dhcp 194.89.64.128-194.89.64.254  dns 1.1.1.1,8.8.8.8"))
        #expect(out.stdout.contains("cluster  cluster1  network network1  pods 10.32.0.0/12  services 10.96.0.0/12  metallb 194.89.64.81-194.89.64.100"))
        let mac = MACAddress.derived(lab: "istio-multicluster", node: "cluster2-worker-node01")
        #expect(out.stdout.contains("  cluster2-worker-node01  worker         194.89.64.14     \(mac)  2 cpu  4096 MiB"))
        #expect(out.stdout.contains("profile seed-2021"))
    }

    @Test func labOptionIsAcceptedAndConflictsAreRejected() throws {
        #expect(try Self.validate(["--lab", Self.repoLab]).exitCode == 0)
        #expect(throws: (any Error).self) { try Labctl.parseAsRoot(["validate", Self.repoLab, "--lab", "other.json"]) }
    }

    @Test func invalidLabExitsTwoWithEveryError() throws {
        var text = try String(contentsOfFile: Self.repoLab, encoding: .utf8)
        text = text.replacingOccurrences(of: "\"address\": \"194.89.64.12\"", with: "\"adress\": \"194.89.64.12\"")
            .replacingOccurrences(of: "194.89.64.101-", with: "194.89.64.95-")
        let url = try Self.temporaryFile(text)
        defer { try? FileManager.default.removeItem(at: url) }
        let out = try Self.validate([url.path])
        #expect(out.exitCode == 2)
        #expect(out.stdout.isEmpty)
        #expect(out.stderr.contains("error: unknown key \"adress\"\n  at: \(url.path): clusters[0].nodes[1].adress (line 33"))
        #expect(out.stderr.contains("  hint: did you mean \"address\"?"))
        #expect(out.stderr.contains("error: missing required key \"address\" in clusters[0].nodes[1]"))
        #expect(out.stderr.hasSuffix("2 errors in \(url.path)\n"))
    }

    @Test func jsonFormatReportsErrorsAndWarnings() throws {
        let text = try String(contentsOfFile: Self.repoLab, encoding: .utf8).replacingOccurrences(of: "194.89.64.101-", with: "194.89.64.95-")
        let url = try Self.temporaryFile(text)
        defer { try? FileManager.default.removeItem(at: url) }

        struct Problem: Decodable { var code: String; var message: String; var location: String?; var hint: String? }
        struct Result: Decodable { var valid: Bool; var errors: [Problem]; var warnings: [Problem] }

        let bad = try Self.validate([url.path, "--format", "json"])
        #expect(bad.exitCode == 2 && bad.stderr.isEmpty)
        let badResult = try JSONDecoder().decode(Result.self, from: Data(bad.stdout.utf8))
        #expect(!badResult.valid)
        #expect(badResult.errors.count == 1)
        #expect(badResult.errors.first?.code == "invalidInput")
        #expect(badResult.errors.first?.message.hasPrefix("MetalLB pool 194.89.64.95-194.89.64.120 overlaps the pool of cluster cluster1") == true)
        #expect(badResult.errors.first?.location?.description.hasPrefix("\(url.path): clusters[1].metallb[0] (line ") == true)

        let good = try Self.validate([Self.repoLab, "--format", "json"])
        #expect(good.exitCode == 0)
        let goodResult = try JSONDecoder().decode(Result.self, from: Data(good.stdout.utf8))
        #expect(goodResult.valid && goodResult.errors.isEmpty)
        #expect(goodResult.warnings.map(\.location) == ["\(Self.repoLab): network.subnet (line 8, column 15)"])
    }

    @Test func missingFileAndDirectory() throws {
        let missing = try Self.validate(["/nonexistent/labctl/lab.json"])
        #expect(missing.exitCode == 3)
        #expect(missing.stderr.hasPrefix("error: the lab file does not exist\n  at: /nonexistent/labctl/lab.json\n  hint:"))
        let dir = try Self.validate([FileManager.default.temporaryDirectory.path])
        #expect(dir.exitCode == 2)
        #expect(dir.stderr.hasPrefix("error: the lab file is a directory, not a file"))
        let json = try Self.validate(["/nonexistent/labctl/lab.json", "--format", "json"])
        #expect(json.exitCode == 3 && json.stdout.contains("\"code\" : \"notFound\""))
    }

    @Test func malformedJSONPointsAtLineAndColumn() throws {
        let url = try Self.temporaryFile("{\n  \"apiVersion\": \"labctl.dev/v1\",\n  \"name\": \"x\" \"y\"\n}\n")
        defer { try? FileManager.default.removeItem(at: url) }
        let out = try Self.validate([url.path])
        #expect(out.exitCode == 2)
        #expect(out.stderr.hasPrefix("error: malformed JSON: expected ',' or '}' after an object member, found '\"'\n  at: \(url.path):3:15\n"))
    }

    @Test func effectiveOutputRoundTrips() throws {
        let out = try Self.validate([Self.repoLab, "--effective"])
        #expect(out.exitCode == 0)
        let loaded = try LabLoader.load(path: Self.repoLab)
        let again = try LabLoader.decode(Data(out.stdout.utf8), source: "effective")
        #expect(again == loaded.lab)
        // Every default is spelled out, keys sorted.
        #expect(out.stdout.contains("\"hostAddress\" : \"194.89.64.1\""))
        #expect(out.stdout.contains("\"podSubnet\" : \"10.32.0.0/12\""))
        #expect(out.stdout.contains("\"template\" : \"control-plane\""))
        #expect(out.stdout.contains("\"arch\" : \"amd64\""))
        #expect(out.stdout.contains("\"softStopSeconds\" : 30"))
        let apiVersion = try #require(out.stdout.range(of: "\"apiVersion\""))
        let base = try #require(out.stdout.range(of: "\"base\""))
        #expect(apiVersion.lowerBound < base.lowerBound)
    }

    // Needs python3 with jsonschema (Debian python3-jsonschema, installed by `scripts/install-deps test`).
    @Test(.enabled(if: pythonJSONSchemaAvailable, "python3 with the jsonschema module is not installed (scripts/install-deps test)"))
    func effectiveOutputValidatesAgainstTheSchema() throws {
        let out = try Self.validate([Self.repoLab, "--effective"])
        let url = try Self.temporaryFile(out.stdout)
        defer { try? FileManager.default.removeItem(at: url) }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", "import json,sys,jsonschema; jsonschema.validate(json.load(open(sys.argv[2])), json.load(open(sys.argv[1])))",
                       Self.repoRoot.appendingPathComponent("schema/lab.schema.json").path, url.path]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        #expect(p.terminationStatus == 0)
    }

    @Test func schemaCommandPrintsTheEmbeddedSchema() throws {
        let command = try Labctl.parseAsRoot(["schema"])
        #expect(command is Labctl.Schema)
        let file = try String(contentsOf: Self.repoRoot.appendingPathComponent("schema/lab.schema.json"), encoding: .utf8)
        #expect(LabSchema.json + "\n" == file)
        let parsed = try JSONSerialization.jsonObject(with: Data(LabSchema.json.utf8)) as? [String: Any]
        #expect(parsed?["$schema"] as? String == "https://json-schema.org/draft/2020-12/schema")
    }
}

let pythonJSONSchemaAvailable: Bool = {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = ["python3", "-c", "import jsonschema"]
    p.standardOutput = FileHandle.nullDevice
    p.standardError = FileHandle.nullDevice
    do { try p.run() } catch { return false }
    p.waitUntilExit()
    return p.terminationStatus == 0
}()
