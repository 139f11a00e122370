import Foundation
import Testing
@testable import LabKit

/// Counts actions and probes of fake stages and tracks how many run at once.
actor Recorder {
    private(set) var actions: [StageInstanceID] = []
    private(set) var probes: [StageInstanceID] = []
    private(set) var inFlight = 0
    private(set) var maxInFlight = 0
    private(set) var inFlightByResource: [String: Int] = [:]
    private(set) var maxByResource: [String: Int] = [:]
    /// Instance → whether its effect is present on the "real system".
    var system: [StageInstanceID: Bool] = [:]
    /// Instances whose action throws.
    var failing: Set<StageInstanceID> = []
    private(set) var startTick: [StageInstanceID: Int] = [:]
    private(set) var endTick: [StageInstanceID: Int] = [:]
    private var clock = 0

    func begin(_ id: StageInstanceID, resources: Set<String>) {
        clock += 1
        startTick[id] = clock
        actions.append(id)
        inFlight += 1
        maxInFlight = max(maxInFlight, inFlight)
        for r in resources {
            inFlightByResource[r, default: 0] += 1
            maxByResource[r] = max(maxByResource[r] ?? 0, inFlightByResource[r] ?? 0)
        }
    }

    func end(_ id: StageInstanceID, resources: Set<String>, success: Bool) {
        inFlight -= 1
        for r in resources { inFlightByResource[r, default: 0] -= 1 }
        if success { system[id] = true }
        clock += 1
        endTick[id] = clock
    }

    func probed(_ id: StageInstanceID) -> ProbeResult {
        probes.append(id)
        guard let present = system[id] else { return .notDone }
        return present ? .done : .notDone
    }

    func shouldFail(_ id: StageInstanceID) -> Bool { failing.contains(id) }
    func setFailing(_ ids: Set<StageInstanceID>) { failing = ids }
    func set(_ id: StageInstanceID, present: Bool) { system[id] = present }
    func resetCounts() {
        actions = []
        probes = []
        maxInFlight = 0
        maxByResource = [:]
    }

    func count(_ stage: String) -> Int { actions.filter { $0.stage == stage }.count }
}

/// Collects events (thread-safe) for assertions.
final class EventLog: @unchecked Sendable {
    private let lock = NSLock()
    private var storage: [EngineEvent] = []
    func append(_ e: EngineEvent) {
        lock.lock()
        storage.append(e)
        lock.unlock()
    }
    var events: [EngineEvent] {
        lock.lock()
        defer { lock.unlock() }
        return storage
    }
    var warnings: [String] {
        events.compactMap { if case .warning(let w) = $0 { return w } else { return nil } }
    }
}

/// A fake stage: records its probe and action, sleeps `work`, fails when told to.
func fakeStage(_ id: String, _ scope: StageScope.Kind, deps: [StageDependency] = [], resources: Set<String> = [],
               deadline: Duration = .seconds(30), work: Duration = .milliseconds(20), recorder: Recorder) -> Stage {
    Stage(id: id, scope: scope, dependencies: deps, resources: resources, deadline: deadline,
          probe: { ctx in await recorder.probed(ctx.instance) },
          action: { ctx in
              await recorder.begin(ctx.instance, resources: resources)
              let fail = await recorder.shouldFail(ctx.instance)
              do {
                  try await Task.sleep(for: work)
              } catch {
                  await recorder.end(ctx.instance, resources: resources, success: false)
                  throw error
              }
              ctx.log("did \(ctx.instance)")
              await recorder.end(ctx.instance, resources: resources, success: !fail)
              if fail { throw LabError(.commandFailed, "injected failure in \(ctx.instance)") }
          })
}

/// The lab shape of the repository: two clusters, a control plane and a worker each.
let twoClusters = LabTopology(clusters: [
    .init(name: "cluster1", nodes: ["cluster1-ctrl-plane", "cluster1-worker1"]),
    .init(name: "cluster2", nodes: ["cluster2-ctrl-plane", "cluster2-worker1"]),
])

/// Node, cluster and lab stages shaped like `up`: base check (lab), clone/identity/checkpoint
/// per node, a cluster stage over its nodes, and a mesh stage over all clusters.
func labStages(_ r: Recorder, work: Duration = .milliseconds(20)) -> [Stage] {
    [
        fakeStage("base.check", .lab, work: work, recorder: r),
        fakeStage("node.clone", .node, deps: [.init("base.check", .lab)], resources: [], work: work, recorder: r),
        fakeStage("node.identity", .node, deps: [.init("node.clone")], work: work, recorder: r),
        fakeStage("node.checkpoint", .node, deps: [.init("node.identity")], work: work, recorder: r),
        fakeStage("cluster.init", .cluster, deps: [.init("node.checkpoint", .nodesOfCluster)], work: work, recorder: r),
        fakeStage("mesh.trust", .lab, deps: [.init("cluster.init", .allClusters)], work: work, recorder: r),
    ]
}

/// A fresh temporary state directory.
func temporaryDirectory() throws -> String {
    let path = (NSTemporaryDirectory() as NSString).appendingPathComponent("labctl-engine-\(UUID().uuidString)")
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

func engine(_ stages: [Stage], topology: LabTopology = twoClusters, dir: String, options: EngineOptions = EngineOptions(),
            events: EventLog? = nil) throws -> StageEngine {
    let graph = try StageGraph(stages: stages, topology: topology)
    let journal = try Journal(path: LabPaths(root: dir).journal)
    return StageEngine(graph: graph, journal: journal, options: options) { e in events?.append(e) }
}
