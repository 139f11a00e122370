import Foundation

/// Stage definitions expanded over a topology: a concrete, acyclic graph of stage instances.
///
/// Building it checks every dependency: an unknown stage id, a relation that does not fit the
/// scopes (a lab stage asking for "its own cluster"), or a cycle is an error at build time,
/// never a hang at run time.
public struct StageGraph: Sendable {
    public struct Instance: Sendable {
        public var id: StageInstanceID
        public var stage: Stage
        /// Direct dependencies, sorted.
        public var dependencies: [StageInstanceID]
        /// The dependencies that are order-only (`StageDependency.orderOnly`): not part of staleness.
        public var orderOnly: Set<StageInstanceID> = []
        /// The dependencies whose re-run makes this instance stale (resume rule 2).
        public var changeDependencies: [StageInstanceID] { dependencies.filter { !orderOnly.contains($0) } }
    }

    public let topology: LabTopology
    /// Every instance, in a deterministic topological order (dependencies first).
    public let order: [StageInstanceID]
    private let instances: [StageInstanceID: Instance]
    private let dependentsMap: [StageInstanceID: [StageInstanceID]]
    /// Stage ids in definition order.
    public let stageIDs: [String]

    public subscript(id: StageInstanceID) -> Instance? { instances[id] }

    public var count: Int { order.count }

    public func dependencies(of id: StageInstanceID) -> [StageInstanceID] { instances[id]?.dependencies ?? [] }
    /// The dependencies whose re-run makes `id` stale (all but the order-only ones).
    public func changeDependencies(of id: StageInstanceID) -> [StageInstanceID] { instances[id]?.changeDependencies ?? [] }
    public func dependents(of id: StageInstanceID) -> [StageInstanceID] { dependentsMap[id] ?? [] }

    /// Every instance of a stage id, optionally restricted to one scope.
    public func instances(ofStage stage: String, scope: StageScope? = nil) -> [StageInstanceID] {
        order.filter { $0.stage == stage && (scope == nil || $0.scope == scope) }
    }

    /// Everything that (transitively) depends on the given instances, not including them: what a
    /// re-run of them makes stale (`--from`). Order-only edges (`StageDependency.orderOnly`) are not
    /// followed: such a dependent waits for the instance but does not re-run when it re-runs.
    public func transitiveDependents(of ids: some Sequence<StageInstanceID>) -> Set<StageInstanceID> {
        closure(from: ids, next: { id in dependents(of: id).filter { !(instances[$0]?.orderOnly.contains(id) ?? false) } })
    }

    /// Everything the given instances (transitively) depend on, not including them.
    public func transitiveDependencies(of ids: some Sequence<StageInstanceID>) -> Set<StageInstanceID> {
        closure(from: ids, next: dependencies(of:))
    }

    private func closure(from ids: some Sequence<StageInstanceID>, next: (StageInstanceID) -> [StageInstanceID]) -> Set<StageInstanceID> {
        var seen = Set<StageInstanceID>()
        var stack = Array(ids)
        while let id = stack.popLast() {
            for n in next(id) where !seen.contains(n) {
                seen.insert(n)
                stack.append(n)
            }
        }
        return seen
    }

