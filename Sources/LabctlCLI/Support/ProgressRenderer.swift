import Foundation
import LabKit

/// Turns engine events into output. The engine calls `handle` from many tasks at once, so every
/// renderer serializes with a lock; `finish()` ends live output (cursor, ticker).
protocol ProgressRenderer: Sendable {
    func handle(_ event: EngineEvent)
    func finish()
}

extension ProgressRenderer {
    /// The engine's event handler.
    var handler: @Sendable (EngineEvent) -> Void { { self.handle($0) } }
}

/// The failure summary after a failed run: what failed, where, its last log lines, and how to resume.
enum FailureSummary {
    static func render(_ summary: RunSummary, resumeCommand: String) -> String {
        var lines: [String] = []
        switch summary.outcome {
        case .succeeded:
            return ""
        case .cancelled:
            lines.append("Cancelled after \(formatDuration(summary.duration)). Every stage that finished is journaled.")
        case .failed:
            let n = summary.failures.count
            lines.append("\(n) stage\(n == 1 ? "" : "s") failed after \(formatDuration(summary.duration)). Nothing was destroyed.")
        }
        for failure in summary.failures where failure.error.code != .cancelled || summary.outcome == .failed {
            let id = failure.instance
            lines.append("")
            lines.append("✗ \(id.stage) on \(scopeLabel(id.scope)): \(failure.error.message)")
            // The engine names the stage when the error names no place; the line above says it already.
            if let location = failure.error.location, location != .stage(id.description) { lines.append("    at: \(location)") }
            if let cause = failure.error.causeText { lines.append("    cause: \(cause)") }
            if let hint = failure.error.hint { lines.append("    hint: \(hint)") }
            if !failure.lastLogLines.isEmpty {
                lines.append("    last log lines:")
                for line in failure.lastLogLines { lines.append("      | \(line)") }
            }
        }
        if !summary.notReached.isEmpty {
            lines.append("")
            lines.append("Not started: \(summary.notReached.count) stage\(summary.notReached.count == 1 ? "" : "s").")
        }
        lines.append("")
        lines.append("To resume: \(resumeCommand)")
        return lines.joined(separator: "\n") + "\n"
    }

    static func scopeLabel(_ scope: StageScope) -> String {
        switch scope {
        case .lab: return "the lab"
        case .cluster(let c): return "cluster \(c)"
        case .node(let n): return "node \(n)"
        }
    }
}

/// One line per event, no ANSI: for pipes, log files and CI.
final class PlainProgressRenderer: ProgressRenderer, @unchecked Sendable {
    private let output: ProgressOutput
    private let resumeCommand: String
    private let clock: @Sendable () -> Duration
    private let lock = NSLock()
    private var startedAt: [StageInstanceID: Duration] = [:]

    init(output: ProgressOutput, resumeCommand: String, clock: @escaping @Sendable () -> Duration = ProgressClock.now) {
        self.output = output
        self.resumeCommand = resumeCommand
        self.clock = clock
    }

    func handle(_ event: EngineEvent) {
        lock.lock()
        defer { lock.unlock() }
        if let text = line(for: event) { output.write(text) }
    }

    private func line(for event: EngineEvent) -> String? {
        switch event {
        case .runStarted(let instances):
            return "Considering \(instances.count) stage\(instances.count == 1 ? "" : "s").\n"
        case .stageStarted(let id):
            startedAt[id] = clock()
            return "==> \(id)\n"
        case .stageSkipped(let id, let reason):
            return "- \(id) (\(reason))\n"
        case .stageFinished(let id, let duration):
            startedAt[id] = nil
            return "✓ \(id) (\(formatDuration(duration)))\n"
        case .stageFailed(let id, let error, _):
            let elapsed = startedAt.removeValue(forKey: id).map { " (\(formatDuration(clock() - $0)))" } ?? ""
            return "✗ \(id)\(elapsed): \(error.message)\n"
        case .waiting(let id, let requirement, let hint):
            return "… \(id) waits for \(requirement)\(hint.map { " (\($0))" } ?? "")\n"
        case .warning(let text):
            return "warning: \(text)\n"
        case .log(let scope, let line):
            return "  [\(scope.name)] \(line)\n"
        case .runFinished(let summary):
            var text = "\(summaryLine(summary))\n"
            if summary.outcome != .succeeded {
                text += "\n" + FailureSummary.render(summary, resumeCommand: resumeCommand)
            }
            return text
        }
    }

    func finish() {}
}

