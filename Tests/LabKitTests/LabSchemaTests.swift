import Foundation
import Testing
@testable import LabKit

@Suite struct LabSchemaTests {
    static var schemaURL: URL { LabFixture.repoRoot.appendingPathComponent("schema/lab.schema.json") }

    /// The ```json blocks of README.md's "lab.json reference" section.
    static func readmeExamples() throws -> [String] {
        let readme = try String(contentsOf: LabFixture.repoRoot.appendingPathComponent("README.md"), encoding: .utf8)
        let parts = readme.components(separatedBy: "\n## lab.json reference\n")
        try #require(parts.count == 2, "README.md has no '## lab.json reference' section")
        let section = parts[1].components(separatedBy: "\n## ")[0]
        var blocks: [String] = []
        var current: [String]?
        for line in section.components(separatedBy: "\n") {
            if current == nil, line == "```json" {
                current = []
            } else if let lines = current, line == "```" {
                blocks.append(lines.joined(separator: "\n"))
                current = nil
            } else if current != nil {
                current?.append(line)
            }
        }
        return blocks
    }

    @Test func embeddedSchemaEqualsTheFile() throws {
        let file = try String(contentsOf: Self.schemaURL, encoding: .utf8)
        // Run scripts/embed-schema after editing schema/lab.schema.json.
        #expect(LabSchema.json + "\n" == file)
    }

