import Foundation
import LabKit
import LabTestSupport
import Testing
@testable import LabStages

/// The node stage group without VMware or SSH: the graph it forms, the resources it names and the
/// path conventions. (The stages' behaviour on real guests is proven in EndToEndTests.)
@Suite("Node stages")
struct NodeStagesTests {
    func services(_ lab: Lab, directory: String = "/labs/home") throws -> LabServices {
        try LabServices(lab: lab, paths: LabPaths(root: directory + "/.labctl"), labDirectory: directory, hypervisor: NoHypervisor(),
                        connector: NoGuests(), vmConfigurator: NoGuests(), hostKeys: NoGuests(), portProbe: FixedPortProbe(), labKey: "/dev/null")
    }

    @Test("The repository's lab expands to base.check plus five stages per node, in dependency order")
    func graph() throws {
        let lab = try Fixture.lab(profile: "seed-2021")
        let s = try services(lab)
        let stages = NodeStages.stages(s)
        let graph = try StageGraph(stages: stages, topology: LabTopology(lab: lab))
        #expect(graph.order.count == 1 + lab.nodes.count * 5)
        let position = Dictionary(uniqueKeysWithValues: graph.order.enumerated().map { ($1, $0) })
        for node in lab.nodes.map(\.name) {
            let chain = stages.map(\.id).dropFirst().map { StageInstanceID($0, .node(node)) }
            for (a, b) in zip(chain, chain.dropFirst()) {
                #expect((position[a] ?? 0) < (position[b] ?? 0), "\(a) before \(b)")
                #expect(graph.dependencies(of: b) == [a])
            }
            #expect(graph.dependencies(of: StageInstanceID(NodeStages.ID.clone, .node(node))) == [StageInstanceID(NodeStages.ID.baseCheck, .lab)])
        }
    }

    @Test("A static base serialises first contact; a DHCP base starts every clone at once; clones always share base-vm")
    func resources() throws {
        var lab = try Fixture.lab(profile: "seed-2021")
        let staticStages = NodeStages.stages(try services(lab))
        #expect(lab.base.address != nil)
        #expect(staticStages.first { $0.id == NodeStages.ID.start }?.resources == [NodeStages.Resource.firstContactAddress])
        #expect(staticStages.first { $0.id == NodeStages.ID.clone }?.resources == [NodeStages.Resource.baseVM])
        lab.base.address = nil
        let dhcpStages = NodeStages.stages(try services(lab))
        #expect(dhcpStages.first { $0.id == NodeStages.ID.start }?.resources.isEmpty == true)
        #expect(dhcpStages.map(\.id) == staticStages.map(\.id))
    }

    /// Records the calls that reach vmrun on VMware (`list` behind powerState/start, `start`), and makes
    /// clones as empty VMX files. Its guest address lookup fails at once, so node.start ends after powering on.
    actor CallRecorder {
        private(set) var calls: [String] = []
        func record(_ call: String) { calls.append(call) }
    }

    struct RecordingHypervisor: Hypervisor {
        let recorder: CallRecorder
        func powerState(_ vm: VMReference) async throws -> PowerState { await recorder.record("powerState"); return .off }
        func vmExists(_ vm: VMReference) async -> Bool { FileManager.default.fileExists(atPath: vm.path) }
        func clone(_ source: VMReference, to destination: VMReference, kind: CloneKind, snapshot: String?, name: String?) async throws {
            await recorder.record("clone")
            try FileManager.default.createDirectory(atPath: destination.directory, withIntermediateDirectories: true)
            _ = FileManager.default.createFile(atPath: destination.path, contents: Data())
        }
        func start(_ vm: VMReference) async throws { await recorder.record("start") }
        func startNewClone(_ vm: VMReference) async throws { await recorder.record("startNewClone") }
        func stop(_ vm: VMReference, mode: StopMode) async throws {}
        func snapshots(_ vm: VMReference) async throws -> SnapshotTree { SnapshotTree() }
        func createSnapshot(_ vm: VMReference, name: String) async throws -> SnapshotInfo { SnapshotInfo(uid: 1, name: name) }
        func revert(_ vm: VMReference, to snapshot: SnapshotSelector) async throws {}
        func deleteSnapshot(_ vm: VMReference, _ snapshot: SnapshotSelector) async throws {}
        func guestIPAddress(_ vm: VMReference, wait: Bool, subnet: IPv4Network?) async throws -> IPv4Address? {
            throw LabError(.notFound, "no guests in this test")
        }
        func delete(_ vm: VMReference) async throws {}
    }