func summaryLine(_ s: RunSummary) -> String {
    let verb: String
    switch s.outcome {
    case .succeeded: verb = "Done"
    case .failed: verb = "Failed"
    case .cancelled: verb = "Cancelled"
    }
    return "\(verb) in \(formatDuration(s.duration)): \(s.ran.count) ran, \(s.skipped.count) already done, \(s.failures.count) failed"
}

/// `--progress json`: one JSON object per event per line (keys sorted, for diffing and golden tests).
final class JSONProgressRenderer: ProgressRenderer, @unchecked Sendable {
    private let output: ProgressOutput
    private let resumeCommand: String
    private let lock = NSLock()
    private let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return e
    }()

    init(output: ProgressOutput, resumeCommand: String) {
        self.output = output
        self.resumeCommand = resumeCommand
    }

    func handle(_ event: EngineEvent) {
        let object = Self.object(for: event, resumeCommand: resumeCommand)
        lock.lock()
        defer { lock.unlock() }
        guard let data = try? encoder.encode(object) else { return }
        output.write(String(decoding: data, as: UTF8.self) + "\n")
    }

    func finish() {}

    static func instance(_ id: StageInstanceID) -> [String: JSONValue] {
        ["instance": .string(id.description), "stage": .string(id.stage), "scope": .string(id.scope.key)]
    }

    static func object(for event: EngineEvent, resumeCommand: String) -> JSONValue {
        var o: [String: JSONValue]
        switch event {
        case .runStarted(let ids):
            o = ["event": "runStarted", "instances": .array(ids.map { .string($0.description) })]
        case .stageStarted(let id):
            o = instance(id)
            o["event"] = "stageStarted"
        case .stageSkipped(let id, let reason):
            o = instance(id)
            o["event"] = "stageSkipped"
            o["reason"] = .string(reason.key)
        case .stageFinished(let id, let duration):
            o = instance(id)
            o["event"] = "stageFinished"
            o["seconds"] = .number(roundedSeconds(duration))
        case .stageFailed(let id, let error, let lines):
            o = instance(id)
            o["event"] = "stageFailed"
            o["error"] = errorObject(error)
            o["log"] = .array(lines.map { .string($0) })
        case .waiting(let id, let requirement, let hint):
            o = instance(id)
            o["event"] = "waiting"
            o["requirement"] = .string(requirement)
            if let hint { o["hint"] = .string(hint) }
        case .warning(let text):
            o = ["event": "warning", "message": .string(text)]
        case .log(let scope, let line):
            o = ["event": "log", "scope": .string(scope.key), "line": .string(line)]
        case .runFinished(let s):
            o = [
                "event": "runFinished",
                "outcome": .string(s.outcome.rawValue),
                "seconds": .number(roundedSeconds(s.duration)),
                "ran": .array(s.ran.map { .string($0.description) }),
                "skipped": .array(s.skipped.map { .string($0.description) }),
                "notReached": .array(s.notReached.map { .string($0.description) }),
                "failures": .array(s.failures.map { f in
                    .object(["instance": .string(f.instance.description), "error": errorObject(f.error),
                             "log": .array(f.lastLogLines.map { .string($0) })])
                }),
            ]
            if s.outcome != .succeeded { o["resume"] = .string(resumeCommand) }
        }
        return .object(o)
    }

    static func errorObject(_ e: LabError) -> JSONValue {
        var o: [String: JSONValue] = ["code": .string(e.code.rawValue), "message": .string(e.message)]
        if let l = e.location {
            o["location"] = .string(l.description)
            if let argv = l.argv { o["command"] = .array(argv.map { .string($0) }) }
            if let node = l.node { o["node"] = .string(node) }
        }
        if let h = e.hint { o["hint"] = .string(h) }
        if let c = e.causeText { o["cause"] = .string(c) }
        return .object(o)
    }
}

/// A minimal JSON value for the event lines.
enum JSONValue: Encodable, Sendable, ExpressibleByStringLiteral {
    case string(String)
    case number(Double)
    case bool(Bool)
    case array([JSONValue])
    case object([String: JSONValue])

    init(stringLiteral value: String) { self = .string(value) }

    func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .string(let s): try c.encode(s)
        case .number(let n): try c.encode(n)
        case .bool(let b): try c.encode(b)
        case .array(let a): try c.encode(a)
        case .object(let o): try c.encode(o)
        }
    }
}

/// Seconds rounded to milliseconds, so JSON shows `1.5`, not `1.5000000000000002`.
func roundedSeconds(_ d: Duration) -> Double { (d.seconds * 1000).rounded() / 1000 }
