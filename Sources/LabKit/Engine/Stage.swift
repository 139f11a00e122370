import Foundation

/// Where a stage instance acts: the whole lab, one cluster, or one node.
public enum StageScope: Hashable, Sendable, Codable, Comparable, CustomStringConvertible {
    case lab
    case cluster(String)
    case node(String)

    public enum Kind: String, Sendable, Codable, Hashable {
        case lab, cluster, node
    }

    public var kind: Kind {
        switch self {
        case .lab: return .lab
        case .cluster: return .cluster
        case .node: return .node
        }
    }

    /// `lab`, `cluster1`, `cluster1-ctrl-plane`: the part after `@` in an instance id.
    public var name: String {
        switch self {
        case .lab: return "lab"
        case .cluster(let name), .node(let name): return name
        }
    }

    public var description: String { name }

    /// Used as the JSON form in the journal and in `--progress json`: `lab`, `cluster:NAME`, `node:NAME`.
    public var key: String {
        switch self {
        case .lab: return "lab"
        case .cluster(let name): return "cluster:\(name)"
        case .node(let name): return "node:\(name)"
        }
    }

    public init?(key: String) {
        if key == "lab" { self = .lab; return }
        if key.hasPrefix("cluster:") { self = .cluster(String(key.dropFirst(8))); return }
        if key.hasPrefix("node:") { self = .node(String(key.dropFirst(5))); return }
        return nil
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        let key = try c.decode(String.self)
        guard let scope = StageScope(key: key) else {
            throw DecodingError.dataCorruptedError(in: c, debugDescription: "not a stage scope: \(key)")
        }
        self = scope
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(key)
    }

    public static func < (a: StageScope, b: StageScope) -> Bool { a.key < b.key }
}

/// One stage definition expanded for one scope: `node.clone@cluster1-ctrl-plane`.
public struct StageInstanceID: Hashable, Sendable, Codable, Comparable, CustomStringConvertible {
    public var stage: String
    public var scope: StageScope

    public init(_ stage: String, _ scope: StageScope) {
        self.stage = stage
        self.scope = scope
    }

    public var description: String { "\(stage)@\(scope.name)" }

    public static func < (a: StageInstanceID, b: StageInstanceID) -> Bool {
        (a.stage, a.scope.key) < (b.stage, b.scope.key)
    }
}

/// What a probe observed on the real system.
public enum ProbeResult: String, Sendable, Codable, Hashable {
    /// The stage's effect is present (the VM exists, the hostname is set).
    case done
    /// The effect is missing: the stage must run.
    case notDone
    /// The probe cannot tell (the node does not answer yet, the stage has no probe).
    case unknown
}

/// Which instances of another stage an instance depends on, relative to its own scope.
public enum ScopeRelation: String, Sendable, Hashable, Codable {
    /// The same scope: node → same node, cluster → same cluster, lab → lab.
    case same
    /// The cluster this instance belongs to (from a node: its cluster; from a cluster: itself).
    case ownCluster
    /// Every node of this instance's cluster.
    case nodesOfCluster
    /// Every node of the lab.
    case allNodes
    /// Every cluster of the lab.
    case allClusters
    /// The lab-scope instance.
    case lab
}

public struct StageDependency: Sendable, Hashable {
    public var stage: String
    public var relation: ScopeRelation
    /// Order only: wait for it, but do not re-run when it re-runs (resume rule 2 ignores it).
    /// For a cluster stage that needs a lab stage to have run once, where that lab stage re-runs
    /// for another cluster's sake: cluster1's Istio install waits for the lab's merged kubeconfig,
    /// but `rebuild cluster2` (which re-runs the merge) must not re-install Istio in cluster1.
    public var orderOnly: Bool

    public init(_ stage: String, _ relation: ScopeRelation = .same, orderOnly: Bool = false) {
        self.stage = stage
        self.relation = relation
        self.orderOnly = orderOnly
    }
}

/// What a stage's probe and action get: who they are, the topology, and a way to log.
public struct StageContext: Sendable {
    public var instance: StageInstanceID
    public var topology: LabTopology
    let logSink: @Sendable (String) -> Void
    let eventSink: @Sendable (EngineEvent) -> Void

    public init(instance: StageInstanceID, topology: LabTopology, log: @escaping @Sendable (String) -> Void,
                events: @escaping @Sendable (EngineEvent) -> Void = { _ in }) {
        self.instance = instance
        self.topology = topology
        self.logSink = log
        self.eventSink = events
    }

    public var scope: StageScope { instance.scope }

    /// One line of the stage's log: delivered as an `EngineEvent.log`, appended to the node's log
    /// file, and kept for the failure summary. Callers redact secrets first (`Redactor`).
    public func log(_ line: String) { logSink(line) }

