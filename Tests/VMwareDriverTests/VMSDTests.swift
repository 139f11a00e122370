import Foundation
import Testing
import LabKit
@testable import VMwareDriver

@Suite(".vmsd snapshot database")
struct VMSDTests {
    @Test func readsTheTreeCurrentAndClones() throws {
        let path = try fixture("base.vmsd")
        let vmsd = try VMSD.parse(try VMXDocument.load(path: path), source: path)
        let tree = vmsd.tree
        #expect(tree.snapshots.map(\.uid) == [1, 3, 4, 5]) // parents before children
        #expect(tree.currentUID == 5)
        #expect(vmsd.lastUID == 5)
        #expect(tree.snapshot(uid: 3)?.parentUID == 1)
        #expect(tree.snapshot(uid: 1)?.parentUID == nil)
        #expect(tree.snapshot(uid: 1)?.name == "snapshot#1")
        #expect(tree.clones[1] == ["/vms/lab/cluster1-worker-node01/cluster1-worker-node01.vmx",
                                   "/vms/lab/cluster2-worker-node01/cluster2-worker-node01.vmx"])
        #expect(tree.clones[3] == nil)
        // createTimeHigh/Low with a negative low half.
        let created = try #require(tree.snapshot(uid: 1)?.createdAt)
        #expect(created > utc("2010/01/01 00:00:00") && created < utc("2040/01/01 00:00:00"))
    }

    @Test func resolvesDuplicateNamesItself() throws {
        let path = try fixture("base.vmsd")
        let tree = try VMSD.parse(try VMXDocument.load(path: path), source: path).tree
        #expect(try tree.resolve(.name("snapshot#2"), vm: "vm").uid == 3)
        let dup = #expect(throws: LabError.self) { try tree.resolve(.name("Clone"), vm: "vm") }
        #expect(dup?.code == .conflict)
        #expect(dup?.message.contains("uid 4") == true && dup?.message.contains("uid 5") == true)
        let missing = #expect(throws: LabError.self) { try tree.resolve(.name("nope"), vm: "vm") }
        #expect(missing?.code == .notFound)
        // By uid, a duplicate is named by its unique path from the root (VIX treats / as a separator).
        #expect(try tree.vmrunName(for: try tree.resolve(.uid(4), vm: "vm"), vm: "vm") == "snapshot#1/snapshot#2/Clone")
        #expect(try tree.vmrunName(for: try tree.resolve(.uid(5), vm: "vm"), vm: "vm") == "snapshot#1/Clone")
        #expect(try tree.vmrunName(for: try tree.resolve(.uid(3), vm: "vm"), vm: "vm") == "snapshot#2")
    }

    @Test func siblingsWithTheSameNameCannotBeAddressed() throws {
        let path = try fixture("siblings.vmsd")
        let tree = try VMSD.parse(try VMXDocument.load(path: path), source: path).tree
        let e = #expect(throws: LabError.self) { try tree.vmrunName(for: try tree.resolve(.uid(3), vm: "vm"), vm: "vm") }
        #expect(e?.code == .conflict)
    }

    @Test func cloneBookkeeping() throws {
        let path = try fixture("clone.vmsd")
        let vmsd = try VMSD.parse(try VMXDocument.load(path: path), source: path)
        #expect(vmsd.cloneOf == ["/vms/base/ubuntu-20042-base.vmx"])
        #expect(vmsd.tree.snapshots.isEmpty)
    }

    @Test func truncatedFilesNameFileAndLine() throws {
        let truncated = try fixture("truncated.vmsd")
        let e1 = #expect(throws: LabError.self) { try VMSD.parse(try VMXDocument.load(path: truncated), source: truncated) }
        #expect(e1?.location?.description == truncated + ":8")
        let short = try fixture("short.vmsd")
        let e2 = #expect(throws: LabError.self) { try VMSD.parse(try VMXDocument.load(path: short), source: short) }
        #expect(e2?.location?.description == short + ":3")
        #expect(e2?.message.contains("numSnapshots says 2") == true)
    }

    @Test func missingVmsdMeansNoSnapshots() throws {
        let vmsd = try VMSD.load(forVMX: "/nonexistent/vm/vm.vmx")
        #expect(vmsd.tree.snapshots.isEmpty)
    }
}
