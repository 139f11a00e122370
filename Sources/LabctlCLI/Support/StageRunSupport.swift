import Foundation
import LabKit
import LabStages

/// Runs stages for a command (`up`, `rebuild`, `base prepare`): progress rendering, Ctrl-C handling,
/// and the lab's SSH sessions closed at the end, whether the run succeeded or not.
///
/// Ctrl-C cancels the task running the engine (as tart does): running actions are cancelled,
/// the journal keeps every stage that finished, and the renderer prints how to resume. A second
/// Ctrl-C exits at once with 130.
///
/// ```swift
/// let summary = try await StageRunSupport.run(progress: progressOptions, sessions: env.services.sessions,
///                                             resumeCommand: "labctl up --lab \(labOptions.lab)") { onEvent in
///     try await LabRun.run(stages: stages, topology: topology, paths: paths, onEvent: onEvent)
/// }
/// ```
enum StageRunSupport {
    @discardableResult
    static func run(progress: ProgressOptions, sessions: SessionPool, resumeCommand: String,
                    _ body: @escaping @Sendable (@escaping @Sendable (EngineEvent) -> Void) async throws -> RunSummary)
        async throws -> RunSummary {
        let renderer = progress.makeRenderer(resumeCommand: resumeCommand)
        let task = Task {
            do {
                let summary = try await body(renderer.handler)
                await sessions.closeAll()
                return summary
            } catch {
                await sessions.closeAll()
                throw error
            }
        }
        let interrupts = InterruptHandler { task.cancel() }
        defer {
            interrupts.stop()
            renderer.finish()
        }
        let summary = try await task.value
        if let error = summary.error {
            // The renderer has shown the details; the error sets the exit code.
            throw AlreadyReported(error: error)
        }
        return summary
    }
}

/// An error whose details the progress renderer already printed: only the exit code is left.
struct AlreadyReported: Error, Sendable {
    var error: LabError
}

/// SIGINT → a callback, the first time; the second SIGINT exits with 130.
final class InterruptHandler: @unchecked Sendable {
    private let source: DispatchSourceSignal
    private let lock = NSLock()
    private var count = 0

    init(onInterrupt: @escaping @Sendable () -> Void) {
        signal(SIGINT, SIG_IGN)
        source = DispatchSource.makeSignalSource(signal: SIGINT, queue: .global())
        source.setEventHandler { [weak self] in
            guard let self else { return }
            self.lock.lock()
            self.count += 1
            let n = self.count
            self.lock.unlock()
            if n == 1 {
                onInterrupt()
            } else {
                FileHandle.standardOutput.write(Data("\u{1B}[?25h".utf8))
                exit(130)
            }
        }
        source.resume()
    }

    func stop() {
        source.cancel()
        signal(SIGINT, SIG_DFL)
    }
}

/// `labctl plan` output: a table or JSON, from `Planner.plan`.
enum PlanRendering {
    static func status(_ s: PlanEntry.Status) -> String {
        switch s {
        case .done: return "done"
        case .willRun(let reason): return "will run (\(reason))"
        case .blockedBy(let ids): return "blocked by \(ids.map(\.description).joined(separator: ", "))"
        }
    }

    static func table(_ entries: [PlanEntry]) -> String {
        let rows = entries.map { [$0.instance.stage, $0.instance.scope.name, status($0.status)] }
        let header = ["STAGE", "SCOPE", "STATUS"]
        let counts = (entries.filter { $0.status == .done }.count, entries.filter { $0.status != .done }.count)
        return TextTable.render(header: header, rows: rows) + "\n\(counts.0) done, \(counts.1) to run.\n"
    }

    static func json(_ entries: [PlanEntry]) -> String {
        let values: [JSONValue] = entries.map { e in
            var o: [String: JSONValue] = [
                "instance": .string(e.instance.description), "stage": .string(e.instance.stage),
                "scope": .string(e.instance.scope.key),
            ]
            switch e.status {
            case .done: o["status"] = "done"
            case .willRun(let reason):
                o["status"] = "will-run"
                o["reason"] = .string(reason.description)
            case .blockedBy(let ids):
                o["status"] = "blocked"
                o["blockedBy"] = .array(ids.map { .string($0.description) })
            }
            if let p = e.probe { o["probe"] = .string(p.rawValue) }
            return .object(o)
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        guard let data = try? encoder.encode(values) else { return "[]\n" }
        return String(decoding: data, as: UTF8.self) + "\n"
    }
}
