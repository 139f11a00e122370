import Foundation
import LabKit
import Testing
@testable import LabctlCLI

@Suite struct SnapshotCommandTests {
    @Test func aliasesAndSelectionsParse() throws {
        #expect(try Labctl.parseAsRoot(["snapshot", "ls", "--format", "json"]) is Labctl.SnapshotList)
        #expect(try Labctl.parseAsRoot(["snapshot", "rm", "snapshot#7"]) is Labctl.SnapshotDelete)
        let save = try #require(try Labctl.parseAsRoot(["snapshot", "save", "x", "--nodes", "a, b"]) as? Labctl.SnapshotSave)
        #expect(save.selection.selection == .nodes(["a", "b"]))
        let restore = try #require(try Labctl.parseAsRoot(["snapshot", "restore", "x", "--cluster", "cluster2"]) as? Labctl.SnapshotRestore)
        #expect(restore.selection.selection == .cluster("cluster2"))
        #expect(throws: (any Error).self) { try Labctl.parseAsRoot(["snapshot", "save", "--nodes", "a", "--cluster", "c"]) }
        let destroy = try #require(try Labctl.parseAsRoot(["destroy", "cluster2", "--yes"]) as? Labctl.Destroy)
        #expect(destroy.target == "cluster2" && destroy.yes)
        #expect(throws: (any Error).self) { try Labctl.parseAsRoot(["rebuild"]) }
    }

    @Test func listRendersTableAndJSON() throws {
        let m = LabSnapshotManifest(
            name: "snapshot#2", status: .complete, taken: Date(timeIntervalSince1970: 1_800_000_000), journalPosition: 12,
            stage: "node.verify@c2-w1", origin: "checkpoint",
            nodes: [.init(node: "c1-cp", cluster: "cluster1", vm: "/v/c1-cp/c1-cp.vmx", snapshotName: "snapshot#2", snapshotUID: 3, powerState: .on)])
        let table = Labctl.SnapshotList.table([m])
        #expect(table == """
            NAME        STATUS    TAKEN                 NODES  STAGE REACHED
            snapshot#2  complete  2027-01-15T08:00:00Z  c1-cp  node.verify@c2-w1

            """)
        let json = try #require(try JSONSerialization.jsonObject(with: Data(Labctl.SnapshotList.json([m]).utf8)) as? [[String: Any]])
        #expect(json.first?["name"] as? String == "snapshot#2")
        #expect(json.first?["stage"] as? String == "node.verify@c2-w1")
        #expect((json.first?["snapshots"] as? [String: Int])?["c1-cp"] == 3)
        #expect(Labctl.SnapshotList.table([]).contains("no lab snapshots"))
    }

    @Test func destroyPromptListsWhatGoes() {
        let plan = DestroyPlan(scope: .cluster("cluster2"),
                               items: [.init(node: "c2-cp", cluster: "cluster2", vm: "/v/c2-cp/c2-cp.vmx", exists: true),
                                       .init(node: "c2-w1", cluster: "cluster2", vm: "/v/c2-w1/c2-w1.vmx", exists: false)],
                               journalEntries: 7, snapshots: ["snapshot#2"])
        let text = Labctl.Destroy.describe(plan)
        #expect(text.contains("c2-cp (cluster2)  /v/c2-cp/c2-cp.vmx\n"))
        #expect(text.contains("/v/c2-w1/c2-w1.vmx  [already gone]"))
        #expect(text.contains("7 journal entries") && text.contains("snapshot#2"))
    }
}
