import Foundation

/// One node's VM, as lab snapshots, destroy and rebuild see it.
public struct LabMachine: Sendable, Hashable {
    public var node: String
    public var cluster: String
    public var vm: VMReference
    /// Where the node answers SSH once it has its identity (its lab.json address).
    public var endpoint: GuestEndpoint

    public init(node: String, cluster: String, vm: VMReference, endpoint: GuestEndpoint) {
        self.node = node
        self.cluster = cluster
        self.vm = vm
        self.endpoint = endpoint
    }
}

/// The lab's machines in lab.json order, plus what must never be touched.
///
/// The CLI builds this from the lab and the node VM path convention (`<vmFolder>/<node>/<node>.vmx`,
/// the one `LabServices` uses to clone); the orchestration here never invents a path.
public struct LabMachines: Sendable {
    public var topology: LabTopology
    public var machines: [LabMachine]
    /// The lab's VM folder: destroy deletes only VMs inside it.
    public var vmFolder: String
    /// The base VM the nodes are linked clones of: never deleted, never snapshotted by labctl.
    public var baseVM: VMReference?

    public init(topology: LabTopology, machines: [LabMachine], vmFolder: String, baseVM: VMReference?) {
        self.topology = topology
        self.machines = machines
        self.vmFolder = vmFolder
        self.baseVM = baseVM
    }

    public static func conventionalVMPath(folder: String, node: String) -> String {
        ((folder as NSString).appendingPathComponent(node) as NSString).appendingPathComponent("\(node).vmx")
    }

    public func machine(_ node: String) -> LabMachine? { machines.first { $0.node == node } }
    public var nodeNames: [String] { machines.map(\.node) }

    /// Resolves a selection to machines, in lab order. Unknown names are an error listing the known ones.
    public func select(_ selection: NodeSelection) throws -> [LabMachine] {
        switch selection {
        case .all:
            return machines
        case .nodes(let names):
            let unknown = names.filter { machine($0) == nil }
            guard unknown.isEmpty else {
                throw LabError(.invalidInput, "no node named \(unknown.joined(separator: ", ")) in this lab", location: .option("--nodes"),
                               hint: "the lab's nodes: \(nodeNames.joined(separator: ", "))")
            }
            return machines.filter { names.contains($0.node) }
        case .cluster(let name):
            guard topology.clusters.contains(where: { $0.name == name }) else {
                throw LabError(.invalidInput, "no cluster named \(name) in this lab", location: .option("--cluster"),
                               hint: "the lab's clusters: \(topology.clusters.map(\.name).joined(separator: ", "))")
            }
            return machines.filter { $0.cluster == name }
        }
    }

    /// `NODE|CLUSTER` (destroy, rebuild): a cluster name or a node name; nil means the whole lab.
    public func scope(named name: String?) throws -> StageScope {
        guard let name else { return .lab }
        let isCluster = topology.clusters.contains { $0.name == name }
        let isNode = machine(name) != nil
        if isCluster && isNode {
            throw LabError(.invalidInput, "`\(name)` is both a cluster and a node", location: .file("lab.json"),
                           hint: "rename one of them in lab.json")
        }
        if isCluster { return .cluster(name) }
        if isNode { return .node(name) }
        throw LabError(.invalidInput, "no node or cluster named \(name) in this lab", location: .other(name),
                       hint: "clusters: \(topology.clusters.map(\.name).joined(separator: ", ")); nodes: \(nodeNames.joined(separator: ", "))")
    }

    /// The machines inside a scope.
    public func machines(in scope: StageScope) -> [LabMachine] {
        switch scope {
        case .lab: return machines
        case .cluster(let c): return machines.filter { $0.cluster == c }
        case .node(let n): return machines.filter { $0.node == n }
        }
    }

    /// Refuses a VM that is not the lab's: the base VM, or anything outside the lab's VM folder.
    public func checkOwned(_ m: LabMachine) throws {
        let path = Self.normalized(m.vm.path)
        if let base = baseVM, Self.normalized(base.path) == path {
            throw LabError(.security, "refusing to touch the base VM \(base.path)", location: .node(m.node),
                           hint: "the base VM is never deleted by labctl; check vmware.vmFolder and base.vmx in lab.json")
        }
        let folder = Self.normalized(vmFolder)
        guard !folder.isEmpty, folder != "/", path.hasPrefix(folder + "/") else {
            throw LabError(.security, "refusing to touch \(m.vm.path): it is outside the lab's VM folder \(vmFolder)",
                           location: .node(m.node), hint: "labctl deletes only VMs under vmware.vmFolder (lab.json)")
        }
    }

    static func normalized(_ path: String) -> String {
        var p = (path as NSString).standardizingPath
        while p.count > 1 && p.hasSuffix("/") { p.removeLast() }
        return p
    }
}

/// Which nodes an operation acts on.
public enum NodeSelection: Sendable, Hashable {
    case all
    case nodes([String])
    case cluster(String)
}

/// Runs `operation` on every item with at most `limit` in flight; returns every item's result in
/// input order. Errors do not stop the others (a lab operation reports every node that failed).
func forEachBounded<T: Sendable, R: Sendable>(_ items: [T], limit: Int,
                                              _ operation: @escaping @Sendable (T) async throws -> R) async -> [Result<R, Error>] {
    var results = [Result<R, Error>?](repeating: nil, count: items.count)
    await withTaskGroup(of: (Int, Result<R, Error>).self) { group in
        var next = 0
        func launch() {
            guard next < items.count else { return }
            let i = next
            let item = items[i]
            next += 1
            group.addTask {
                do { return (i, .success(try await operation(item))) } catch { return (i, .failure(error)) }
            }
        }
        for _ in 0..<max(1, limit) { launch() }
        while let (i, r) = await group.next() {
            results[i] = r
            launch()
        }
    }
    return results.map { $0 ?? .failure(CancellationError()) }
}

extension LabError {
    /// A deadline error naming what took too long.
    static func deadline(_ what: String, node: String, after: Duration, hint: String) -> LabError {
        LabError(.timeout, "\(what) did not finish within \(after)", location: .node(node), hint: hint)
    }

    /// Any error as a `LabError` (cancellation becomes `.cancelled`).
    static func wrap(_ error: Error, node: String) -> LabError {
        if let e = error as? LabError { return e }
        if error is CancellationError { return LabError(.cancelled, "cancelled", location: .node(node)) }
        return LabError(.internalError, "\(error)", location: .node(node))
    }
}
