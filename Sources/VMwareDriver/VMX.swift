import Foundation
import LabKit

/// A VMX (or .vmsd) file as an ordered document.
///
/// VMware's own writer preserves order; Vagrant sorts and lower-cases keys; GNS3
/// keeps order (docs/vmware-driver.md, "VMX files: character sets and edits"). We keep everything: key order, comments, the
/// shebang, the `.encoding` line, unknown keys, the original key case and the
/// original bytes of every line we did not change, so a round trip is exact.
/// Keys compare case-insensitively (every parser lower-cases them, and VMware
/// appends its own original-case keys to files other tools lower-cased: GOVMX b.vmx).
public struct VMXDocument: Sendable, Hashable {
    public enum Line: Sendable, Hashable {
        /// A `key = value` line. `raw` is the line as read (without its line ending).
        case entry(key: String, value: String, raw: String)
        /// A comment, the shebang, or a blank line, kept verbatim.
        case verbatim(String)
    }

    /// Changed only together with `originals`, index for index.
    public private(set) var lines: [Line]
    /// Each line's bytes as read, its line break included; nil for a line labctl added or changed.
    /// Writing copies these, so every untouched byte stays as VMware wrote it, whatever the encoding.
    private var originals: [Data?] = []
    /// `\r\n` when the file used CRLF, so new lines match.
    public var lineEnding: String
    /// Whether the last line ended with a line break.
    public var endsWithNewline: Bool
    /// The character set the file declared (`.encoding`), used to read and write it.
    public private(set) var encoding: VMXEncoding

    public init() {
        lines = []
        lineEnding = "\n"
        endsWithNewline = true
        encoding = VMXEncoding(name: "UTF-8", encoding: .utf8)
    }

    private mutating func append(_ line: Line, original: Data?) {
        originals.append(original)
        lines.append(line)
    }

    // MARK: Parsing

