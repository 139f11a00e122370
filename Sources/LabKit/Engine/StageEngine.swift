import Foundation

public struct EngineOptions: Sendable {
    /// How many instances may probe or act at the same time. Per-node work of a whole lab
    /// (up to ~10 nodes) fits in the default, so every node advances at once.
    public var maxConcurrency: Int
    public var selection: StageSelection
    /// How long a probe may take before it counts as `unknown` (capped by the stage's deadline).
    public var probeDeadline: Duration
    /// How many log lines per instance are kept for the failure summary.
    public var logLinesKept: Int
    /// Where the run's timings file goes (`LabPaths.timings`); nil writes none.
    public var timingsDirectory: String?
    /// How many timings files are kept.
    public var timingsKept: Int
    /// Where stage log lines are appended (per-node logs, host.log); nil keeps them in events only.
    public var logWriter: StageLogWriter?

    public init(maxConcurrency: Int = 16, selection: StageSelection = .all, probeDeadline: Duration = .seconds(60),
                logLinesKept: Int = 20, timingsDirectory: String? = nil, timingsKept: Int = 50,
                logWriter: StageLogWriter? = nil) {
        self.maxConcurrency = max(1, maxConcurrency)
        self.selection = selection
        self.probeDeadline = probeDeadline
        self.logLinesKept = max(0, logLinesKept)
        self.timingsDirectory = timingsDirectory
        self.timingsKept = max(1, timingsKept)
        self.logWriter = logWriter
    }
}

/// Runs a stage graph: bounded parallelism, shared resources, deadlines, journal and resume.
///
/// - Scheduling is event-driven: a task group whose children are stage instances; the
///   coordinator wakes only when one finishes (`group.next()`), never polls.
/// - An instance starts when all its (selected) dependencies are done, a concurrency slot is free,
///   and every shared resource it names is free. Ready instances start in graph order.
/// - On the first failure no new instance starts; instances already running are allowed to
///   finish (their deadlines bound the wait), so their work is journaled instead of being torn
///   halfway (a half-made clone is worse than a finished one). Nothing is ever destroyed.
/// - On cancellation (Ctrl-C cancels the task calling `run`) every running action is cancelled
///   at once, each is journaled `failed` with "cancelled", and `run` returns promptly.
///
/// The engine never prints: it calls `onEvent` (from any task; the handler must be thread-safe).
public struct StageEngine: Sendable {
    public let graph: StageGraph
    public let journal: Journal
    public let options: EngineOptions
    let onEvent: @Sendable (EngineEvent) -> Void

    public init(graph: StageGraph, journal: Journal, options: EngineOptions = EngineOptions(),
                onEvent: @escaping @Sendable (EngineEvent) -> Void = { _ in }) {
        self.graph = graph
        self.journal = journal
        self.options = options
        self.onEvent = onEvent
    }

    /// The events as an `AsyncStream` instead of a handler: pass `continuation.yield` as `onEvent`.
    public static func eventStream() -> (AsyncStream<EngineEvent>, @Sendable (EngineEvent) -> Void) {
        let (stream, continuation) = AsyncStream<EngineEvent>.makeStream(bufferingPolicy: .unbounded)
        return (stream, { event in
            continuation.yield(event)
            if case .runFinished = event { continuation.finish() }
        })
    }

    private enum Completion: Sendable {
        case ran(StageInstanceID, Duration)
        case skipped(StageInstanceID, SkipReason)
        case failed(StageFailure, Duration)
    }

