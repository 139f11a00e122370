import Foundation
import LabKit

/// What labctl learned about a node, kept in `<state dir>/nodes/<node>.json` across runs.
public struct NodeFacts: Sendable, Codable, Hashable {
    /// The machine-id and SSH host key the clone had at first contact: the base's.
    public var baseMachineId: String?
    public var baseHostKey: String?
    /// After `node.verify`.
    public var machineId: String?
    public var hostKey: String?

    public init(baseMachineId: String? = nil, baseHostKey: String? = nil, machineId: String? = nil, hostKey: String? = nil) {
        self.baseMachineId = baseMachineId
        self.baseHostKey = baseHostKey
        self.machineId = machineId
        self.hostKey = hostKey
    }
}

/// The node facts of a lab. An actor, so two nodes verifying at once always see each other's
/// machine-id (the uniqueness check of seed 7.5 cannot race); files are written atomically.
public actor NodeFactsStore {
    public let directory: String

    public init(directory: String) { self.directory = directory }

    private func path(_ node: String) -> String { (directory as NSString).appendingPathComponent("\(node).json") }

    public func get(_ node: String) -> NodeFacts {
        guard let data = FileManager.default.contents(atPath: path(node)),
              let facts = try? JSONDecoder().decode(NodeFacts.self, from: data) else { return NodeFacts() }
        return facts
    }

    public func update(_ node: String, _ change: (inout NodeFacts) -> Void) throws {
        var facts = get(node)
        change(&facts)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(try encoder.encode(facts), to: path(node))
    }

    /// Every node's facts that exist, by node.
    public func all(nodes: [String]) -> [String: NodeFacts] {
        Dictionary(uniqueKeysWithValues: nodes.map { ($0, get($0)) })
    }

    /// Records a node's verified machine-id and returns the other nodes that have the same one.
    public func claimMachineId(_ id: String, hostKey: String, node: String, nodes: [String]) throws -> [String] {
        let clashes = nodes.filter { $0 != node && get($0).machineId == id }
        try update(node) {
            $0.machineId = id
            $0.hostKey = hostKey
        }
        return clashes
    }
}
