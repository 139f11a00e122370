import Foundation
import Testing
import LabKit
@testable import VMwareDriver

@Suite("VMware .lck directories")
struct LocksTests {
    @Test func ownerPIDRegexFollowsVagrant() {
        #expect(VMwareLocks.ownerPIDs(in: "host.example.com 4242-1700000000 vmx") == [4242])
        #expect(VMwareLocks.ownerPIDs(in: "nothing here").isEmpty)
    }

    @Test func liveStaleAndUnknownLocks() throws {
        let tmp = try TempDir()
        defer { tmp.cleanup() }
        try tmp.write("a.vmx", ".encoding = \"UTF-8\"\n")
        #expect(throws: Never.self) { try VMwareLocks.requireUnlocked(vmx: tmp.file("a.vmx"), action: "edit") }

        let live = ProcessInfo.processInfo.processIdentifier
        try tmp.write("a.vmx.lck/M1.lck", "myhost \(live)-1 x")
        let locks = VMwareLocks.scan(directory: tmp.path)
        #expect(locks.map(\.state) == [.live])
        let e1 = #expect(throws: LabError.self) { try VMwareLocks.requireUnlocked(vmx: tmp.file("a.vmx"), action: "edit") }
        #expect(e1?.code == .conflict)
        #expect(e1?.message.contains("PID \(live)") == true)

        try tmp.write("a.vmx.lck/M1.lck", "myhost 999999-1 x")
        let e2 = #expect(throws: LabError.self) {
            try VMwareLocks.requireUnlocked(vmx: tmp.file("a.vmx"), action: "edit", isAlive: { _ in false })
        }
        #expect(e2?.message.contains("is not running on this host") == true)
        #expect(e2?.location?.description == tmp.file("a.vmx.lck"))
        // Reported, never deleted.
        #expect(FileManager.default.fileExists(atPath: tmp.file("a.vmx.lck/M1.lck")))

        try tmp.write("a.vmx.lck/M1.lck", "no pid")
        #expect(VMwareLocks.scan(directory: tmp.path).map(\.state) == [.unknown])
        #expect(throws: LabError.self) { try VMwareLocks.requireUnlocked(vmx: tmp.file("a.vmx"), action: "edit") }
    }
}
