import Foundation
import LabKit
import Testing
@testable import LabStages

/// The mesh stages' dependencies, run through the real engine with recording actions: what `up`
/// runs, and what `rebuild cluster2` re-runs (docs/mesh.md).
@Suite struct MeshStageTests {
    actor Ran {
        var ids: [StageInstanceID] = []
        func add(_ id: StageInstanceID) { ids.append(id) }
        func take() -> [String] {
            defer { ids = [] }
            return ids.map(\.description)
        }
    }

    static let topology = LabTopology(clusters: [
        .init(name: "cluster1", nodes: ["cluster1-ctrl-plane", "cluster1-worker-node01"]),
        .init(name: "cluster2", nodes: ["cluster2-ctrl-plane", "cluster2-worker-node01"]),
    ])

    /// The Kubernetes group's shape in front of the real mesh stages, every action and probe replaced by a recorder.
    static func stages(_ ran: Ran) throws -> [Stage] {
        func stage(_ id: String, _ scope: StageScope.Kind, _ deps: [StageDependency]) -> Stage {
            Stage(id: id, scope: scope, dependencies: deps, deadline: .seconds(10), probe: { _ in .unknown },
                  action: { ctx in await ran.add(ctx.instance) })
        }
        let k8s = [
            stage("node.checkpoint", .node, []),
            stage("cluster.checkpoint", .cluster, [.init("node.checkpoint", .nodesOfCluster)]),
            stage(KubernetesStages.ID.kubeconfig, .lab, [.init("cluster.checkpoint", .allClusters)]),
            stage(KubernetesStages.ID.kubeconfigCheckpoint, .lab, [.init(KubernetesStages.ID.kubeconfig)]),
        ]
        let mesh = try MeshStages.stages(KubernetesStagesTests.services())
        return k8s + mesh.map { stage($0.id, $0.scope, $0.dependencies) }
    }

    @Test func everyStageIdOnce() throws {
        let ids = try MeshStages.stages(KubernetesStagesTests.services()).map(\.id)
        #expect(Set(ids).count == ids.count)
    }

    @Test func upOrdersSecretBeforeInstallAndRebuildOfCluster2LeavesCluster1Installed() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mesh-stages-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let paths = LabPaths(root: dir)
        let ran = Ran()
        let stages = try Self.stages(ran)
        let first = try await LabRun.run(stages: stages, topology: Self.topology, paths: paths, onEvent: { _ in })
        #expect(first.outcome == .succeeded)
        let order = await ran.take()
        func at(_ s: String) -> Int { order.firstIndex(of: s) ?? -1 }
        for c in ["cluster1", "cluster2"] {
            #expect(at("cluster.istio-cacerts@\(c)") > at("lab.kubeconfig-checkpoint@lab"))
            #expect(at("cluster.istio-cacerts@\(c)") < at("lab.istio-trust@lab"))
            #expect(at("lab.istio-trust@lab") < at("cluster.istio-install@\(c)"), "trust is checked before Istio is installed")
            #expect(at("cluster.istio-install@\(c)") < at("cluster.istio-eastwest@\(c)"))
            #expect(at("cluster.istio-eastwest@\(c)") < at("lab.istio-remote-secrets@lab"))
            #expect(at("cluster.mesh-sample@\(c)") < at("lab.mesh-verify@lab"))
        }
        #expect(at("lab.istio-remote-secrets@lab") < at("lab.mesh-verify@lab"))
        #expect(at("lab.mesh-verify@lab") < at("lab.mesh-checkpoint@lab"))

        // A second up runs nothing.
        _ = try await LabRun.run(stages: stages, topology: Self.topology, paths: paths, onEvent: { _ in })
        #expect(await ran.take().isEmpty)