    /// Reads a VMX file. Errors name the file and line.
    public static func load(path: String) throws -> VMXDocument {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            if !FileManager.default.fileExists(atPath: path) {
                throw LabError(.notFound, "the VM configuration file does not exist", location: .file(path),
                               hint: "check the path in lab.json, or create the VM first")
            }
            throw LabError(.commandFailed, "cannot read the VM configuration file", location: .file(path), cause: error)
        }
        return try parse(data, source: path)
    }

    public static func parse(_ text: String, source: String) throws -> VMXDocument {
        try parse(Data(text.utf8), source: source)
    }

    public static func parse(_ data: Data, source: String) throws -> VMXDocument {
        if data.contains(0) {
            throw LabError(.invalidInput, "not a VMware configuration file: it contains binary data", location: .file(source, line: 1),
                           hint: "point labctl at the VM's .vmx text file, not a disk or memory file")
        }
        let encoding = try VMXEncoding.declared(in: data, source: source)
        var doc = VMXDocument()
        doc.encoding = encoding
        // Split the bytes on LF: no supported encoding uses 0x0A or 0x0D inside a multi-byte
        // character (their trail bytes start at 0x40), so this is where VMware broke the lines.
        var chunks = data.split(separator: 0x0A, omittingEmptySubsequences: false).map { Data($0) }
        doc.endsWithNewline = data.isEmpty || data.last == 0x0A
        if doc.endsWithNewline { chunks.removeLast() }
        doc.lineEnding = chunks.contains { $0.last == 0x0D } ? "\r\n" : "\n"
        var rawLines: [(text: String, bytes: Data)] = []
        for (index, chunk) in chunks.enumerated() {
            let content = chunk.last == 0x0D ? chunk.dropLast() : chunk[...]
            guard let text = encoding.decode(Data(content)) else {
                throw LabError(.invalidInput, "the line is not valid \(encoding.name), the character set the file declares",
                               location: .file(source, line: index + 1),
                               hint: "labctl changed nothing; open and save the VM in VMware, or fix the .encoding line to the host's character set")
            }
            let isLast = index == chunks.count - 1
            rawLines.append((text, isLast && !doc.endsWithNewline ? chunk : chunk + [0x0A]))
        }
        for (index, (raw, bytes)) in rawLines.enumerated() {
            let lineNo = index + 1
            let trimmed = raw.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty || trimmed.hasPrefix("#") {
                doc.append(.verbatim(raw), original: bytes)
                continue
            }
            guard let eq = raw.firstIndex(of: "=") else {
                throw LabError(.invalidInput, "not a VMware configuration line (expected key = \"value\")",
                               location: .file(source, line: lineNo), hint: "fix or remove the line; VMX files hold only key = \"value\" lines and # comments",
                               detail: String(trimmed.prefix(80)))
            }
            let key = raw[..<eq].trimmingCharacters(in: .whitespaces)
            // Reading is tolerant (guestinfo keys are whatever a tool chose); writing uses `isValidKey`.
            guard !key.isEmpty, !key.contains(where: { $0.isWhitespace || $0 == "\"" }) else {
                throw LabError(.invalidInput, "invalid VMX key \"\(key.prefix(60))\"", location: .file(source, line: lineNo),
                               hint: "a key is one word before the =, without spaces or quotes")
            }
            let rest = raw[raw.index(after: eq)...].trimmingCharacters(in: .whitespaces)
            let value: String
            if rest.hasPrefix("\"") {
                guard rest.count >= 2, rest.hasSuffix("\"") else {
                    throw LabError(.invalidInput, "unterminated quoted value for \(key)", location: .file(source, line: lineNo),
                                   hint: "the file may be truncated; restore it from a backup or let VMware rewrite it")
                }
                value = unescape(String(rest.dropFirst().dropLast()))
            } else {
                // Unquoted numbers occur in real files (GOVMX a.vmx `rtc.diffFromUTC = 0`, Packer's `virtualSSD = 1`).
                value = unescape(rest)
            }
            doc.append(.entry(key: key, value: value, raw: raw), original: bytes)
        }
        return doc
    }

    static func isValidKey(_ key: String) -> Bool {
        !key.isEmpty && key.unicodeScalars.allSatisfy {
            ($0.isASCII && (CharacterSet.alphanumerics.contains($0) || ".:_-[]".unicodeScalars.contains($0)))
        }
    }

    // MARK: Escapes (`|XX` hex, libvirt src/vmx/vmx.h virVMXEscapeHexPipe)

    /// Decodes `|XX` escapes; a `|` not followed by two hex digits is kept as is.
    public static func unescape(_ s: String) -> String {
        guard s.contains("|") else { return s }
        var bytes: [UInt8] = []
        let src = Array(s.utf8)
        var i = 0
        while i < src.count {
            if src[i] == UInt8(ascii: "|"), i + 2 < src.count,
               let b = UInt8(String(decoding: src[(i + 1)...(i + 2)], as: UTF8.self), radix: 16) {
                bytes.append(b)
                i += 3
            } else {
                bytes.append(src[i])
                i += 1
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Escapes `"`, `|` and control characters as `|XX` so a value cannot break its line.
    public static func escape(_ s: String) -> String {
        var out = ""
        for scalar in s.unicodeScalars {
            if scalar == "\"" || scalar == "|" || scalar.value < 0x20 || scalar.value == 0x7f {
                for b in String(scalar).utf8 { out += String(format: "|%02X", b) }
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    // MARK: Reading

    /// The value of `key` (case-insensitive). With duplicates, the last one wins, as a
    /// sequential reader would apply them [I].
    public subscript(key: String) -> String? {
        let k = key.lowercased()
        for line in lines.reversed() {
            if case .entry(let key, let value, _) = line, key.lowercased() == k { return value }
        }
        return nil
    }

    /// Every `(key, value)` in file order, duplicates included.
    public var entries: [(key: String, value: String)] {
        lines.compactMap { if case .entry(let k, let v, _) = $0 { return (k, v) } else { return nil } }
    }

    public func keys(withPrefix prefix: String) -> [String] {
        let p = prefix.lowercased()
        return entries.map(\.key).filter { $0.lowercased().hasPrefix(p) }
    }

    public func bool(_ key: String) -> Bool? {
        guard let v = self[key] else { return nil }
        switch v.lowercased() {
        case "true", "yes", "1": return true
        case "false", "no", "0": return false
        default: return nil
        }
    }

    // MARK: Editing

    /// Sets `key` to `value`. An existing key keeps its place and its spelling; duplicates
    /// of it are removed so the file says one thing. A new key goes at the end.
    public mutating func set(_ key: String, _ value: String) {
        let k = key.lowercased()
        let positions = lines.indices.filter { if case .entry(let e, _, _) = lines[$0] { return e.lowercased() == k } else { return false } }
        if let first = positions.first, case .entry(let existingKey, let old, _) = lines[first] {
            if positions.count == 1, old == value { return }
            originals[first] = nil
            lines[first] = .entry(key: existingKey, value: value, raw: "\(existingKey) = \"\(Self.escape(value))\"")
            for p in positions.dropFirst().reversed() {
                originals.remove(at: p)
                lines.remove(at: p)
            }
        } else {
            append(.entry(key: key, value: value, raw: "\(key) = \"\(Self.escape(value))\""), original: nil)
        }
    }

    /// Removes every occurrence of `key`.
    public mutating func remove(_ key: String) {
        let k = key.lowercased()
        for p in lines.indices.reversed() {
            if case .entry(let e, _, _) = lines[p], e.lowercased() == k {
                originals.remove(at: p)
                lines.remove(at: p)
            }
        }
    }

    // MARK: Writing

    public var text: String {
        var s = lines.map { line -> String in
            switch line {
            case .entry(_, _, let raw): return raw
            case .verbatim(let raw): return raw
            }
        }.joined(separator: lineEnding)
        if endsWithNewline && !lines.isEmpty { s += lineEnding }
        return s
    }

    /// The file's bytes: untouched lines exactly as read, changed and new lines in the declared
    /// character set. Throws, before anything is written, when a new value cannot be written in it.
    public func encoded(source: String) throws -> Data {
        var out = Data()
        let newline = Data(lineEnding.utf8)
        for (index, line) in lines.enumerated() {
            // A file that had no final newline gets one before a line labctl adds after it.
            if !out.isEmpty, out.last != 0x0A { out += newline }
            if let original = originals[index] {
                out += original
                continue
            }
            let raw: String
            switch line {
            case .entry(_, _, let r), .verbatim(let r): raw = r
            }
            guard let bytes = encoding.encode(raw) else {
                throw LabError(.invalidInput, "\"\(raw.prefix(60))\" cannot be written in \(encoding.name), the file's character set",
                               location: .file(source), hint: "labctl changed nothing; use characters that \(encoding.name) has, or convert the VM's file to UTF-8")
            }
            out += bytes
            if index < lines.count - 1 || endsWithNewline { out += newline }
        }
        return out
    }

    /// Writes atomically: a temporary file in the same folder, fsync, then rename, keeping the file's mode.
    public func write(to path: String) throws {
        let url = URL(fileURLWithPath: path)
        let dir = url.deletingLastPathComponent()
        let tmp = dir.appendingPathComponent(".\(url.lastPathComponent).labctl-\(UUID().uuidString.prefix(8))")
        let fm = FileManager.default
        let mode = (try? fm.attributesOfItem(atPath: path)[.posixPermissions] as? NSNumber)?.intValue
        // Encoded first: a value the file's character set cannot hold fails before any file exists.
        let bytes = try encoded(source: path)
        do {
            guard fm.createFile(atPath: tmp.path, contents: bytes, attributes: mode.map { [.posixPermissions: $0] }) else {
                throw LabError(.commandFailed, "cannot write a temporary file next to the VM configuration", location: .file(tmp.path))
            }
            let fd = open(tmp.path, O_RDONLY)
            if fd >= 0 { fsync(fd); close(fd) }
            if rename(tmp.path, path) != 0 {
                let reason = String(cString: strerror(errno))
                throw LabError(.commandFailed, "cannot replace the VM configuration file", location: .file(path), detail: reason)
            }
        } catch {
            try? fm.removeItem(at: tmp)
            throw error
        }
    }
}
