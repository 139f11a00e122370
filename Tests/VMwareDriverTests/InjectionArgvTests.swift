import Foundation
import Testing
import LabKit
@testable import VMwareDriver

/// Hostile values that are legal file and snapshot names (quotes, `$()`, backticks, `;`, spaces, a
/// leading '-') reach vmrun as argv elements, byte for byte, never through a shell (issue 19,
/// docs/robustness.md "Shell injection"). The scripted vmrun records its argv; had any layer joined
/// the arguments into a shell string, the recorded elements would differ or the `touch` would run.
@Suite struct InjectionArgvTests {
    static let folder = "vm it's \"q\" $(touch PWNED1) `touch PWNED2`; touch PWNED3 & -x"

    @Test func hostileVMPathsAndSnapshotNamesAreSingleArgvElements() async throws {
        let s = try ScriptedVmrun()
        defer { s.cleanup() }
        // A .vmsd as VMware writes it: '"' is stored as |22 (VMX encoding), so the name read back has quotes.
        let vmsd = DriverTests.twoSnapshots
            .replacingOccurrences(of: "\"snapshot#1\"", with: "\"-snapshot=evil $(touch PWNED4)\"")
            .replacingOccurrences(of: "\"snapshot#2\"", with: "\"it|22s `touch PWNED5`; x\"")
        try s.dir.write("vms/\(Self.folder)/base.vmx", ".encoding = \"UTF-8\"\ndisplayName = \"$(touch PWNED6)\"\n")
        try s.dir.write("vms/\(Self.folder)/base.vmsd", vmsd)
        let vmx = s.dir.file("vms/\(Self.folder)/base.vmx")
        let clone = s.dir.file("vms/\(Self.folder)/clone $(id).vmx")
        let hv = VMwareHypervisor(vmrun: s.vmrun())
        let ref = VMReference(path: vmx)

        try await hv.start(ref)
        #expect(s.calls().last == ["-T", "ws", "start", vmx, "nogui"])
        try await hv.revert(ref, to: .uid(2))
        // The name is unique, so the driver passes it alone (a path only for duplicates).
        #expect(s.calls().last == ["-T", "ws", "revertToSnapshot", vmx, "it\"s `touch PWNED5`; x"])
        try await hv.clone(ref, to: VMReference(path: clone), kind: .full, snapshot: "-snapshot=evil $(touch PWNED4)", name: "n; $(id)")
        #expect(s.calls().last == ["-T", "ws", "clone", vmx, clone, "full", "-snapshot=-snapshot=evil $(touch PWNED4)", "-cloneName=n; $(id)"])
        try await hv.stop(ref, mode: .hard)
        #expect(s.calls().contains(["-T", "ws", "stop", vmx, "hard"]))

        // Nothing ran: no PWNED file where vmrun ran, nor in the VM folder.
        let cwd = FileManager.default.currentDirectoryPath
        for dir in [cwd, s.dir.path, s.dir.file("vms/\(Self.folder)")] {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
            #expect(!names.contains { $0.hasPrefix("PWNED") }, "a hostile value ran in \(dir)")
        }
    }
}
