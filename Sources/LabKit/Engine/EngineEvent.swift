import Foundation

/// Why an instance did not run.
public enum SkipReason: Sendable, Hashable, CustomStringConvertible {
    /// Journaled done and the probe agrees (or cannot tell).
    case done
    /// Not journaled, but the probe found the effect present: adopted into the journal.
    case adopted
    /// A dependency failed or the run stopped before it could run.
    case notReached

    public var description: String {
        switch self {
        case .done: return "done"
        case .adopted: return "already done, adopted"
        case .notReached: return "not reached"
        }
    }

    public var key: String {
        switch self {
        case .done: return "done"
        case .adopted: return "adopted"
        case .notReached: return "not-reached"
        }
    }
}

/// What the engine reports while it runs (SwiftPM's will/did delegate pairs, as one enum).
///
/// The engine never prints; the CLI renders these (`Sources/LabctlCLI/Support/Progress*.swift`).
public enum EngineEvent: Sendable {
    /// The run begins: the instances it considers, in order.
    case runStarted(instances: [StageInstanceID])
    case stageStarted(StageInstanceID)
    case stageSkipped(StageInstanceID, reason: SkipReason)
    case stageFinished(StageInstanceID, duration: Duration)
    case stageFailed(StageInstanceID, error: LabError, lastLogLines: [String])
    /// The instance is ready but waits for something (a shared resource, a node).
    case waiting(StageInstanceID, requirement: String, hint: String?)
    case warning(String)
    case log(StageScope, line: String)
    case runFinished(RunSummary)
}

public struct StageFailure: Sendable, Equatable {
    public var instance: StageInstanceID
    public var error: LabError
    public var lastLogLines: [String]

    public init(instance: StageInstanceID, error: LabError, lastLogLines: [String]) {
        self.instance = instance
        self.error = error
        self.lastLogLines = lastLogLines
    }
}

public struct RunSummary: Sendable, Equatable {
    public enum Outcome: String, Sendable, Hashable {
        case succeeded, failed, cancelled
    }

    public var outcome: Outcome
    /// Instances whose action ran and succeeded.
    public var ran: [StageInstanceID]
    public var skipped: [StageInstanceID]
    public var failures: [StageFailure]
    /// Instances never started because the run stopped.
    public var notReached: [StageInstanceID]
    public var duration: Duration
    /// Per instance that ran (or failed): its duration.
    public var durations: [StageInstanceID: Duration]

    public init(outcome: Outcome, ran: [StageInstanceID], skipped: [StageInstanceID], failures: [StageFailure],
                notReached: [StageInstanceID], duration: Duration, durations: [StageInstanceID: Duration]) {
        self.outcome = outcome
        self.ran = ran
        self.skipped = skipped
        self.failures = failures
        self.notReached = notReached
        self.duration = duration
        self.durations = durations
    }

    /// The error a command should exit with, or nil when the run succeeded.
    public var error: LabError? {
        switch outcome {
        case .succeeded: return nil
        case .cancelled:
            return LabError(.cancelled, "cancelled; the journal records every stage that finished",
                            hint: "run the same command again to continue")
        case .failed:
            guard let first = failures.first else { return LabError(.internalError, "the run failed without a failure") }
            var e = first.error
            if failures.count > 1 {
                e.message += " (and \(failures.count - 1) more failed stage\(failures.count == 2 ? "" : "s"))"
            }
            return e
        }
    }
}

extension Duration {
    /// Seconds as a Double, for JSON and display.
    public var seconds: Double {
        let c = components
        return Double(c.seconds) + Double(c.attoseconds) / 1e18
    }
}

/// `250ms`, `2.0s`, `12s`, `1m05s`, `1h02m`: the one way labctl writes a duration for humans (progress
/// lines, summaries, deadlines and retry delays in messages). Negative durations print as zero.
public func formatDuration(_ d: Duration) -> String {
    let s = max(0, d.seconds)
    if s < 1 { return "\(Int((s * 1000).rounded(.down)))ms" }
    if s < 10 { return String(format: "%.1fs", s) }
    if s < 60 { return "\(Int(s))s" }
    let total = Int(s)
    if total < 3600 { return String(format: "%dm%02ds", total / 60, total % 60) }
    return String(format: "%dh%02dm", total / 3600, (total % 3600) / 60)
}
