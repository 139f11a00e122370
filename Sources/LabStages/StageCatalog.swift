import Foundation
import LabKit

/// Every stage `labctl up` runs, in groups. The engine orders them by their dependencies, not by
/// this list; the order here only decides how `plan` lists them.
///
/// Extension points (docs/engine.md "Writing stages"):
/// - **Kubernetes** (`Sources/LabStages/Kubernetes/`): add `KubernetesStages.stages` to `groups`.
///   Cluster stages start from `NodeStages.ID.checkpoint` (the nodes' seed 7.6 checkpoint), e.g.
///   `StageDependency(NodeStages.ID.checkpoint, .nodesOfCluster)`; per-node work (join) depends on
///   `.same`.
/// - **Mesh** (`Sources/LabStages/Mesh/`): add `MeshStages.stages` to `groups`; lab-scope stages
///   depend on the Kubernetes group's last cluster stage with `.allClusters`.
///
/// A group is a function of `LabServices`, so it can use the hypervisor, the session pool and the
/// rendered scripts; it must return stages with unique ids (`<scope>.<verb>`).
public enum StageCatalog {
    public typealias Group = @Sendable (LabServices) -> [Stage]

    /// The groups, in `up` order. Other helpers append their group here (one line each).
    public static let groups: [(name: String, stages: Group)] = [
        ("node", NodeStages.stages),
        ("kubernetes", KubernetesStages.stages),
        ("mesh", MeshStages.stages),
    ]

    /// Every stage of every group.
    public static func stages(_ services: LabServices) -> [Stage] {
        groups.flatMap { $0.stages(services) }
    }
}
