import Foundation
import LabCache
import LabKit

/// Renders cache events: one line per artifact, and on a terminal a live line with bytes and rate.
final class CacheProgress: @unchecked Sendable {
    private let live: Bool
    private let quiet: Bool
    private let lock = NSLock()
    private var lineOpen = false

    init(live: Bool, quiet: Bool) {
        self.live = live
        self.quiet = quiet
    }

    func handle(_ event: CacheEvent) {
        guard !quiet else { return }
        lock.lock()
        defer { lock.unlock() }
        switch event {
        case .progress(let spec, let bytes, let rate):
            guard live else { return }
            write("\r\u{1B}[2K  ↓ \(spec.name)  \(CacheRendering.bytes(bytes))  \(CacheRendering.bytes(Int64(rate)))/s")
            lineOpen = true
        case .downloading(let spec, let resumeFrom):
            line("↓ \(spec.name) \(spec.version)" + (resumeFrom > 0 ? " (resuming at \(CacheRendering.bytes(resumeFrom)))" : ""))
        case .cached(let entry):
            line("✓ \(entry.name) \(entry.version) cached (\(CacheRendering.bytes(entry.size)))")
        case .stored(let entry, let downloaded, let duration):
            let rate = Double(downloaded) / max(duration.seconds, 0.001)
            line("✓ \(entry.name) \(entry.version) stored: \(CacheRendering.bytes(downloaded)) in \(formatDuration(duration)), "
                 + "\(CacheRendering.bytes(Int64(rate)))/s, sha256 \(entry.sha256.prefix(12))")
        case .corrupt(let entry, let found):
            line("✗ \(entry.name) \(entry.version) is corrupt (sha256 \(found.isEmpty ? "missing" : String(found.prefix(12))), "
                 + "recorded \(entry.sha256.prefix(12))): removed")
        case .failed(let spec, let error):
            line("✗ \(spec.name) \(spec.version): \(error.message)")
        }
    }

    func finish() {
        lock.lock()
        defer { lock.unlock() }
        if lineOpen { write("\r\u{1B}[2K") }
        lineOpen = false
    }

    private func line(_ text: String) {
        if lineOpen { write("\r\u{1B}[2K") }
        lineOpen = false
        write(text + "\n")
    }

    private func write(_ text: String) { FileHandle.standardOutput.write(Data(text.utf8)) }
}

enum CacheRendering {
    static func bytes(_ n: Int64) -> String {
        let units = ["B", "KiB", "MiB", "GiB"]
        var value = Double(n)
        var unit = 0
        while value >= 1024, unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        return unit == 0 ? "\(n) B" : String(format: "%.1f %@", value, units[unit])
    }

    static func table(_ entries: [CacheEntry]) -> String {
        guard !entries.isEmpty else { return "the cache is empty (labctl cache fill downloads what the lab needs)\n" }
        let header = ["NAME", "VERSION", "KIND", "SIZE", "SHA256", "SOURCE"]
        let rows = entries.map { [$0.name, $0.version, $0.kind.rawValue, bytes($0.size), String($0.sha256.prefix(12)), $0.source] }
        return columns([header] + rows)
    }

    static func verifyTable(_ results: [CacheVerifyResult]) -> String {
        guard !results.isEmpty else { return "the cache is empty: nothing to verify\n" }
        let rows = results.map { [$0.entry.name, $0.entry.version, $0.status.rawValue, String($0.entry.sha256.prefix(12)), $0.found.isEmpty ? "-" : String($0.found.prefix(12))] }
        return columns([["NAME", "VERSION", "STATUS", "RECORDED", "FOUND"]] + rows)
    }

    static func fillSummary(_ summary: CacheFillSummary, root: String) -> String {
        "\(summary.stored.count) downloaded (\(bytes(summary.bytesDownloaded))), \(summary.cached.count) already cached, "
            + "\(summary.failed.count) failed; cache: \(root)\n"
    }

    static func imageSummary(_ summary: CacheFillSummary, missing: [String]) -> String {
        "images: \(summary.stored.count) downloaded (\(bytes(summary.bytesDownloaded))), \(summary.cached.count) already cached, "
            + "\(summary.failed.count) failed" + (missing.isEmpty ? "" : "; unknown until cached: \(missing.joined(separator: ", "))") + "\n"
    }

    private static func columns(_ rows: [[String]]) -> String {
        let widths = rows[0].indices.map { i in rows.map { $0[i].count }.max() ?? 0 }
        return rows.map { r in
            r.enumerated().map { i, v in i == r.count - 1 ? v : v.padding(toLength: widths[i], withPad: " ", startingAt: 0) }.joined(separator: "  ")
        }.joined(separator: "\n") + "\n"
    }

    struct VerifyRow: Encodable {
        var entry: CacheEntry
        var status: String
        var found: String
        init(_ r: CacheVerifyResult) {
            entry = r.entry
            status = r.status.rawValue
            found = r.found
        }
    }

    /// `cache fill --format json`: the files' summary at the top (as before images were cached), the images'
    /// under `images` (an image's `url` is `<reference>@<platform>`), and the manifests whose images are unknown.
    final class FillReport: Encodable {
        struct Failure: Encodable { var url: String; var error: String }
        var stored: [CacheEntry]
        var cached: [CacheEntry]
        var failed: [Failure]
        var bytesDownloaded: Int64
        var images: FillReport?
        var missing: [String]?
        init(_ s: CacheFillSummary, images: FillReport? = nil, missing: [String]? = nil) {
            stored = s.stored
            cached = s.cached
            failed = s.failed.map { Failure(url: $0.0.url, error: $0.1.description) }
            bytesDownloaded = s.bytesDownloaded
            self.images = images
            self.missing = missing
        }
    }

    static func json<T: Encodable>(_ value: T) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        guard let data = try? encoder.encode(value) else { return "null\n" }
        return String(decoding: data, as: UTF8.self) + "\n"
    }
}
