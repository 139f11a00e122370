import Foundation
import Testing
@testable import LabKit

/// Lab files for tests: the fixture `private-lab.json` (a valid lab on 192.168.50.0/24
/// that gives no warning), changed at JSON paths.
enum LabFixture {
    static var repoRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    static func fixtureData(_ name: String = "private-lab.json") throws -> Data {
        let url = try #require(Bundle.module.url(forResource: "Fixtures/\(name)", withExtension: nil))
        return try Data(contentsOf: url)
    }

    /// The fixture with `changes` applied: each path (`clusters[0].nodes[1].address`)
    /// set to the value, or removed when the value is `nil`.
    static func data(_ changes: [(String, Any?)]) throws -> Data {
        var root: Any = try JSONSerialization.jsonObject(with: fixtureData())
        for (path, value) in changes {
            root = try set(root, components: parse(path), value: value)
        }
        return try JSONSerialization.data(withJSONObject: root, options: [.prettyPrinted, .sortedKeys])
    }

    /// A value from JSON text (`"\"x\""`, `4`, `["a"]`).
    static func value(_ json: String) throws -> Any {
        try JSONSerialization.jsonObject(with: Data(json.utf8), options: .fragmentsAllowed)
    }

    enum Component { case key(String), index(Int) }

    static func parse(_ path: String) -> [Component] {
        var out: [Component] = []
        for part in path.split(separator: ".") {
            var rest = Substring(part)
            if let b = rest.firstIndex(of: "[") {
                out.append(.key(String(rest[..<b])))
                rest = rest[b...]
                while let open = rest.firstIndex(of: "["), let close = rest.firstIndex(of: "]"), let i = Int(rest[rest.index(after: open)..<close]) {
                    out.append(.index(i))
                    rest = rest[rest.index(after: close)...]
                }
            } else {
                out.append(.key(String(rest)))
            }
        }
        return out
    }

    struct BadPath: Error {}

    static func set(_ node: Any, components: [Component], value: Any?) throws -> Any {
        guard let first = components.first else { return value ?? NSNull() }
        let rest = Array(components.dropFirst())
        switch first {
        case .key(let k):
            var dict = (node as? [String: Any]) ?? [:]
            if rest.isEmpty && value == nil {
                dict.removeValue(forKey: k)
            } else {
                dict[k] = try set(dict[k] ?? [String: Any](), components: rest, value: value)
            }
            return dict
        case .index(let i):
            guard var array = node as? [Any] else { throw BadPath() }
            if i == array.count {
                array.append(try set([String: Any](), components: rest, value: value))
            } else if rest.isEmpty && value == nil {
                array.remove(at: i)
            } else {
                guard i < array.count else { throw BadPath() }
                array[i] = try set(array[i], components: rest, value: value)
            }
            return array
        }
    }

    /// Decodes and returns every error (empty when the lab is valid).
    static func errors(_ data: Data) -> [LabError] {
        do {
            _ = try LabLoader.check(data, source: "lab.json")
            return []
        } catch let e as LabErrors {
            return e.errors
        } catch let e as LabError {
            return [e]
        } catch {
            return [LabError(.internalError, "\(error)")]
        }
    }

    static func errors(_ changes: [(String, Any?)]) throws -> [LabError] { errors(try data(changes)) }
}

/// Runs python3's jsonschema (Debian python3-jsonschema) on instances; nil when all validate.
enum SchemaCheck {
    static let available: Bool = {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", "import jsonschema"]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        do { try p.run() } catch { return false }
        p.waitUntilExit()
        return p.terminationStatus == 0
    }()

    static let script = """
        import json, sys, jsonschema
        schema = json.load(open(sys.argv[1]))
        jsonschema.Draft202012Validator.check_schema(schema)
        v = jsonschema.Draft202012Validator(schema)
        bad = 0
        for f in sys.argv[2:]:
            for e in v.iter_errors(json.load(open(f))):
                bad += 1
                print(f + ": " + "/".join(str(p) for p in e.absolute_path) + ": " + e.message)
        sys.exit(1 if bad else 0)
        """

    /// Validates `instances` against `schema`; returns python's report, or nil when all are valid.
    static func failures(schema: URL, instances: [URL]) throws -> String? {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", script, schema.path] + instances.map(\.path)
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = pipe
        try p.run()
        let out = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return p.terminationStatus == 0 ? nil : String(decoding: out, as: UTF8.self)
    }
}

/// The path of an executable of the package (`swift build --build-tests` builds them next to the
/// test bundle), or nil when it is not built.
func builtProduct(_ name: String) -> String? {
    let candidates = [
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent(name).path,
        Bundle.main.bundleURL.deletingLastPathComponent().appendingPathComponent(name).path,
        LabFixture.repoRoot.appendingPathComponent(".build/debug/\(name)").path,
    ]
    return candidates.first { FileManager.default.isExecutableFile(atPath: $0) }
}
