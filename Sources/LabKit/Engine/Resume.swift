import Foundation

/// Which instances a run considers, and which it runs regardless of journal and probes.
public enum StageSelection: Sendable, Hashable {
    /// Everything (`labctl up`): each instance runs unless the resume rules skip it.
    case all
    /// `--from STAGE`: re-run that stage (for every scope, or one scope) and everything that
    /// depends on it; what it depends on is resumed normally. Unrelated instances are left alone.
    case from(stage: String, scope: StageScope?)
    /// `--only STAGE`: just that stage (every scope, or one scope), forced; nothing else runs.
    /// Its dependencies must be journaled done, or the run refuses with "blocked by".
    case only(stage: String, scope: StageScope?)
    /// `--to STAGE`: bring the lab only as far as that stage (every scope, or one scope): it and what
    /// it depends on are resumed normally; nothing that comes after it is considered. `labctl up --to
    /// node.checkpoint` stops at the seed's snapshot#2 without installing Kubernetes.
    case upTo(stage: String, scope: StageScope?)
}

/// Why an instance runs.
public enum RunReason: Sendable, Hashable, CustomStringConvertible {
    /// Not in the journal and the probe does not find it done.
    case notDone
    /// Journaled as failed last time.
    case failedBefore
    /// Journaled done, but the probe says its effect is gone: re-run (with a warning).
    case probeDisagrees
    /// A dependency completed after this instance did (it was re-run or rebuilt).
    case dependencyChanged(StageInstanceID)
    /// Selected with `--from` or `--only`.
    case selected

    public var description: String {
        switch self {
        case .notDone: return "not done"
        case .failedBefore: return "failed last time"
        case .probeDisagrees: return "journaled done, but the system says otherwise"
        case .dependencyChanged(let d): return "\(d) changed since"
        case .selected: return "selected"
        }
    }
}

/// The resume rules, shared by the engine and `plan` so both always agree.
///
/// Evaluated once every dependency of the instance is done (in the journal):
/// 1. forced (selected) → run.
/// 2. journaled done, and some dependency's done entry has a higher sequence → run
///    (`dependencyChanged`: make-style staleness; this is what makes `rebuild cluster2` re-run the
///    lab-scope stages that depend on cluster2, even after a crash mid-rebuild).
/// 3. journaled done, probe `done` or `unknown` → skip (the journal is trusted when the probe
///    cannot tell, for example a node that is powered off).
/// 4. journaled done, probe `notDone` → run, with a warning.
/// 5. not journaled done, probe `done` → adopt: record done without running, skip.
/// 6. otherwise → run.
public enum ResumeRules {
    public enum Decision: Sendable, Hashable {
        case skip(SkipReason)
        case run(RunReason)
    }

    /// What must be known before the probe is needed: returns a decision, or nil when the probe decides.
    public static func preProbe(_ id: StageInstanceID, dependencies: [StageInstanceID], journal: JournalState,
                                forced: Bool) -> Decision? {
        if forced { return .run(.selected) }
        if let mine = journal.done(id) {
            for d in dependencies {
                if let dep = journal.done(d), dep.sequence > mine.sequence { return .run(.dependencyChanged(d)) }
            }
            return nil
        }
        return nil
    }

    public static func withProbe(_ id: StageInstanceID, journal: JournalState, probe: ProbeResult) -> Decision {
        if journal.done(id) != nil {
            return probe == .notDone ? .run(.probeDisagrees) : .skip(.done)
        }
        if probe == .done { return .skip(.adopted) }
        if journal.entry(for: id)?.outcome == .failed { return .run(.failedBefore) }
        return .run(.notDone)
    }

    /// The instances a selection considers (`included`) and those it forces.
    public static func select(_ selection: StageSelection, in graph: StageGraph) throws
        -> (included: Set<StageInstanceID>, forced: Set<StageInstanceID>) {
        switch selection {
        case .all:
            return (Set(graph.order), [])
        case .from(let stage, let scope):
            let matching = try matches(stage, scope, graph)
            let forced = matching.union(graph.transitiveDependents(of: matching))
            return (forced.union(graph.transitiveDependencies(of: forced)), forced)
        case .only(let stage, let scope):
            let matching = try matches(stage, scope, graph)
            return (matching, matching)
        case .upTo(let stage, let scope):
            let matching = try matches(stage, scope, graph)
            return (matching.union(graph.transitiveDependencies(of: matching)), [])
        }
    }

    private static func matches(_ stage: String, _ scope: StageScope?, _ graph: StageGraph) throws -> Set<StageInstanceID> {
        guard graph.stageIDs.contains(stage) else {
            throw LabError(.invalidInput, "there is no stage \(stage)", location: .option("--from/--only/--to"),
                           hint: "stages: \(graph.stageIDs.joined(separator: ", "))")
        }
        let found = graph.instances(ofStage: stage, scope: scope)
        guard !found.isEmpty else {
            throw LabError(.invalidInput, "stage \(stage) does not run on \(scope?.name ?? "any scope")",
                           location: .option("--from/--only/--to"), hint: "`labctl plan` lists every stage and where it runs")
        }
        return Set(found)
    }
}