        // rebuild cluster2: cluster2's stages, the merge, and every lab stage after it; nothing of cluster1.
        let rebuilt = try await LabRun.rebuild(scope: .cluster("cluster2"), stages: stages, topology: Self.topology, paths: paths,
                                               onEvent: { _ in })
        #expect(rebuilt.outcome == .succeeded)
        let again = Set(await ran.take())
        #expect(again == [
            "node.checkpoint@cluster2-ctrl-plane", "node.checkpoint@cluster2-worker-node01", "cluster.checkpoint@cluster2",
            "lab.kubeconfig@lab", "lab.kubeconfig-checkpoint@lab",
            "cluster.istio-cacerts@cluster2", "lab.istio-trust@lab", "cluster.istio-install@cluster2",
            "cluster.istio-eastwest@cluster2", "cluster.mesh-sample@cluster2",
            "lab.istio-remote-secrets@lab", "lab.mesh-verify@lab", "lab.mesh-checkpoint@lab",
        ])
        #expect(!again.contains { $0.hasSuffix("@cluster1") }, "cluster1's mesh stages (its Istio install) are not re-run")
    }
}

@Suite struct MeshVerifyResultTests {
    @Test func parsesBothVersionsAnswered() {
        let r = MeshVerifyResult.parse(cluster: "cluster1", stdout: "verify.cluster1.answered=v1,v2\nverify.cluster1.tries=3\nverify.cluster1.ok=true\n",
                                       stderr: "", exitStatus: 0, expected: ["v1", "v2"], maxTries: 30, seconds: 4.2)
        #expect(r.ok && r.answered == ["v1", "v2"] && r.tries == 3 && r.missing.isEmpty && r.failure == nil)
        #expect(r.summaryLine == "from cluster1: v1,v2 answered in 3 tries (of 30): ok")
    }

    @Test func aMissingVersionIsAFailureThatNamesIt() {
        let r = MeshVerifyResult.parse(cluster: "cluster2", stdout: "verify.cluster2.answered=v2\nverify.cluster2.tries=30\nverify.cluster2.ok=false\n",
                                       stderr: "error: from cluster2, v1 never answered in 30 tries", exitStatus: 1,
                                       expected: ["v1", "v2"], maxTries: 30)
        #expect(!r.ok && r.missing == ["v1"] && r.tries == 30)
        #expect(r.summaryLine == "from cluster2: v2 answered in 30 tries (of 30): FAILED, v1 never answered")
        #expect(r.error.message == "from cluster2, v1 never answered in 30 tries")
        #expect(r.error.hint?.contains("istioctl --context=cluster2 proxy-config endpoint") == true)
    }

    @Test func successIsNotTakenOnTrust() {
        // The script says ok, but a version is missing (or the exit status is not 0): a failure.
        let claimed = MeshVerifyResult.parse(cluster: "cluster1", stdout: "verify.cluster1.answered=v1\nverify.cluster1.tries=1\nverify.cluster1.ok=true\n",
                                             exitStatus: 0, expected: ["v1", "v2"], maxTries: 30)
        #expect(!claimed.ok && claimed.failure?.contains("v2 did not answer") == true)
        let exit = MeshVerifyResult.parse(cluster: "cluster1", stdout: "verify.cluster1.answered=v1,v2\nverify.cluster1.tries=2\nverify.cluster1.ok=true\n",
                                          exitStatus: 1, expected: ["v1", "v2"], maxTries: 30)
        #expect(!exit.ok)
    }

    @Test func noOutputKeepsTheScriptsLastWords() {
        let r = MeshVerifyResult.parse(cluster: "cluster1", stdout: "", stderr: "labctl: starting\nerror: no sleep pod in cluster1's sample namespace (run the mesh-sample stage first)\n",
                                       exitStatus: 1, expected: ["v1", "v2"], maxTries: 30)
        #expect(!r.ok && r.tries == 0 && r.answered.isEmpty)
        #expect(r.failure == "error: no sleep pod in cluster1's sample namespace (run the mesh-sample stage first)")
        #expect(r.error.message.hasPrefix("the mesh check from cluster1 failed: error: no sleep pod"))
    }
}