    @Test func readmeHasAtLeastTwoExamplesAndEachLoads() throws {
        let examples = try Self.readmeExamples()
        #expect(examples.count >= 2)
        for (i, text) in examples.enumerated() {
            #expect(throws: Never.self, "README example \(i + 1)") {
                let result = try LabLoader.check(Data(text.utf8), source: "README example \(i + 1)")
                #expect(result.warnings.isEmpty, "README example \(i + 1): \(result.warnings)")
            }
        }
        let three = try LabLoader.decode(Data(examples[1].utf8), source: "README")
        #expect(three.clusters.count == 3 && three.nodes.count == 7)
    }

    // Needs python3 with jsonschema (Debian python3-jsonschema, installed by `scripts/install-deps test`).
    @Test(.enabled(if: SchemaCheck.available, "python3 with the jsonschema module is not installed (scripts/install-deps test)"))
    func repositoryLabAndReadmeExamplesValidateAgainstTheSchema() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("labctl-schema-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        var files = [LabFixture.repoRoot.appendingPathComponent("lab.json")]
        for (i, text) in try Self.readmeExamples().enumerated() {
            let url = dir.appendingPathComponent("readme-example-\(i + 1).json")
            try Data(text.utf8).write(to: url)
            files.append(url)
        }
        #expect(files.count >= 3)
        let failures = try SchemaCheck.failures(schema: Self.schemaURL, instances: files)
        #expect(failures == nil, "\(failures ?? "")")
    }

    @Test(.enabled(if: SchemaCheck.available, "python3 with the jsonschema module is not installed (scripts/install-deps test)"))
    func schemaRejectsWhatTheLoaderRejects() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("labctl-schema-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let cases: [[(String, Any?)]] = [
            [("clusters[0].nodes[1].adress", "192.168.50.12")],
            [("clusters[0].nodes[0].cpus", "2")],
            [("apiVersion", "labctl.dev/v2")],
            [("clusters[0].nodes[0].mac", "00:50:56:40:00:01")],
            [("clusters[0].nodes[0].memoryMiB", 4097)],
            [("network.subnet", nil)],
        ]
        for (i, changes) in cases.enumerated() {
            let url = dir.appendingPathComponent("bad-\(i).json")
            try LabFixture.data(changes).write(to: url)
            #expect(try SchemaCheck.failures(schema: Self.schemaURL, instances: [url]) != nil, "case \(i): \(changes.map(\.0))")
            #expect(!LabFixture.errors(try LabFixture.data(changes)).isEmpty)
        }
    }

    /// The decoder's known keys and the schema's properties are the same sets, so neither drifts.
    @Test func decoderKeysMatchSchemaProperties() throws {
        let schema = try #require(JSONSerialization.jsonObject(with: Data(LabSchema.json.utf8)) as? [String: Any])
        let defs = try #require(schema["$defs"] as? [String: Any])
        let props = try #require(schema["properties"] as? [String: Any])
        func keys(_ object: Any?) throws -> Set<String> {
            let o = try #require(object as? [String: Any])
            #expect(o["additionalProperties"] as? Bool == false)
            return Set(try #require(o["properties"] as? [String: Any]).keys)
        }
        let vmware = try #require(props["vmware"] as? [String: Any])
        let vmwareProps = try #require(vmware["properties"] as? [String: Any])
        let expected: [String: Set<String>] = [
            "lab": try keys(schema), "network": try keys(props["network"]), "base": try keys(props["base"]),
            "mesh": try keys(props["mesh"]), "cluster": try keys(defs["cluster"]), "node": try keys(defs["node"]),
            "checkpoints": try keys(props["checkpoints"]), "ssh": try keys(props["ssh"]), "vmware": try keys(vmware),
            "timeouts": try keys(vmwareProps["timeouts"]),
        ]
        #expect(Set(LabDecoder.knownKeys.keys) == Set(expected.keys))
        for (kind, set) in expected {
            #expect(Set(LabDecoder.knownKeys[kind] ?? []) == set, "\(kind)")
        }
    }

    /// Defaults in the schema are the loader's defaults.
    @Test func schemaDefaultsMatchLoaderDefaults() throws {
        let schema = try #require(JSONSerialization.jsonObject(with: Data(LabSchema.json.utf8)) as? [String: Any])
        func value(_ path: [String]) -> Any? {
            var cur: Any? = schema
            for k in path { cur = (cur as? [String: Any])?[k] }
            return cur
        }
        let lab = try LabLoader.decode(LabFixture.fixtureData(), source: "lab.json")
        let node = try #require(lab.nodes.first)
        #expect(value(["$defs", "node", "properties", "cpus", "default"]) as? Int == node.cpus)
        #expect(value(["$defs", "node", "properties", "memoryMiB", "default"]) as? Int == node.memoryMiB)
        #expect(value(["$defs", "cluster", "properties", "serviceSubnet", "default"]) as? String == lab.clusters[0].serviceSubnet.description)
        #expect(value(["properties", "network", "properties", "vmnet", "default"]) as? String == lab.network.vmnet)
        #expect(value(["properties", "ssh", "properties", "port", "default"]) as? Int == lab.ssh.port)
        #expect(value(["properties", "base", "properties", "interface", "default"]) as? String == lab.base.interface)
        #expect(value(["properties", "base", "properties", "workerCheckpoint", "default"]) as? String == lab.base.workerCheckpoint)
        #expect(value(["properties", "base", "properties", "controlPlaneCheckpoint", "default"]) as? String == lab.base.controlPlaneCheckpoint)
        let cp = ["properties", "checkpoints", "properties"]
        #expect(value(cp + ["nodes", "default"]) as? String == lab.checkpoints.nodes)
        #expect(value(cp + ["kubernetes", "default"]) as? String == lab.checkpoints.kubernetes)
        #expect(value(cp + ["kubeconfig", "default"]) as? String == lab.checkpoints.kubeconfig)
        #expect(value(cp + ["mesh", "default"]) as? String == lab.checkpoints.mesh)
        let vm = ["properties", "vmware", "properties"]
        #expect(value(vm + ["product", "default"]) as? String == lab.vmware.product.rawValue)
        #expect(value(vm + ["cloneKind", "default"]) as? String == lab.vmware.cloneKind.rawValue)
        #expect(value(vm + ["vmFolder", "default"]) as? String == VMwareSpec().vmFolder)
        let t = vm + ["timeouts", "properties"]
        #expect(value(t + ["startSeconds", "default"]) as? Int == lab.vmware.timeouts.startSeconds)
        #expect(value(t + ["softStopSeconds", "default"]) as? Int == lab.vmware.timeouts.softStopSeconds)
        #expect(value(t + ["defaultSeconds", "default"]) as? Int == lab.vmware.timeouts.defaultSeconds)
    }
}
