import Foundation
import LabKit

/// The mesh stages of `labctl up` (seed 12-14): one Istio root CA for the lab, an intermediate per
/// cluster, Istio multi-primary on different networks, east-west gateways, remote secrets both
/// ways, the cross-cluster check and the last checkpoint. docs/mesh.md.
///
/// ```
/// lab.kubeconfig(-checkpoint) ┄▶ cluster.istio-cacerts ─▶ lab.istio-trust (all clusters)
///                                     │                        ┆
///                                     └──────────────▶ cluster.istio-install ─▶ cluster.istio-eastwest ─┐
///                                                            └─▶ cluster.mesh-sample ─┐                │ (all clusters)
///                                                                                     │   lab.istio-remote-secrets
///                                                                                     └─▶ lab.mesh-verify ◀─┘
///                                                                                           └─▶ lab.mesh-checkpoint
/// ```
/// (`┄▶` / `┆`: order-only, `StageDependency.orderOnly`.)
///
/// The dependencies are chosen for `labctl rebuild cluster2`: it forgets cluster2's instances, so
/// cluster2's CA stage issues a new intermediate under the same root, and cluster2's install,
/// gateway and sample run again. The lab stages re-run because a cluster2 dependency changed
/// (resume rule 2): the trust check, BOTH remote secrets (cluster2's API server has a new CA, and
/// the new cluster2 lacks cluster1's secret), the verification and the checkpoint. cluster1's
/// cluster stages wait for the merged kubeconfig and the trust check only for ordering, so the
/// re-run of those lab stages does not re-install Istio in cluster1.
public enum MeshStages {
    public enum ID {
        public static let caCerts = "cluster.istio-cacerts"
        public static let trust = "lab.istio-trust"
        public static let install = "cluster.istio-install"
        public static let eastWest = "cluster.istio-eastwest"
        public static let sample = "cluster.mesh-sample"
        public static let remoteSecrets = "lab.istio-remote-secrets"
        public static let verify = "lab.mesh-verify"
        public static let checkpoint = "lab.mesh-checkpoint"
    }

    public enum Resource {
        /// The lab's CA files in `.labctl/pki`.
        public static let ca = "istio-ca"
    }

    public static func stages(_ s: LabServices) -> [Stage] {
        let ops = MeshOperations(services: s)
        let t = s.timeouts
        let clusters = Int64(max(1, s.lab.clusters.count))
        return [
            Stage(id: ID.caCerts, scope: .cluster,
                  dependencies: [.init(KubernetesStages.ID.kubeconfig, .lab, orderOnly: true), .init(KubernetesStages.ID.kubeconfigCheckpoint, .lab, orderOnly: true)],
                  // One at a time: the first instance makes the lab's root, the others must load
                  // that same root (two clusters making a root at once would end with two roots).
                  resources: [Resource.ca],
                  deadline: t.scripted(.istioCACerts) + .seconds(60),
                  summary: "issue the cluster's intermediate CA (one root per lab); istio-system, its network label and the cacerts secret (seed 12.1-12.3)",
                  retry: RetryPolicy(attempts: 2, retryOn: [.connection]),
                  probe: { ctx in await ops.caCertsProbe(ctx) },
                  action: { ctx in try await ops.caCerts(ctx) }),
            Stage(id: ID.trust, scope: .lab, dependencies: [.init(ID.caCerts, .allClusters)],
                  deadline: t.connect * 2 + .seconds(60) * clusters,
                  summary: "every cluster holds the lab's root-cert.pem and its intermediate chains to it (seed 12.4, corrected)",
                  retry: RetryPolicy(attempts: 2, retryOn: [.connection]),
                  probe: { _ in .unknown },
                  action: { ctx in try await ops.trust(ctx) }),
            Stage(id: ID.install, scope: .cluster,
                  dependencies: [.init(ID.caCerts), .init(ID.trust, .lab, orderOnly: true)],
                  deadline: t.scripted(.istioInstall),
                  summary: "Istio with this cluster's mesh ID, cluster name and network, into this cluster's context (seed 13.1, 13.4 corrected)",
                  retry: RetryPolicy(attempts: 2, retryOn: [.connection]),
                  probe: { ctx in await ops.installProbe(ctx) },
                  action: { ctx in try await ops.install(ctx) }),
            Stage(id: ID.eastWest, scope: .cluster, dependencies: [.init(ID.install)],
                  deadline: t.scripted(.istioEastWest),
                  summary: "the east-west gateway, its MetalLB address and the exposed services (seed 13.2, 13.3, 13.5, 13.6)",
                  retry: RetryPolicy(attempts: 2, retryOn: [.connection]),
                  probe: { ctx in await ops.eastWestProbe(ctx) },
                  action: { ctx in try await ops.eastWest(ctx) }),
            Stage(id: ID.sample, scope: .cluster, dependencies: [.init(ID.install)],
                  deadline: t.scripted(.meshSample),
                  summary: "the sample namespace with injection, helloworld (v1 in the first cluster, v2 in the second) and the client (seed 14)",
                  retry: RetryPolicy(attempts: 2, retryOn: [.connection]),
                  probe: { ctx in await ops.sampleProbe(ctx) },
                  action: { ctx in try await ops.sample(ctx) }),
            Stage(id: ID.remoteSecrets, scope: .lab, dependencies: [.init(ID.eastWest, .allClusters)],
                  deadline: t.scripted(.istioRemoteSecret) * clusters,
                  summary: "each cluster's remote secret in every other cluster, with the API server address it can reach (seed 13.7)",
                  retry: RetryPolicy(attempts: 2, retryOn: [.connection]),
                  probe: { ctx in await ops.remoteSecretsProbe(ctx) },
                  action: { ctx in try await ops.remoteSecrets(ctx) }),
            Stage(id: ID.verify, scope: .lab, dependencies: [.init(ID.remoteSecrets), .init(ID.sample, .allClusters)],
                  deadline: t.scripted(.meshVerify) * clusters,
                  summary: "call helloworld from every cluster until both versions answered on both sides (seed 14)",
                  retry: RetryPolicy(attempts: 2, retryOn: [.connection]),
                  probe: { _ in .unknown },
                  action: { ctx in try await ops.verify(ctx) }),
            Stage(id: ID.checkpoint, scope: .lab, dependencies: [.init(ID.verify)],
                  deadline: t.vmrun * Int64(2 * max(1, s.lab.nodes.count)),
                  summary: "take the \(s.lab.checkpoints.mesh) checkpoint on every node",
                  retry: RetryPolicy(attempts: 2),
                  probe: { ctx in await ops.checkpointProbe(ctx) },
                  action: { ctx in try await ops.checkpoint(ctx) }),
        ]
    }
}
