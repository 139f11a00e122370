import ArgumentParser
import LabKit

/// `--from STAGE[@SCOPE]` / `--only STAGE[@SCOPE]` → the engine's selection, checked against the catalog.
enum StageSelectionParsing {
    static func selection(from: String?, only: String?, to: String? = nil, stages: [Stage], topology: LabTopology) throws -> StageSelection {
        switch (from, only, to) {
        case (nil, nil, nil): return .all
        case (let f?, nil, nil):
            let (stage, scope) = try parse(f, option: "--from", stages: stages, topology: topology)
            return .from(stage: stage, scope: scope)
        case (nil, let o?, nil):
            let (stage, scope) = try parse(o, option: "--only", stages: stages, topology: topology)
            return .only(stage: stage, scope: scope)
        case (nil, nil, let t?):
            let (stage, scope) = try parse(t, option: "--to", stages: stages, topology: topology)
            return .upTo(stage: stage, scope: scope)
        default:
            throw ValidationError("give one of --from, --only or --to, not several")
        }
    }

    static func parse(_ text: String, option: String, stages: [Stage], topology: LabTopology) throws -> (String, StageScope?) {
        let parts = text.split(separator: "@", maxSplits: 1).map(String.init)
        let id = parts.first ?? text
        guard let stage = stages.first(where: { $0.id == id }) else {
            throw LabError(.invalidInput, "no stage named \(id)", location: .option(option),
                           hint: "stages: \(stages.map(\.id).joined(separator: ", ")) (see labctl plan)")
        }
        guard parts.count == 2 else { return (id, nil) }
        let name = parts[1]
        let scope: StageScope
        switch stage.scope {
        case .lab: scope = .lab
        case .cluster:
            guard topology.clusters.contains(where: { $0.name == name }) else {
                throw LabError(.invalidInput, "\(id) runs per cluster and there is no cluster \(name)", location: .option(option))
            }
            scope = .cluster(name)
        case .node:
            guard topology.nodes.contains(name) else {
                throw LabError(.invalidInput, "\(id) runs per node and there is no node \(name)", location: .option(option),
                               hint: "nodes: \(topology.nodes.joined(separator: ", "))")
            }
            scope = .node(name)
        }
        return (id, scope)
    }
}