    /// Runs the selection. Throws only when the run cannot start (bad selection, `--only`
    /// blocked, unreadable journal); stage failures come back in the summary.
    public func run() async throws -> RunSummary {
        let started = ContinuousClock.now
        let startDate = Date()
        let (included, forced) = try ResumeRules.select(options.selection, in: graph)
        let journalAtStart = await journal.snapshot

        if case .only = options.selection {
            var blocked: [String] = []
            for id in graph.order where included.contains(id) {
                for d in graph.dependencies(of: id) where !included.contains(d) && journalAtStart.done(d) == nil {
                    blocked.append("\(id) is blocked by \(d)")
                }
            }
            if !blocked.isEmpty {
                throw LabError(.conflict, "--only cannot run: a dependency is not done",
                               location: .other(blocked.joined(separator: "; ")),
                               hint: "run `labctl up` (or `--from` the blocking stage) first")
            }
        }

        let order = graph.order.filter { included.contains($0) }
        let position = Dictionary(uniqueKeysWithValues: order.enumerated().map { ($1, $0) })
        onEvent(.runStarted(instances: order))

        var remaining: [StageInstanceID: Int] = [:]
        for id in order { remaining[id] = graph.dependencies(of: id).filter { included.contains($0) }.count }
        var ready = order.filter { remaining[$0] == 0 }
        var started_: Set<StageInstanceID> = []
        var heldBy: [String: StageInstanceID] = [:]
        var announcedWaits: Set<StageInstanceID> = []
        var ran: [StageInstanceID] = []
        var skipped: [StageInstanceID] = []
        var failures: [StageFailure] = []
        var durations: [StageInstanceID: Duration] = [:]
        var stopping = false
        var cancelled = false

        await withTaskGroup(of: Completion.self) { group in
            var inFlight = 0
            while true {
                if Task.isCancelled { stopping = true; cancelled = true }
                // Start what can start.
                if !stopping {
                    var i = 0
                    while i < ready.count && inFlight < options.maxConcurrency {
                        let id = ready[i]
                        let resources = graph[id]?.stage.resources ?? []
                        if let busy = resources.sorted().first(where: { heldBy[$0] != nil }) {
                            if !announcedWaits.contains(id), let holder = heldBy[busy] {
                                announcedWaits.insert(id)
                                onEvent(.waiting(id, requirement: busy, hint: "held by \(holder)"))
                            }
                            i += 1
                            continue
                        }
                        ready.remove(at: i)
                        for r in resources { heldBy[r] = id }
                        started_.insert(id)
                        inFlight += 1
                        let isForced = forced.contains(id)
                        group.addTask { await self.execute(id, forced: isForced) }
                    }
                }
                if inFlight == 0 { break }
                guard let completion = await group.next() else { break }
                inFlight -= 1
                let done: StageInstanceID
                switch completion {
                case .ran(let id, let d):
                    ran.append(id)
                    durations[id] = d
                    done = id
                case .skipped(let id, _):
                    skipped.append(id)
                    done = id
                case .failed(let failure, let d):
                    failures.append(failure)
                    durations[failure.instance] = d
                    if failure.error.code == .cancelled { cancelled = true }
                    stopping = true
                    for r in graph[failure.instance]?.stage.resources ?? [] where heldBy[r] == failure.instance {
                        heldBy[r] = nil
                    }
                    continue
                }
                for r in graph[done]?.stage.resources ?? [] where heldBy[r] == done { heldBy[r] = nil }
                for d in graph.dependents(of: done) where included.contains(d) {
                    remaining[d, default: 0] -= 1
                    if remaining[d] == 0 { ready.append(d) }
                }
                ready.sort { (position[$0] ?? 0) < (position[$1] ?? 0) }
            }
        }
        if Task.isCancelled { cancelled = true }
        options.logWriter?.flush()

        let notReached = order.filter { !started_.contains($0) }
        let outcome: RunSummary.Outcome = cancelled ? .cancelled : (failures.isEmpty ? .succeeded : .failed)
        let summary = RunSummary(outcome: outcome, ran: ran, skipped: skipped, failures: failures,
                                 notReached: notReached, duration: ContinuousClock.now - started, durations: durations)
        if let dir = options.timingsDirectory {
            do {
                try Timings.write(summary, started: startDate, directory: dir, keep: options.timingsKept)
            } catch {
                onEvent(.warning("could not write the timings file: \(error)"))
            }
        }
        onEvent(.runFinished(summary))
        return summary
    }

