import Foundation

/// Column-aligned text for the CLI's tables: every column but the last is padded to its widest
/// cell, columns are two spaces apart, the last column is never padded (no trailing blanks).
enum TextTable {
    /// One line a row (the header is a row), without a final newline.
    static func lines(_ rows: [[String]]) -> [String] {
        let columns = rows.map(\.count).max() ?? 0
        let widths = (0..<columns).map { i in rows.map { i < $0.count ? $0[i].count : 0 }.max() ?? 0 }
        return rows.map { row in
            row.enumerated().map { i, cell in
                i == row.count - 1 ? cell : cell.padding(toLength: widths[i], withPad: " ", startingAt: 0)
            }.joined(separator: "  ")
        }
    }

    /// The header and rows as text, one line each, ending in a newline.
    static func render(header: [String], rows: [[String]]) -> String {
        lines([header] + rows).joined(separator: "\n") + "\n"
    }
}
