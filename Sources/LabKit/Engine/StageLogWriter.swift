import Foundation

/// Appends stage log lines to the lab's log files: `logs/<node>.log` for node stages,
/// `logs/host.log` for lab and cluster stages (what `labctl logs NODE` shows).
///
/// Appends run on a serial queue, off Swift's cooperative pool, so a slow disk never stalls a
/// stage. Lines are written as `2026-11-27T10:00:00.123Z node.clone: text`.
///
/// A line that cannot be written (a full disk) is dropped, and the first such failure is handed
/// to `onFailure` once, so the run says its logs are incomplete instead of crashing or going quiet.
/// Later lines are tried again: once space is freed, the logs go on.
public final class StageLogWriter: @unchecked Sendable {
    private let paths: LabPaths
    private let queue = DispatchQueue(label: "labctl.stage-logs")
    private var files: [String: AppendFile] = [:]
    private let onFailure: @Sendable (LabError) -> Void
    private var reported = false

    public init(paths: LabPaths, onFailure: @escaping @Sendable (LabError) -> Void = { _ in }) {
        self.paths = paths
        self.onFailure = onFailure
    }

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
            do {
                try appendFile(for: file).append(Data(text.utf8))
            } catch let error as LabError {
                guard !reported else { return }
                reported = true
                onFailure(error)
            } catch {
                guard !reported else { return }
                reported = true
                onFailure(LabError(.internalError, "cannot write \(file)", location: .file(file), cause: error))
            }
        }
    }

    /// Waits until every line handed in so far is written.
    public func flush() {
        queue.sync {
            for f in files.values { f.synchronize() }
        }
    }

    /// Called on the queue only.
    private func appendFile(for file: String) throws -> AppendFile {
        if let f = files[file] { return f }
        let f = try AppendFile(path: file, mode: 0o644)
        files[file] = f
        return f
    }
}
