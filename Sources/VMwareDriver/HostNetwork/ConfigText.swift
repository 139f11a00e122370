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
        LabError(.invalidInput, message, location: "\(file):\(line)",
                 hint: hint ?? "fix or remove that line (labctl backs files up before changing them), or restore VMware's copy with its Virtual Network Editor")
    }
}
