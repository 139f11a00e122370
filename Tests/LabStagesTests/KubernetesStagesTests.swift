import Foundation
import LabKit
import LabTestSupport
import Testing
@testable import LabStages

/// The Kubernetes and base-prepare stage graphs: ids and the exact dependency edges that make
/// `rebuild` of a worker or of cluster2 re-run only what it must (docs/engine.md "Writing stages").
@Suite struct KubernetesStagesTests {
    func services(_ profile: String = "seed-2021") throws -> LabServices {
        try Self.services(profile)
    }

    /// The repository's lab with no hypervisor and no guests: enough to build the stage arrays.
    static func services(_ profile: String = "seed-2021") throws -> LabServices {
        let lab = try Fixture.lab(profile: profile)
        return try LabServices(lab: lab, paths: LabPaths(root: try Fixture.tempDir()), labDirectory: Fixture.repoRoot,
                               hypervisor: NoHypervisor(), connector: NoGuests(), vmConfigurator: NoGuests(), hostKeys: NoGuests(), portProbe: FixedPortProbe(),
                               labKey: "/dev/null", publicKey: Fixture.publicKey)
    }

    func graph() throws -> StageGraph {
        let s = try services()
        return try StageGraph(stages: StageCatalog.stages(s), topology: LabTopology(lab: s.lab))
    }

    func id(_ stage: String, _ scope: StageScope) -> StageInstanceID { StageInstanceID(stage, scope) }

    @Test func idsTheMeshGroupDependsOn() throws {
        #expect(KubernetesStages.ID.kubeconfig == "lab.kubeconfig")
        let ids = try KubernetesStages.stages(services()).map(\.id)
        #expect(Set(ids).count == ids.count, "stage ids are unique")
        #expect(ids.contains(KubernetesStages.ID.kubeconfig) && ids.contains(KubernetesStages.ID.kubeconfigCheckpoint))
    }

    @Test func kubeadmInitOnControlPlanesOnlyAndJoinOnWorkersOnly() throws {
        let g = try graph()
        #expect(Set(g.instances(ofStage: "cluster.init")) == [id("cluster.init", .node("cluster1-ctrl-plane")), id("cluster.init", .node("cluster2-ctrl-plane"))])
        #expect(Set(g.instances(ofStage: "node.join")) == [id("node.join", .node("cluster1-worker-node01")), id("node.join", .node("cluster2-worker-node01"))])
        #expect(g.instances(ofStage: "cluster.metallb").count == 2)
        #expect(g.instances(ofStage: "lab.kubeconfig") == [id("lab.kubeconfig", .lab)])
    }

    @Test func edgesArePrecise() throws {
        let g = try graph()
        let initCP = id("cluster.init", .node("cluster1-ctrl-plane"))
        // kubeadm init waits for its own node only: a rebuilt worker never re-runs it.
        #expect(g.dependencies(of: initCP) == [id("node.checkpoint", .node("cluster1-ctrl-plane"))])
        #expect(!g.transitiveDependencies(of: [initCP]).contains(id("node.checkpoint", .node("cluster1-worker-node01"))))
        let join = id("node.join", .node("cluster1-worker-node01"))
        #expect(Set(g.dependencies(of: join)) == [id("node.checkpoint", .node("cluster1-worker-node01")), initCP])
        #expect(Set(g.dependencies(of: id("cluster.ready", .cluster("cluster1")))) == [id("cluster.cni", .cluster("cluster1")), join])
        #expect(Set(g.dependencies(of: id("cluster.checkpoint", .cluster("cluster2")))) ==
                [id("cluster.metallb", .cluster("cluster2")), id("cluster.dns-check", .cluster("cluster2"))])
        #expect(Set(g.dependencies(of: id("lab.kubeconfig", .lab))) ==
                [id("cluster.checkpoint", .cluster("cluster1")), id("cluster.checkpoint", .cluster("cluster2"))])
        // A rebuilt worker re-runs its join and the cluster stages after it, never init, never the other cluster.
        let afterWorker = g.transitiveDependents(of: [id("node.checkpoint", .node("cluster1-worker-node01"))])
        #expect(afterWorker.contains(join) && afterWorker.contains(id("cluster.ready", .cluster("cluster1"))))
        #expect(!afterWorker.contains(initCP) && !afterWorker.contains(id("cluster.cni", .cluster("cluster1"))))
        #expect(!afterWorker.contains { $0.scope == .cluster("cluster2") || $0.scope.name.hasPrefix("cluster2-") })
        #expect(afterWorker.contains(id("lab.kubeconfig", .lab)))
    }

    @Test func basePrepareIsAChainAroundTheTwoCheckpoints() throws {
        let s = try services()
        let stages = BaseStages.stages(s, hooks: BasePrepareHooks(password: { "" }, installKey: { _, _ in }))
        // Every base script once, in table order, split by the checkpoint its row names.
        let scripts = StageScript.allCases.filter { $0.scope == .base }
        #expect(stages.map(\.id) == StageScript.base(before: .workers).map(BaseStages.ID.script) + [BaseStages.ID.workerCheckpoint]
            + StageScript.base(before: .controlPlanes).map(BaseStages.ID.script) + [BaseStages.ID.controlPlaneCheckpoint])
        #expect(stages.count == scripts.count + 2)
        #expect(BaseStages.ID.first == stages.first?.id)
        for (a, b) in zip(stages, stages.dropFirst()) { #expect(b.dependencies.map(\.stage) == [a.id]) }
        // No clash with up's ids (base.check), so both can share the lab's journal.
        let up = Set(StageCatalog.stages(s).map(\.id))
        #expect(up.isDisjoint(with: stages.map(\.id)))
        _ = try StageGraph(stages: stages, topology: LabTopology(lab: s.lab))
    }

    @Test func readyNodesFromAGetNodesTable() {
        let table = """
            NAME                    STATUS                     ROLES                  AGE   VERSION
            cluster1-ctrl-plane     Ready                      control-plane,master   5m    v1.21.2
            cluster1-worker-node01  NotReady                   <none>                 1m    v1.21.2
            cluster1-worker-node02  Ready,SchedulingDisabled   <none>                 1m    v1.21.2
            """
        #expect(KubernetesOperations.readyNodes(table) == ["cluster1-ctrl-plane", "cluster1-worker-node02"])
    }
}
