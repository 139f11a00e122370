import Foundation

/// Appends stage log lines to the lab's log files: `logs/<node>.log` for node stages,
/// `logs/host.log` for lab and cluster stages (what `labctl logs NODE` shows).
///
/// Appends run on a serial queue, off Swift's cooperative pool, so a slow disk never stalls a
/// stage. Lines are written as `2026-11-27T10:00:00.123Z node.clone: text`.
public final class StageLogWriter: @unchecked Sendable {
    private let paths: LabPaths
    private let queue = DispatchQueue(label: "labctl.stage-logs")
    private var handles: [String: FileHandle] = [:]

    public init(paths: LabPaths) { self.paths = paths }

    public func path(for scope: StageScope) -> String {
        switch scope {
        case .node(let name): return paths.log(node: name)
        case .lab, .cluster: return (paths.logs as NSString).appendingPathComponent("host.log")
        }
    }

    public func append(_ instance: StageInstanceID, _ line: String, at date: Date = Date()) {
        let file = path(for: instance.scope)
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let prefix = instance.scope.kind == .node ? instance.stage : instance.description
        let text = "\(formatter.string(from: date)) \(prefix): \(line)\n"
        queue.async { [self] in
            guard let handle = handle(for: file) else { return }
            handle.write(Data(text.utf8))
        }
    }

    /// Waits until every line handed in so far is written.
    public func flush() {
        queue.sync {
            for h in handles.values { try? h.synchronize() }
        }
    }

    /// Called on the queue only.
    private func handle(for file: String) -> FileHandle? {
        if let h = handles[file] { return h }
        let fm = FileManager.default
        try? fm.createDirectory(atPath: (file as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        if !fm.fileExists(atPath: file) { fm.createFile(atPath: file, contents: nil) }
        guard let h = FileHandle(forWritingAtPath: file) else { return nil }
        h.seekToEndOfFile()
        handles[file] = h
        return h
    }

    deinit {
        queue.sync {
            for h in handles.values { try? h.close() }
        }
    }
}