    @Test("A node cloned in this run starts without a power-state query; a retry, or a clone from an earlier run, asks first")
    func newCloneStartsWithoutList() async throws {
        var lab = try Fixture.lab(profile: "seed-2021")
        lab.base.address = nil // DHCP base: node.start is power-on plus the address by MAC
        lab.vmware.vmFolder = "vms"
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("newclone-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let recorder = CallRecorder()
        func stages() throws -> [Stage] {
            NodeStages.stages(try LabServices(lab: lab, paths: LabPaths(root: dir + "/.labctl"), labDirectory: dir,
                                              hypervisor: RecordingHypervisor(recorder: recorder), connector: NoGuests(),
                                              vmConfigurator: NoGuests(), hostKeys: NoGuests(), portProbe: FixedPortProbe(), labKey: "/dev/null"))
        }
        let node = try #require(lab.nodes.first).name
        let topology = LabTopology(lab: lab)
        func context(_ stage: String) -> StageContext { StageContext(instance: StageInstanceID(stage, .node(node)), topology: topology, log: { _ in }) }
        let run = try stages()
        let clone = try #require(run.first { $0.id == NodeStages.ID.clone })
        let start = try #require(run.first { $0.id == NodeStages.ID.start })

        try await clone.action(context(NodeStages.ID.clone))
        #expect(await start.probe(context(NodeStages.ID.start)) == .notDone)
        await #expect(throws: LabError.self) { try await start.action(context(NodeStages.ID.start)) }
        #expect(await recorder.calls == ["clone", "startNewClone"], "no power-state query between clone and start")
        // A retry of node.start (the first attempt may have powered the VM on) asks again.
        await #expect(throws: LabError.self) { try await start.action(context(NodeStages.ID.start)) }
        #expect(await recorder.calls == ["clone", "startNewClone", "start"])

        // Another process (a resume after a kill) did not make this clone: its probe asks for the power state.
        let later = try #require(try stages().first { $0.id == NodeStages.ID.start })
        #expect(await later.probe(context(NodeStages.ID.start)) == .notDone)
        #expect(await recorder.calls.last == "powerState")
    }

    @Test("Node VMs live in <vmFolder>/<node>/<node>.vmx; a relative vmFolder is the lab directory's, ~ is home")
    func paths() throws {
        var lab = try Fixture.lab(profile: "seed-2021")
        lab.vmware.vmFolder = "vms"
        #expect(try services(lab).vm(node: "cluster1-ctrl-plane").path == "/labs/home/vms/cluster1-ctrl-plane/cluster1-ctrl-plane.vmx")
        lab.vmware.vmFolder = "~/vmware/labctl"
        #expect(try services(lab).vmFolder == NSHomeDirectory() + "/vmware/labctl")
        lab.vmware.vmFolder = "/srv/vms/../vm"
        #expect(try services(lab).vm(node: "n").path == "/srv/vm/n/n.vmx")
        let worker = try #require(lab.nodes.first { $0.role == .worker })
        let cp = try #require(lab.nodes.first { $0.role == .controlPlane })
        let s = try services(lab)
        #expect(s.baseCheckpoint(for: worker) == lab.base.workerCheckpoint)
        #expect(s.baseCheckpoint(for: cp) == lab.base.controlPlaneCheckpoint)
    }

    @Test("Machine-id claims see each other, also across runs (facts on disk)")
    func machineIdClaims() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("facts-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = NodeFactsStore(directory: dir)
        let nodes = ["a", "b", "c"]
        async let x = store.claimMachineId("id1", hostKey: "k1", node: "a", nodes: nodes)
        async let y = store.claimMachineId("id1", hostKey: "k2", node: "b", nodes: nodes)
        let clashes = try await [x, y]
        #expect(clashes.filter { !$0.isEmpty }.count == 1, "exactly one of two concurrent claims sees the other: \(clashes)")
        let again = NodeFactsStore(directory: dir)
        #expect(try await again.claimMachineId("id1", hostKey: "k3", node: "c", nodes: nodes).sorted() == ["a", "b"])
        #expect(try await again.claimMachineId("id2", hostKey: "k1", node: "a", nodes: nodes).isEmpty)
    }

    @Test("A running base VM is refused with the stop command the hypervisor would run, not a hard-coded vmrun line")
    func runningBaseHintComesFromTheHypervisor() async throws {
        let lab = try Fixture.lab(profile: "seed-2021")
        let hv = NoHypervisor(power: .on, exists: true) { operation, vm in
            guard case .stop(let mode) = operation else { return nil }
            return ["/Applications/VMware Fusion.app/Contents/Library/vmrun", "-T", "fusion", "stop", vm.path, mode.rawValue]
        }
        let s = try LabServices(lab: lab, paths: LabPaths(root: "/labs/home/.labctl"), labDirectory: "/labs/home", hypervisor: hv,
                                connector: NoGuests(), vmConfigurator: NoGuests(), hostKeys: NoGuests(), portProbe: FixedPortProbe(),
                                labKey: "/dev/null")
        let check = try #require(NodeStages.stages(s).first { $0.id == NodeStages.ID.baseCheck })
        let ctx = StageContext(instance: StageInstanceID(NodeStages.ID.baseCheck, .lab), topology: LabTopology(lab: lab), log: { _ in })
        let e = await #expect(throws: LabError.self) { try await check.action(ctx) }
        #expect(e?.code == .conflict)
        #expect(e?.hint?.contains("('/Applications/VMware Fusion.app/Contents/Library/vmrun' -T fusion stop \(s.baseVM.path) soft)") == true,
                "\(e?.hint ?? "")")
        #expect(e?.hint?.contains("-T ws") == false)
    }
}
