import Foundation

/// One line of `labctl plan`.
public struct PlanEntry: Sendable, Hashable {
    public enum Status: Sendable, Hashable {
        /// Would be skipped: journaled done and observed done (or adopted).
        case done
        /// Would run as soon as `up` starts: everything it needs is done.
        case willRun(RunReason)
        /// Would run, but only after these (direct) dependencies have run.
        case blockedBy([StageInstanceID])
    }

    public var instance: StageInstanceID
    public var status: Status
    public var probe: ProbeResult?
    public var summary: String

    public init(instance: StageInstanceID, status: Status, probe: ProbeResult?, summary: String = "") {
        self.instance = instance
        self.status = status
        self.probe = probe
        self.summary = summary
    }
}

/// What `up` would do now, from the graph, the journal and the probes. Probes are observations
/// and have no side effects, so `plan` changes nothing (it does not even take the lab lock).
public enum Planner {
    public static func plan(graph: StageGraph, journal: JournalState, selection: StageSelection = .all,
                            maxConcurrency: Int = 16, probeDeadline: Duration = .seconds(30)) async throws -> [PlanEntry] {
        let (included, forced) = try ResumeRules.select(selection, in: graph)
        let order = graph.order.filter { included.contains($0) }

        // Probe every instance whose decision depends on it, in parallel, bounded.
        let needProbe = order.filter { !forced.contains($0) }
        var probes: [StageInstanceID: ProbeResult] = [:]
        await withTaskGroup(of: (StageInstanceID, ProbeResult).self) { group in
            var next = 0
            var inFlight = 0
            while true {
                while inFlight < max(1, maxConcurrency) && next < needProbe.count {
                    let id = needProbe[next]
                    next += 1
                    inFlight += 1
                    guard let stage = graph[id]?.stage else { continue }
                    let ctx = StageContext(instance: id, topology: graph.topology) { _ in }
                    let deadline = min(probeDeadline, stage.deadline)
                    group.addTask {
                        let r = try? await withDeadline(deadline, onTimeout: { CancellationError() }) { await stage.probe(ctx) }
                        return (id, r ?? .unknown)
                    }
                }
                guard inFlight > 0, let (id, r) = await group.next() else { break }
                inFlight -= 1
                probes[id] = r
            }
        }

        // Simulate the run: an instance that runs gets a sequence newer than everything before it.
        var simulated = journal
        var runs: Set<StageInstanceID> = []
        var entries: [PlanEntry] = []
        for id in order {
            let deps = graph.dependencies(of: id)
            let decision = ResumeRules.preProbe(id, dependencies: graph.changeDependencies(of: id), journal: simulated, forced: forced.contains(id))
                ?? ResumeRules.withProbe(id, journal: simulated, probe: probes[id] ?? .unknown)
            let summary = graph[id]?.stage.summary ?? ""
            switch decision {
            case .skip:
                entries.append(PlanEntry(instance: id, status: .done, probe: probes[id], summary: summary))
                if simulated.done(id) == nil { simulate(id, in: &simulated) }
            case .run(let reason):
                let waitingFor = deps.filter { runs.contains($0) }
                let status: PlanEntry.Status = waitingFor.isEmpty ? .willRun(reason) : .blockedBy(waitingFor)
                entries.append(PlanEntry(instance: id, status: status, probe: probes[id], summary: summary))
                runs.insert(id)
                simulate(id, in: &simulated)
            }
        }
        return entries
    }

    private static func simulate(_ id: StageInstanceID, in state: inout JournalState) {
        let now = Date()
        state.record(JournalEntry(stage: id.stage, scope: id.scope, outcome: .done, sequence: state.nextSequence,
                                  started: now, ended: now, duration: 0))
        state.nextSequence += 1
    }
}