    public init(stages: [Stage], topology: LabTopology) throws {
        self.topology = topology
        var byID: [String: Stage] = [:]
        for stage in stages {
            if byID[stage.id] != nil {
                throw LabError(.internalError, "stage \(stage.id) is defined twice", location: .stage(stage.id),
                               hint: "give every stage a unique id")
            }
            byID[stage.id] = stage
        }
        stageIDs = stages.map(\.id)

        // Expand every stage over the scopes of its kind.
        var instances: [StageInstanceID: Instance] = [:]
        var definitionOrder: [StageInstanceID] = []
        for stage in stages {
            for scope in Self.scopes(of: stage.scope, in: topology) where stage.applies?(scope, topology) ?? true {
                let id = StageInstanceID(stage.id, scope)
                instances[id] = Instance(id: id, stage: stage, dependencies: [])
                definitionOrder.append(id)
            }
        }

        // Resolve dependencies.
        var errors: [LabError] = []
        for id in definitionOrder {
            guard let stage = instances[id]?.stage else { continue }
            var deps = Set<StageInstanceID>()
            var changing = Set<StageInstanceID>()
            for dep in stage.dependencies {
                guard let target = byID[dep.stage] else {
                    errors.append(LabError(.internalError, "stage \(stage.id) depends on unknown stage \(dep.stage)",
                                           location: .stage(stage.id),
                                           hint: "known stages: \(stages.map(\.id).joined(separator: ", "))"))
                    continue
                }
                do {
                    let scopes = try Self.resolve(dep.relation, from: id.scope, to: target.scope, topology: topology,
                                                  describing: "\(stage.id) → \(dep.stage) (\(dep.relation.rawValue))")
                    for scope in scopes {
                        let depID = StageInstanceID(dep.stage, scope)
                        // A stage restricted by `applies` has no instance for some scopes; depending on
                        // "all nodes" then means all nodes it applies to.
                        if instances[depID] != nil {
                            deps.insert(depID)
                            if !dep.orderOnly { changing.insert(depID) }
                        }
                    }
                } catch let e as LabError {
                    errors.append(e)
                }
            }
            instances[id]?.dependencies = deps.sorted()
            instances[id]?.orderOnly = deps.subtracting(changing)
        }
        // The same definition error shows up once per instance; report it once.
        var seen = Set<String>()
        errors = errors.filter { seen.insert($0.description).inserted }
        if let first = errors.first {
            if errors.count == 1 { throw first }
            throw LabErrors(errors)
        }

        var dependents: [StageInstanceID: [StageInstanceID]] = [:]
        for id in definitionOrder {
            for d in instances[id]?.dependencies ?? [] { dependents[d, default: []].append(id) }
        }

        // Kahn's algorithm, taking ready instances in definition order so the order is stable.
        var indegree: [StageInstanceID: Int] = [:]
        for id in definitionOrder { indegree[id] = instances[id]?.dependencies.count ?? 0 }
        let position = Dictionary(uniqueKeysWithValues: definitionOrder.enumerated().map { ($1, $0) })
        var ready = definitionOrder.filter { indegree[$0] == 0 }
        var order: [StageInstanceID] = []
        while !ready.isEmpty {
            ready.sort { (position[$0] ?? 0) < (position[$1] ?? 0) }
            let id = ready.removeFirst()
            order.append(id)
            for d in dependents[id] ?? [] {
                indegree[d, default: 0] -= 1
                if indegree[d] == 0 { ready.append(d) }
            }
        }
        if order.count < definitionOrder.count {
            let cycle = Self.findCycle(among: definitionOrder.filter { (indegree[$0] ?? 0) > 0 }, instances: instances)
            throw LabError(.internalError, "the stages form a cycle: \(cycle.map(\.description).joined(separator: " → "))",
                           location: .stage(cycle.first?.stage ?? "?"),
                           hint: "remove one of these dependencies")
        }

        self.order = order
        self.instances = instances
        self.dependentsMap = dependents
    }

    static func scopes(of kind: StageScope.Kind, in topology: LabTopology) -> [StageScope] {
        switch kind {
        case .lab: return [.lab]
        case .cluster: return topology.clusters.map { .cluster($0.name) }
        case .node: return topology.nodes.map { .node($0) }
        }
    }

    static func resolve(_ relation: ScopeRelation, from scope: StageScope, to kind: StageScope.Kind,
                        topology: LabTopology, describing what: String) throws -> [StageScope] {
        func mismatch(_ why: String) -> LabError {
            LabError(.internalError, "dependency \(what) does not fit: \(why)", location: .stage(what),
                     hint: "use a relation that matches both stages' scopes")
        }
        func ownCluster() -> String? {
            switch scope {
            case .lab: return nil
            case .cluster(let c): return c
            case .node(let n): return topology.cluster(ofNode: n)
            }
        }
        switch relation {
        case .same:
            guard kind == scope.kind else { throw mismatch("`same` needs both stages on the same scope kind, got \(scope.kind.rawValue) and \(kind.rawValue)") }
            return [scope]
        case .ownCluster:
            guard kind == .cluster else { throw mismatch("`ownCluster` needs a cluster-scope stage") }
            guard let c = ownCluster() else { throw mismatch("a lab-scope stage has no cluster of its own") }
            return [.cluster(c)]
        case .nodesOfCluster:
            guard kind == .node else { throw mismatch("`nodesOfCluster` needs a node-scope stage") }
            guard let c = ownCluster() else { throw mismatch("a lab-scope stage has no cluster of its own") }
            return topology.nodes(ofCluster: c).map { .node($0) }
        case .allNodes:
            guard kind == .node else { throw mismatch("`allNodes` needs a node-scope stage") }
            return topology.nodes.map { .node($0) }
        case .allClusters:
            guard kind == .cluster else { throw mismatch("`allClusters` needs a cluster-scope stage") }
            return topology.clusters.map { .cluster($0.name) }
        case .lab:
            guard kind == .lab else { throw mismatch("`lab` needs a lab-scope stage") }
            return [.lab]
        }
    }

    /// Finds one cycle among instances that Kahn's algorithm could not order.
    static func findCycle(among remaining: [StageInstanceID], instances: [StageInstanceID: Instance]) -> [StageInstanceID] {
        let inRemaining = Set(remaining)
        guard let start = remaining.first else { return [] }
        // Walk dependencies inside the remaining set until an instance repeats: it is on a cycle.
        var path: [StageInstanceID] = []
        var index: [StageInstanceID: Int] = [:]
        var current = start
        while index[current] == nil {
            index[current] = path.count
            path.append(current)
            guard let next = instances[current]?.dependencies.first(where: { inRemaining.contains($0) }) else { return path }
            current = next
        }
        let cycle = Array(path[(index[current] ?? 0)...]) + [current]
        // Show it in "runs before" direction.
        return cycle.reversed()
    }
}