    private func execute(_ id: StageInstanceID, forced: Bool) async -> Completion {
        guard let instance = graph[id] else {
            let e = LabError(.internalError, "stage instance \(id) is not in the graph")
            return .failed(StageFailure(instance: id, error: e, lastLogLines: []), .zero)
        }
        let stage = instance.stage
        let buffer = LogBuffer(keep: options.logLinesKept)
        let onEvent = self.onEvent
        let writer = options.logWriter
        let context = StageContext(instance: id, topology: graph.topology) { line in
            buffer.append(line)
            writer?.append(id, line)
            onEvent(.log(id.scope, line: line))
        } events: { event in
            onEvent(event)
        }

        // Decide: skip or run.
        let journalState = await journal.snapshot
        var decision = ResumeRules.preProbe(id, dependencies: instance.changeDependencies, journal: journalState, forced: forced)
        if decision == nil {
            let probeDeadline = min(options.probeDeadline, stage.deadline)
            let probe = stage.probe
            let result: ProbeResult
            do {
                result = try await withDeadline(probeDeadline, onTimeout: { CancellationError() }) { await probe(context) }
            } catch {
                if Task.isCancelled {
                    return .failed(StageFailure(instance: id, error: Self.cancelledError(id), lastLogLines: buffer.lines), .zero)
                }
                onEvent(.warning("the probe of \(id) did not answer within \(formatDuration(probeDeadline)); treating it as unknown"))
                result = .unknown
            }
            decision = ResumeRules.withProbe(id, journal: journalState, probe: result)
        }

        switch decision {
        case .skip(let reason)?:
            if reason == .adopted {
                let now = Date()
                do {
                    try await journal.record(id, outcome: .done, started: now, ended: now, adopted: true)
                } catch let e as LabError {
                    return .failed(StageFailure(instance: id, error: e, lastLogLines: []), .zero)
                } catch {
                    return .failed(StageFailure(instance: id, error: LabError(.internalError, "\(error)"), lastLogLines: []), .zero)
                }
            }
            onEvent(.stageSkipped(id, reason: reason))
            return .skipped(id, reason)
        case .run(let reason)?:
            if reason == .probeDisagrees {
                onEvent(.warning("\(id) is journaled done but the system says otherwise; running it again"))
            }
        case nil:
            break
        }

        // Run the action under its deadline.
        let startDate = Date()
        let start = ContinuousClock.now
        onEvent(.stageStarted(id))
        let action = stage.action
        let deadline = stage.deadline
        let retry = stage.retry
        var failure: LabError?
        do {
            try await withDeadline(deadline, onTimeout: {
                LabError(.timeout, "stage \(id.stage) on \(id.scope.name) did not finish within \(formatDuration(deadline))",
                         location: .stage(id.description),
                         hint: "look at the log of \(id.scope.name) (`labctl logs \(id.scope.name)`), then run `labctl up` again")
            }) {
                var pause = retry.delay
                for attempt in 1...retry.attempts {
                    do {
                        try await action(context)
                        return
                    } catch let e as LabError where attempt < retry.attempts && retry.retryOn.contains(e.code) && !Task.isCancelled {
                        onEvent(.warning("\(id) failed (\(e.message)); retrying in \(formatDuration(pause)) (attempt \(attempt + 1) of \(retry.attempts))"))
                        try await Task.sleep(for: pause)
                        pause = pause * 2
                    }
                }
            }
        } catch let e as LabError {
            failure = e
        } catch is CancellationError {
            failure = Self.cancelledError(id)
        } catch {
            failure = LabError(.commandFailed, "stage \(id.stage) on \(id.scope.name) failed", location: .stage(id.description),
                               hint: "run `labctl up` again after fixing the cause", cause: error)
        }
        if failure == nil, Task.isCancelled {
            // The action swallowed the cancellation; the run is ending anyway, but its work is done.
        }
        let duration = ContinuousClock.now - start
        let endDate = Date()
        if var failure {
            if failure.location == nil { failure.location = .stage(id.description) }
            do {
                try await journal.record(id, outcome: .failed, started: startDate, ended: endDate, error: failure.message)
            } catch {
                onEvent(.warning("could not journal the failure of \(id): \(error)"))
            }
            let lines = buffer.lines
            onEvent(.stageFailed(id, error: failure, lastLogLines: lines))
            return .failed(StageFailure(instance: id, error: failure, lastLogLines: lines), duration)
        }
        do {
            try await journal.record(id, outcome: .done, started: startDate, ended: endDate)
        } catch {
            let e = (error as? LabError) ?? LabError(.internalError, "cannot write the journal", cause: error)
            onEvent(.stageFailed(id, error: e, lastLogLines: buffer.lines))
            return .failed(StageFailure(instance: id, error: e, lastLogLines: buffer.lines), duration)
        }
        onEvent(.stageFinished(id, duration: duration))
        return .ran(id, duration)
    }

    static func cancelledError(_ id: StageInstanceID) -> LabError {
        LabError(.cancelled, "stage \(id.stage) on \(id.scope.name) was cancelled", location: .stage(id.description),
                 hint: "run the same command again to continue")
    }

}

/// The last N log lines of one instance, for the failure summary.
final class LogBuffer: @unchecked Sendable {
    private let lock = NSLock()
    private var storage: [String] = []
    private let keep: Int

    init(keep: Int) { self.keep = keep }

    func append(_ line: String) {
        lock.lock()
        defer { lock.unlock() }
        guard keep > 0 else { return }
        storage.append(line)
        if storage.count > keep { storage.removeFirst(storage.count - keep) }
    }

    var lines: [String] {
        lock.lock()
        defer { lock.unlock() }
        return storage
    }
}