    /// Says the action waits for something outside labctl (a node to answer SSH, an address to be
    /// free), with a hint for the user: an `EngineEvent.waiting`.
    public func waiting(for requirement: String, hint: String? = nil) {
        eventSink(.waiting(instance, requirement: requirement, hint: hint))
    }

    /// A warning shown to the user (`EngineEvent.warning`), prefixed with the instance.
    public func warn(_ text: String) { eventSink(.warning("\(instance): \(text)")) }
}

/// A stage is data: the engine expands it per scope and schedules the instances.
///
/// Stages from other modules (LabStages) plug in by building these values; the engine
/// knows nothing about VMware or SSH.
public struct Stage: Sendable {
    public typealias Probe = @Sendable (StageContext) async -> ProbeResult
    public typealias Action = @Sendable (StageContext) async throws -> Void

    /// `node.clone`, `cluster.kubeadm-init`, `mesh.trust`.
    public var id: String
    /// Which scopes it is expanded for: once for the lab, once per cluster, or once per node.
    public var scope: StageScope.Kind
    public var dependencies: [StageDependency]
    /// Shared things the action must hold alone while it runs (`base-vm`, `first-contact-address`,
    /// `nat-config`). Instances that name the same resource never run at the same time.
    public var resources: Set<String>
    /// The action's deadline. On expiry its task is cancelled and the instance fails with `.timeout`.
    public var deadline: Duration
    /// A one-line description for `plan` and help.
    public var summary: String
    /// Observes whether the stage's effect is already present. Must have no side effects.
    public var probe: Probe
    public var action: Action
    /// Limits the stage to some scopes (for example only control-plane nodes). Nil: every scope of its kind.
    public var applies: (@Sendable (StageScope, LabTopology) -> Bool)?
    /// Retries of the action after a transient failure; all attempts share the one deadline.
    public var retry: RetryPolicy

    public init(id: String, scope: StageScope.Kind, dependencies: [StageDependency] = [], resources: Set<String> = [],
                deadline: Duration = .seconds(600), summary: String = "",
                applies: (@Sendable (StageScope, LabTopology) -> Bool)? = nil, retry: RetryPolicy = .none,
                probe: @escaping Probe = { _ in .unknown }, action: @escaping Action) {
        self.retry = retry
        self.id = id
        self.scope = scope
        self.dependencies = dependencies
        self.resources = resources
        self.deadline = deadline
        self.summary = summary
        self.applies = applies
        self.probe = probe
        self.action = action
    }
}

/// The shape of the lab the graph is expanded over: clusters and their nodes, in file order.
public struct LabTopology: Sendable, Hashable, Codable {
    public struct Cluster: Sendable, Hashable, Codable {
        public var name: String
        public var nodes: [String]
        public init(name: String, nodes: [String]) {
            self.name = name
            self.nodes = nodes
        }
    }

    public var clusters: [Cluster]

    public init(clusters: [Cluster]) { self.clusters = clusters }

    public init(lab: Lab) {
        clusters = lab.clusters.map { Cluster(name: $0.name, nodes: $0.nodes.map(\.name)) }
    }

    public var nodes: [String] { clusters.flatMap(\.nodes) }

    public func cluster(ofNode node: String) -> String? {
        clusters.first { $0.nodes.contains(node) }?.name
    }

    public func nodes(ofCluster cluster: String) -> [String] {
        clusters.first { $0.name == cluster }?.nodes ?? []
    }

    /// The scope itself and every scope inside it: a cluster contains its nodes, the lab contains everything.
    public func scopes(within scope: StageScope) -> Set<StageScope> {
        switch scope {
        case .node: return [scope]
        case .cluster(let name): return Set([scope] + nodes(ofCluster: name).map { StageScope.node($0) })
        case .lab:
            return Set([StageScope.lab] + clusters.map { .cluster($0.name) } + nodes.map { .node($0) })
        }
    }
}

/// How often a stage's action is retried, and after which errors.
///
/// Retries are bounded (`attempts`) and all attempts together stay within the stage's deadline.
/// Only errors with a code in `retryOn` are retried: a wrong lab.json or a security refusal is
/// not transient.
public struct RetryPolicy: Sendable, Hashable {
    /// Total attempts, including the first (1 = no retry).
    public var attempts: Int
    /// The pause before the second attempt; doubled for each later one.
    public var delay: Duration
    public var retryOn: Set<LabError.Code>

    public init(attempts: Int, delay: Duration = .seconds(2), retryOn: Set<LabError.Code> = [.commandFailed, .connection, .timeout]) {
        self.attempts = max(1, attempts)
        self.delay = delay
        self.retryOn = retryOn
    }

    public static let none = RetryPolicy(attempts: 1)
}
