import Foundation

/// The timings file written after every run: `LabPaths.timings/<UTC time>-<pid>.json`.
///
/// One JSON object per run: when it started, its outcome, the total wall time, and the
/// duration of every instance whose action ran (seconds). Older files beyond `keep` are removed.
public struct Timings: Sendable, Codable, Hashable {
    public var started: Date
    public var outcome: String
    public var total: Double
    /// Instance id (`node.clone@cluster1-ctrl-plane`) → seconds.
    public var stages: [String: Double]

    public init(summary: RunSummary, started: Date) {
        self.started = started
        outcome = summary.outcome.rawValue
        total = summary.duration.seconds
        stages = Dictionary(uniqueKeysWithValues: summary.durations.map { ($0.key.description, $0.value.seconds) })
    }

    @discardableResult
    public static func write(_ summary: RunSummary, started: Date, directory: String, keep: Int) throws -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd'T'HHmmss.SSS'Z'"
        let name = "\(formatter.string(from: started))-\(getpid()).json"
        let path = (directory as NSString).appendingPathComponent(name)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        try AtomicFile.write(try encoder.encode(Timings(summary: summary, started: started)) + Data("\n".utf8), to: path)

        // The names sort by time; drop the oldest.
        let files = (try? FileManager.default.contentsOfDirectory(atPath: directory))?
            .filter { $0.hasSuffix(".json") && !$0.hasPrefix(".") }.sorted() ?? []
        for old in files.dropLast(keep) {
            try? FileManager.default.removeItem(atPath: (directory as NSString).appendingPathComponent(old))
        }
        return path
    }
}
