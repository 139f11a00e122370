import Foundation
import LabCache
import LabKit

/// The files a lab downloads, read off its rendered scripts: the base's release files (`base prepare`)
/// and the manifests the cluster scripts fetch during `up` (the CNI's, MetalLB's).
///
/// The cache's artifact list is derived, never hand-kept: every `fetch URL DEST` and
/// `fetch_verified URL DEST SUMURL [NAME]` call of the rendered scripts (the `_lib.sh` helpers) becomes
/// an artifact, with the checksum file and entry name `fetch_verified` would use. A call whose URL
/// cannot be evaluated here fails loudly, so a script change cannot silently drop a file from the cache.
public enum ReleaseDownloads {
    /// Every script of the lab, for every base, node and cluster it runs on (`StageScripts.renderAll`),
    /// in `up` order, each URL once.
    public static func artifacts(for lab: Lab) throws -> [ArtifactSpec] {
        let scripts = try StageScripts(lab: lab)
        var seen = Set<String>()
        var out: [ArtifactSpec] = []
        for rendered in try scripts.renderAll() {
            for spec in try artifacts(in: rendered.text, script: rendered.name, versions: scripts.profile.versions) where seen.insert(spec.url).inserted {
                out.append(spec)
            }
        }
        return out
    }

    /// The fetch calls of one script. Understands what the scripts use: `name='…'` and
    /// `name='…'/$var` assignments, `for v in a b c; do … done`, and `"$(basename '…')"` /
    /// `"$(dirname '…')/…"` words.
    static func artifacts(in text: String, script: String, versions: [String: String]) throws -> [ArtifactSpec] {
        var out: [ArtifactSpec] = []
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        var index = 0
        var variables: [String: String] = [:]
        while index < lines.count {
            let line = lines[index]
            // Function bodies (the _lib.sh helpers themselves) are definitions, not downloads.
            if line.wholeMatch(of: /\w+\(\) \{/) != nil, let end = lines[index...].firstIndex(of: "}") {
                index = end + 1
                continue
            }
            if let loop = line.firstMatch(of: /^for (\w+) in ([\w .-]+); do$/),
               let end = lines[index...].firstIndex(of: "done") {
                for value in loop.2.split(separator: " ") {
                    var inner = variables
                    inner[String(loop.1)] = String(value)
                    out += try calls(lines[(index + 1) ..< end], variables: &inner, script: script, versions: versions)
                }
                index = end + 1
                continue
            }
            out += try calls(lines[index ... index], variables: &variables, script: script, versions: versions)
            index += 1
        }
        return out
    }

    private static func calls(_ lines: ArraySlice<String>, variables: inout [String: String], script: String,
                              versions: [String: String]) throws -> [ArtifactSpec] {
        var out: [ArtifactSpec] = []
        for line in lines where !line.hasPrefix("#") {
            if let assignment = line.firstMatch(of: /^(\w+)=(\S+)$/), let value = ShellWord.evaluate(String(assignment.2), variables) {
                variables[String(assignment.1)] = value
                continue
            }
            let words = ShellWord.split(line)
            guard let verb = words.first, verb == "fetch" || verb == "fetch_verified" else { continue }
            func value(_ i: Int) throws -> String {
                guard i < words.count, let v = ShellWord.evaluate(words[i], variables) else {
                    throw LabError(.internalError, "cannot derive the cache's artifact list: argument \(i) of `\(line)` is not a URL labctl can evaluate",
                                   location: .other("script \(script)"), hint: "keep fetch calls to quoted URLs, $variables and $(basename/dirname '…')")
                }
                return v
            }
            let url = try value(1)
            let checksum = verb == "fetch_verified" ? PublishedChecksum(url: try value(3), entry: words.count > 4 ? try value(4) : nil) : nil
            out.append(ArtifactSpec(name: (url as NSString).lastPathComponent, version: version(of: url, versions), url: url, checksum: checksum))
        }
        return out
    }

    /// The profile version the URL names (the longest that occurs in it), `-` when none does.
    private static func version(of url: String, _ versions: [String: String]) -> String {
        versions.values.filter { url.contains($0) }.max { $0.count < $1.count } ?? "-"
    }
}

/// The few shell word forms the scripts' fetch calls use.
enum ShellWord {
    /// Splits a command line into words, keeping quotes (and `$(…)`) inside the word.
    static func split(_ line: String) -> [String] {
        var words: [String] = []
        var current = ""
        var quote: Character?
        var depth = 0
        for c in line {
            if let q = quote {
                current.append(c)
                if c == q && (q == "'" || depth == 0) { quote = nil }
                else if q == "\"" && c == "(" { depth += 1 }
                else if q == "\"" && c == ")" { depth -= 1 }
                continue
            }
            if c == " " || c == "\t" {
                if !current.isEmpty { words.append(current); current = "" }
                continue
            }
            if c == "'" || c == "\"" { quote = c }
            current.append(c)
        }
        if !current.isEmpty { words.append(current) }
        return words
    }

    /// The value of a word, or nil when it uses anything but literals, known `$variables` and
    /// `$(basename '…')` / `$(dirname '…')`.
    static func evaluate(_ word: String, _ variables: [String: String]) -> String? {
        expand(Substring(word), variables, quotes: true)
    }

    /// Expands `$…` in `text`; with `quotes`, also removes '…' (literal) and "…" (expanded) quoting.
    private static func expand(_ text: Substring, _ variables: [String: String], quotes: Bool) -> String? {
        var out = ""
        var rest = text
        while let c = rest.first {
            if quotes && c == "'" {
                guard let end = rest.dropFirst().firstIndex(of: "'") else { return nil }
                out += rest[rest.index(after: rest.startIndex) ..< end]
                rest = rest[rest.index(after: end)...]
            } else if quotes && c == "\"" {
                guard let end = rest.dropFirst().lastIndex(of: "\""), end > rest.startIndex,
                      let inner = expand(rest[rest.index(after: rest.startIndex) ..< end], variables, quotes: false) else { return nil }
                out += inner
                rest = rest[rest.index(after: end)...]
            } else if c == "$" {
                guard let (value, after) = expansion(rest, variables) else { return nil }
                out += value
                rest = after
            } else {
                out.append(c)
                rest = rest.dropFirst()
            }
        }
        return out
    }

    /// `$name`, `${name}`, `$(basename 'X')`, `$(dirname 'X')` at the start of `text`.
    private static func expansion(_ text: Substring, _ variables: [String: String]) -> (String, Substring)? {
        if let m = text.prefixMatch(of: /\$\((basename|dirname) '([^']*)'\)/) {
            let path = String(m.2) as NSString
            let value = m.1 == "basename" ? path.lastPathComponent : String(m.2[..<(m.2.lastIndex(of: "/") ?? m.2.endIndex)])
            return (value, text[m.range.upperBound...])
        }
        if let m = text.prefixMatch(of: /\$\{?(\w+)\}?/), let value = variables[String(m.1)] {
            return (value, text[m.range.upperBound...])
        }
        return nil
    }
}
