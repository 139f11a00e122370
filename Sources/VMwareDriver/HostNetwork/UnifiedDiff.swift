import Foundation

/// A unified-style line diff (`--- a`, `+++ b`, `@@` hunks with 3 lines of context),
/// enough for a person to review what `labctl net apply` will change.
public enum UnifiedDiff {
    enum Op: Equatable { case same(String), removed(String), added(String) }

    static func ops(_ a: [String], _ b: [String]) -> [Op] {
        // Longest common subsequence; the files are a few dozen lines.
        let n = a.count, m = b.count
        var lcs = Array(repeating: Array(repeating: 0, count: m + 1), count: n + 1)
        for i in stride(from: n - 1, through: 0, by: -1) {
            for j in stride(from: m - 1, through: 0, by: -1) {
                lcs[i][j] = a[i] == b[j] ? lcs[i + 1][j + 1] + 1 : max(lcs[i + 1][j], lcs[i][j + 1])
            }
        }
        var ops: [Op] = []
        var i = 0, j = 0
        while i < n || j < m {
            if i < n, j < m, a[i] == b[j] {
                ops.append(.same(a[i])); i += 1; j += 1
            } else if i < n, j == m || lcs[i + 1][j] >= lcs[i][j + 1] {
                // Removals before additions, as diff -u prints them.
                ops.append(.removed(a[i])); i += 1
            } else {
                ops.append(.added(b[j])); j += 1
            }
        }
        return ops
    }

    /// Empty when the texts are equal. `old` nil means the file does not exist yet.
    public static func diff(old: String?, new: String, oldName: String, newName: String, context: Int = 3) -> String {
        let a = old.map(ConfigText.lines) ?? []
        let b = ConfigText.lines(new)
        let ops = ops(a, b)
        guard ops.contains(where: { if case .same = $0 { return false } else { return true } }) else { return "" }
        var out = ["--- \(old == nil ? "/dev/null" : oldName)", "+++ \(newName)"]
        // Group changes that are within 2*context lines of each other into hunks.
        let changed = ops.indices.filter { if case .same = ops[$0] { return false } else { return true } }
        var hunks: [(Int, Int)] = []
        for c in changed {
            let lo = max(0, c - context), hi = min(ops.count - 1, c + context)
            if let last = hunks.last, lo <= last.1 + 1 { hunks[hunks.count - 1].1 = hi } else { hunks.append((lo, hi)) }
        }
        for (lo, hi) in hunks {
            var aStart = 1, bStart = 1
            for op in ops[..<lo] {
                switch op {
                case .same: aStart += 1; bStart += 1
                case .removed: aStart += 1
                case .added: bStart += 1
                }
            }
            var aCount = 0, bCount = 0
            var body: [String] = []
            for op in ops[lo...hi] {
                switch op {
                case .same(let s): aCount += 1; bCount += 1; body.append(" " + s)
                case .removed(let s): aCount += 1; body.append("-" + s)
                case .added(let s): bCount += 1; body.append("+" + s)
                }
            }
            out.append("@@ -\(aCount == 0 ? aStart - 1 : aStart),\(aCount) +\(bCount == 0 ? bStart - 1 : bStart),\(bCount) @@")
            out += body
        }
        return out.joined(separator: "\n") + "\n"
    }
}
