import Foundation
import LabKit

/// Splits a host configuration file into lines, tolerating CRLF (files edited
/// on Windows or copied from it) and a missing final newline.
enum ConfigText {
    static func lines(_ text: String) -> [String] {
        // "\r\n" is one Character in Swift, so it must be named as a separator itself.
        var lines = text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" }).map { line -> String in
            line.hasSuffix("\r") ? String(line.dropLast()) : String(line)
        }
        if lines.last == "" { lines.removeLast() }
        return lines
    }

    /// The line without a `#` comment (outside double quotes), trimmed.
    static func stripComment(_ line: String) -> String {
        var inQuotes = false
        var out = ""
        for c in line {
            if c == "\"" { inQuotes.toggle() }
            if c == "#" && !inQuotes { break }
            out.append(c)
        }
        return out.trimmingCharacters(in: .whitespaces)
    }

    static func error(_ message: String, file: String, line: Int, hint: String? = nil) -> LabError {
        LabError(.invalidInput, message, location: .file(file, line: line),
                 hint: hint ?? "fix or remove that line (labctl backs files up before changing them), or restore VMware's copy with its Virtual Network Editor")
    }
}

/// A host file as lines that keep their own line break, so a file can be edited line by
/// line and every line labctl does not change is written back byte for byte.
struct RawLines: Sendable, Hashable {
    struct Line: Sendable, Hashable {
        /// The text without its line break.
        var content: String
        /// `\n`, `\r\n`, or empty for a last line without one.
        var ending: String
    }

    var lines: [Line]

    init(_ text: String) {
        var lines: [Line] = []
        var current = String.UnicodeScalarView()
        var pendingCR = false
        for scalar in text.unicodeScalars {
            if scalar == "\n" {
                lines.append(Line(content: String(current), ending: pendingCR ? "\r\n" : "\n"))
                current = String.UnicodeScalarView()
                pendingCR = false
                continue
            }
            if pendingCR { current.append("\r") }
            pendingCR = scalar == "\r"
            if !pendingCR { current.append(scalar) }
        }
        if pendingCR { current.append("\r") }
        if !current.isEmpty { lines.append(Line(content: String(current), ending: "")) }
        self.lines = lines
    }

    /// The line break new lines get: the file's own (CRLF when its first line uses it).
    var newline: String { lines.first { !$0.ending.isEmpty }?.ending ?? "\n" }

    /// Appends a line; a last line without a break gets one first.
    mutating func append(_ content: String) {
        insert(content, at: lines.count)
    }

    mutating func insert(_ content: String, at index: Int) {
        let nl = newline
        if index > 0, lines[index - 1].ending.isEmpty { lines[index - 1].ending = nl }
        lines.insert(Line(content: content, ending: nl), at: index)
    }

    var text: String { lines.map { $0.content + $0.ending }.joined() }
}
