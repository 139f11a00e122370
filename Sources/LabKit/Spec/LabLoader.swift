import Foundation

/// Reads lab.json into an effective `Lab`, strictly, reporting every problem at once.
///
/// The decode pipeline:
/// 1. **Read** the file. A missing file, a directory or an unreadable file is a
///    `LabError` of its own (`notFound` / `invalidInput`), with a hint.
/// 2. **Parse** with `PositionedJSONParser`, a small RFC 8259 parser that records
///    the line and column of every value (Foundation's parsers report none).
///    Malformed JSON stops here: one error at `file:line:column` saying what was
///    expected and what was found.
/// 3. **Decode** the tree with `LabDecoder` into the effective `Lab`: unknown
///    keys (with the closest known key, by edit distance), wrong types, missing
///    required keys, unparsable addresses, an unsupported `apiVersion`. Defaults
///    come from `LabDefaults` (the one table of defaults); `~/` is expanded.
///    Every problem is collected; an unknown key alone does not stop the lab
///    from being built, so step 4 still runs and its errors join the list.
/// 4. **Validate** with `LabValidator` (names, roles, sizes, profile and the
///    network plan). Errors and warnings name the lab.json path.
/// 5. **Report**: errors become `LabError(.invalidInput)` with location
///    `<file as given>: <json path> (line L, column C)` (no line when the value
///    is a default, not in the file) and are thrown together as `LabErrors`;
///    warnings travel in `LoadedLab.warnings`.
public enum LabLoader {
    public static func load(path: String) throws -> LoadedLab {
        let url = URL(fileURLWithPath: expandTilde(path))
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
            throw LabError(.notFound, "the lab file does not exist", location: .file(path),
                           hint: "pass the path of your lab.json (labctl validate FILE, or --lab FILE); the repository's lab.json is an example")
        }
        if isDirectory.boolValue {
            throw LabError(.invalidInput, "the lab file is a directory, not a file", location: .file(path),
                           hint: "pass the lab.json inside it, like \((path as NSString).appendingPathComponent("lab.json"))")
        }
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw LabError(.invalidInput, "cannot read the lab file", location: .file(path),
                           hint: "check the file's permissions (it must be readable by \(NSUserName()))", cause: error)
        }
        let result = try check(data, source: path)
        return LoadedLab(lab: result.lab, file: url.standardizedFileURL.path, warnings: result.warnings)
    }

    /// Decodes and validates lab.json's bytes; `source` names the file in locations.
    /// Throws `LabErrors` (every problem) or a single `LabError` for malformed JSON.
    public static func decode(_ data: Data, source: String) throws -> Lab {
        try check(data, source: source).lab
    }

    /// Decodes and validates, returning the lab and its warnings.
    public static func check(_ data: Data, source: String) throws -> (lab: Lab, warnings: [LabError]) {
        let root: JSONNode
        do { root = try PositionedJSONParser.parse(data) } catch {
            throw LabError(.invalidInput, "malformed JSON: \(error.message)",
                           location: .file(source, line: error.position.line, column: error.position.column),
                           hint: "fix the JSON syntax at that position (an editor with the schema from `labctl schema` helps)")
        }
        var decoder = LabDecoder()
        let lab = decoder.decodeLab(root)
        var errors = decoder.problems
        var warnings: [LabProblem] = []
        if let lab {
            let report = LabValidator.check(lab)
            errors += report.errors
            warnings = report.warnings
        }
        let positions = decoder.positions
        func labError(_ p: LabProblem) -> LabError {
            LabError(.invalidInput, p.message, location: location(source, p, positions), hint: p.hint)
        }
        guard errors.isEmpty, let lab else {
            throw LabErrors(errors.map(labError))
        }
        return (lab, warnings.map(labError))
    }

    /// `lab.json: clusters[0].nodes[1].address (line 12, column 45)`.
    static func location(_ source: String, _ p: LabProblem, _ positions: [String: SourcePosition]) -> Location {
        let target = p.path.isEmpty ? "top level" : p.path
        if let pos = p.position ?? positions[p.path] {
            return .lab(target, file: source, position: pos)
        }
        return .lab("\(target) (default value, not in the file)", file: source)
    }

    static func expandTilde(_ path: String) -> String {
        guard path == "~" || path.hasPrefix("~/") else { return path }
        return FileManager.default.homeDirectoryForCurrentUser.path + String(path.dropFirst(1))
    }
}

/// A lab as loaded from a file: the effective lab, where it came from, and warnings.
public struct LoadedLab: Sendable {
    public var lab: Lab
    /// Absolute path of the lab file.
    public var file: String
    /// Problems that do not stop labctl (a public subnet, an address outside .3-.127).
    public var warnings: [LabError]
    public var paths: LabPaths { LabPaths(labFile: file) }

    public init(lab: Lab, file: String, warnings: [LabError]) {
        self.lab = lab
        self.file = file
        self.warnings = warnings
    }
}

extension MACAddress {
    /// A stable MAC in VMware's static range, derived from the lab and node name
    /// (FNV-1a, so it never changes between runs or machines).
    public static func derived(lab: String, node: String) -> MACAddress {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in "\(lab)/\(node)".utf8 {
            h ^= UInt64(b)
            h = h &* 0x100_0000_01b3
        }
        return MACAddress(bytes: [0x00, 0x50, 0x56, UInt8(h >> 16 & 0x3f), UInt8(h >> 8 & 0xff), UInt8(h & 0xff)])
    }
}
