import Foundation

/// Everything `labctl up` (and `rebuild`, `--from`, `--only`) needs around the engine, in one call:
/// take the lab lock, open the journal, run, write timings and logs, release the lock.
///
/// ```swift
/// let summary = try await LabRun.run(stages: LabStages.all(lab), topology: LabTopology(lab: lab),
///                                    paths: loaded.paths, selection: .all, onEvent: renderer.handler)
/// ```
public enum LabRun {
    public static func run(stages: [Stage], topology: LabTopology, paths: LabPaths, selection: StageSelection = .all,
                           maxConcurrency: Int = 16, onEvent: @escaping @Sendable (EngineEvent) -> Void) async throws -> RunSummary {
        let graph = try StageGraph(stages: stages, topology: topology)
        return try await withLock(paths: paths, onEvent: onEvent) {
            let journal = try Journal(path: paths.journal)
            let options = EngineOptions(maxConcurrency: maxConcurrency, selection: selection,
                                        timingsDirectory: paths.timings, logWriter: logWriter(paths, onEvent))
            return try await StageEngine(graph: graph, journal: journal, options: options, onEvent: onEvent).run()
        }
    }

    /// `labctl rebuild NODE|CLUSTER` after the VMs are destroyed: forget the scope's journal
    /// entries (and those of the scopes inside it), then run everything. The forgotten instances
    /// run again; lab-scope (and other) instances that depend on them run again because their
    /// dependencies are newer in the journal; everything else is skipped.
    ///
    /// `prepare` runs first, under the same lock (`labctl rebuild` destroys the scope's VMs there).
    public static func rebuild(scope: StageScope, stages: [Stage], topology: LabTopology, paths: LabPaths,
                               maxConcurrency: Int = 16, selection: StageSelection = .all,
                               prepare: (@Sendable () async throws -> Void)? = nil,
                               onEvent: @escaping @Sendable (EngineEvent) -> Void) async throws -> RunSummary {
        let graph = try StageGraph(stages: stages, topology: topology)
        return try await withLock(paths: paths, onEvent: onEvent) {
            try await prepare?()
            let journal = try Journal(path: paths.journal)
            try await journal.forget(scope: scope, topology: topology)
            let options = EngineOptions(maxConcurrency: maxConcurrency, selection: selection, timingsDirectory: paths.timings,
                                        logWriter: logWriter(paths, onEvent))
            return try await StageEngine(graph: graph, journal: journal, options: options, onEvent: onEvent).run()
        }
    }

    /// The run's stage logs; a line they cannot write (a full disk) is reported once, as a warning.
    static func logWriter(_ paths: LabPaths, _ onEvent: @escaping @Sendable (EngineEvent) -> Void) -> StageLogWriter {
        StageLogWriter(paths: paths) { error in
            onEvent(.warning("the stage logs are incomplete: \(LabError.describe(error))" + (error.hint.map { "; \($0)" } ?? "")))
        }
    }

    /// Runs `body` holding the lab lock; a stale lock taken over is reported as a warning event.
    /// A busy lab is refused at once, or waited for up to `LABCTL_LOCK_WAIT` seconds (docs/robustness.md).
    public static func withLock<T: Sendable>(paths: LabPaths, onEvent: @Sendable (EngineEvent) -> Void,
                                             _ body: () async throws -> T) async throws -> T {
        let wait = try LabLock.waitFromEnvironment()
        let lock = try await LabLock.acquire(path: paths.lock, wait: wait) { busy in
            onEvent(.warning("\(busy.message); waiting up to \(wait.components.seconds) s (LABCTL_LOCK_WAIT)"))
        }
        defer { lock.release() }
        if let warning = lock.warning { onEvent(.warning(warning)) }
        return try await body()
    }
}
