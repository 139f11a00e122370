import Foundation
import LabKit

/// The Kubernetes stages of `labctl up` (seed 8-11): from the nodes' checkpoint to two kubeadm
/// clusters with a CNI, MetalLB and working DNS, and one merged kubeconfig on the host.
///
/// ```
/// node.checkpoint ─▶ cluster.init (control planes only, node scope)
///                      │
/// node.checkpoint ─▶ node.join (workers only) ◀─┘
///                      │            cluster.cni (cluster) ◀─ cluster.init
///                      └──────▶ cluster.ready ◀─┘
///                                 ├─▶ cluster.metallb ─┐
///                                 └─▶ cluster.dns-check ┴─▶ cluster.checkpoint (snapshot#3 on every node of the cluster)
///                                                             │ (all clusters)
///                                                             ▼
///                                          lab.kubeconfig ─▶ lab.kubeconfig-checkpoint (snapshot#4)
/// ```
///
/// `cluster.init` is a node-scope stage restricted to control planes, so that it depends on the
/// control plane's checkpoint only: rebuilding a worker re-runs that worker's clone, identity and
/// join, then the cluster stages after the join (`cluster.ready` onwards), never `kubeadm init`.
/// `labctl rebuild cluster2` forgets cluster2 and its nodes: every stage of cluster2 runs, then
/// `lab.kubeconfig` (rule 2: a dependency changed) and its checkpoint; cluster1 is skipped.
public enum KubernetesStages {
    /// Stage ids; the mesh group depends on `kubeconfig`.
    public enum ID {
        public static let initControlPlane = "cluster.init"
        public static let join = "node.join"
        public static let cni = "cluster.cni"
        public static let ready = "cluster.ready"
        public static let metallb = "cluster.metallb"
        public static let dnsCheck = "cluster.dns-check"
        public static let checkpoint = "cluster.checkpoint"
        public static let kubeconfig = "lab.kubeconfig"
        public static let kubeconfigCheckpoint = "lab.kubeconfig-checkpoint"
    }

    public static func stages(_ s: LabServices) -> [Stage] {
        let ops = KubernetesOperations(services: s)
        let t = s.timeouts
        let controlPlanes = Set(s.lab.nodes.filter { $0.role == .controlPlane }.map(\.name))
        let workers = Set(s.lab.nodes.filter { $0.role == .worker }.map(\.name))
        let onlyControlPlanes: @Sendable (StageScope, LabTopology) -> Bool = { scope, _ in controlPlanes.contains(scope.name) }
        let onlyWorkers: @Sendable (StageScope, LabTopology) -> Bool = { scope, _ in workers.contains(scope.name) }
        let nodeCount = max(1, s.lab.clusters.map(\.nodes.count).max() ?? 1)
        return [
            Stage(id: ID.initControlPlane, scope: .node, dependencies: [.init(NodeStages.ID.checkpoint)],
                  deadline: t.scripted(.kubeadmInit),
                  summary: "kubeadm init on the control plane and the lab user's kubeconfig (seed 8.1)",
                  applies: onlyControlPlanes,
                  retry: RetryPolicy(attempts: 2, retryOn: [.connection]),
                  probe: { ctx in await ops.initProbe(ctx) },
                  action: { ctx in try await ops.initControlPlane(ctx) }),
            Stage(id: ID.join, scope: .node,
                  dependencies: [.init(NodeStages.ID.checkpoint), .init(ID.initControlPlane, .nodesOfCluster)],
                  deadline: t.scripted(.joinCommand, .kubeadmJoin),
                  summary: "join the worker with a fresh token (seed 8.2; the join command is a secret)",
                  applies: onlyWorkers,
                  retry: RetryPolicy(attempts: 2, retryOn: [.connection]),
                  probe: { ctx in await ops.joinProbe(ctx) },
                  action: { ctx in try await ops.join(ctx) }),
            Stage(id: ID.cni, scope: .cluster, dependencies: [.init(ID.initControlPlane, .nodesOfCluster)],
                  deadline: t.scripted(.cni),
                  summary: "the pod network: \(s.scripts.profile.cni.kind.rawValue) \(s.scripts.profile.cni.version) (seed 8.3)",
                  retry: RetryPolicy(attempts: 2, retryOn: [.connection]),
                  probe: { ctx in await ops.cniProbe(ctx) },
                  action: { ctx in try await ops.cni(ctx) }),
            Stage(id: ID.ready, scope: .cluster,
                  dependencies: [.init(ID.cni), .init(ID.join, .nodesOfCluster)],
                  deadline: t.scripted(.waitNodes) + .seconds(Int64(30 * nodeCount)),
                  summary: "every node of the cluster Ready and CoreDNS rolled out, within a deadline (seed 8.3)",
                  retry: RetryPolicy(attempts: 2, retryOn: [.connection]),
                  probe: { ctx in await ops.readyProbe(ctx) },
                  action: { ctx in try await ops.ready(ctx) }),
            Stage(id: ID.metallb, scope: .cluster, dependencies: [.init(ID.ready)],
                  deadline: t.scripted(.metallb),
                  summary: "MetalLB and the cluster's address pool from lab.json (seed 9)",
                  retry: RetryPolicy(attempts: 2, retryOn: [.connection]),
                  probe: { ctx in await ops.metallbProbe(ctx) },
                  action: { ctx in try await ops.metallb(ctx) }),
            Stage(id: ID.dnsCheck, scope: .cluster, dependencies: [.init(ID.ready)],
                  deadline: t.scripted(.dnsCheck),
                  summary: "nslookup kubernetes.default from a dnsutils pod, then delete it (seed 10)",
                  retry: RetryPolicy(attempts: 2, retryOn: [.connection]),
                  probe: { _ in .unknown },
                  action: { ctx in try await ops.dnsCheck(ctx) }),
            Stage(id: ID.checkpoint, scope: .cluster, dependencies: [.init(ID.metallb), .init(ID.dnsCheck)],
                  deadline: t.vmrun * Int64(2 * nodeCount),
                  summary: "take the \(s.lab.checkpoints.kubernetes) checkpoint on every node of the cluster",
                  retry: RetryPolicy(attempts: 2),
                  probe: { ctx in await ops.checkpointProbe(ctx, name: s.lab.checkpoints.kubernetes) },
                  action: { ctx in try await ops.checkpoint(ctx, name: s.lab.checkpoints.kubernetes) }),
            Stage(id: ID.kubeconfig, scope: .lab, dependencies: [.init(ID.checkpoint, .allClusters)],
                  deadline: t.scripted(.adminKubeconfig, .meshKubeconfig) + t.connect * Int64(s.lab.clusters.count),
                  summary: "merge the admin kubeconfigs into \(s.paths.kubeconfig) and install it on the mesh node (seed 11)",
                  retry: RetryPolicy(attempts: 2, retryOn: [.connection]),
                  probe: { ctx in await ops.kubeconfigProbe(ctx) },
                  action: { ctx in try await ops.kubeconfig(ctx) }),
            Stage(id: ID.kubeconfigCheckpoint, scope: .lab, dependencies: [.init(ID.kubeconfig)],
                  deadline: t.vmrun * Int64(2 * max(1, s.lab.nodes.count)),
                  summary: "take the \(s.lab.checkpoints.kubeconfig) checkpoint on every node",
                  retry: RetryPolicy(attempts: 2),
                  probe: { ctx in await ops.checkpointProbe(ctx, name: s.lab.checkpoints.kubeconfig) },
                  action: { ctx in try await ops.checkpoint(ctx, name: s.lab.checkpoints.kubeconfig) }),
        ]
    }
}
