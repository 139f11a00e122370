import Foundation
import LabKit
import Testing
@testable import VMwareDriver

/// Hints that name a vmrun command are built from the argv the driver runs: the real vmrun path,
/// `-T <product>` and the host's form of the VMX path, so each host gets a line it can paste.
@Suite("vmrun hints from the real argv")
struct ManualCommandTests {
    static let cases: [(HostPlatform, VMwareProduct, String, String, [String])] = [
        // Workstation on Linux: /usr/bin/vmrun (HostPlatform.vmrunPaths), -T ws, the path as is.
        (.linux, .ws, "/usr/bin/vmrun", "/vms/base/base.vmx",
         ["/usr/bin/vmrun", "-T", "ws", "stop", "/vms/base/base.vmx", "soft"]),
        // Fusion on macOS: the app bundle's vmrun, -T fusion.
        (.macos, .fusion, "/Applications/VMware Fusion.app/Contents/Library/vmrun", "/Users/me/vms/base/base.vmx",
         ["/Applications/VMware Fusion.app/Contents/Library/vmrun", "-T", "fusion", "stop", "/Users/me/vms/base/base.vmx", "soft"]),
        // WSL2: vmrun.exe under /mnt/c, and the Windows form of the VMX path that vmrun.exe understands.
        (.wsl2, .ws, "/mnt/c/Program Files/VMware/VMware Workstation/vmrun.exe", "/mnt/c/vms/base/base.vmx",
         ["/mnt/c/Program Files/VMware/VMware Workstation/vmrun.exe", "-T", "ws", "stop", #"C:\vms\base\base.vmx"#, "soft"]),
    ]

    @Test(arguments: 0..<3)
    func stopHintPerPlatform(index: Int) throws {
        let (platform, product, path, vmx, expected) = Self.cases[index]
        let vmrun = Vmrun(path: path, product: product, platform: platform)
        let hv = VMwareHypervisor(vmrun: vmrun, leaseFiles: [])
        let argv = try #require(hv.manualCommand(.stop(.soft), on: VMReference(path: vmx)))
        #expect(argv == expected)
        // The same argv `run` executes for that command.
        #expect(try vmrun.commandLine("stop", vmx: vmx, ["soft"]) == expected)
        // Pasteable: the hint quotes what the shell would split.
        let hint = hv.manualCommandHint(.stop(.soft), on: VMReference(path: vmx))
        #expect(hint == " (" + expected.map(shellQuote).joined(separator: " ") + ")")
        #expect(!hint.contains("-T ws") || product == .ws)
    }

    @Test func snapshotHintNamesTheSnapshot() throws {
        let hv = VMwareHypervisor(vmrun: Vmrun(path: "/usr/bin/vmrun", product: .ws, platform: .linux), leaseFiles: [])
        #expect(hv.manualCommand(.snapshot(name: "worker checkpoint"), on: VMReference(path: "/vms/b/b.vmx"))
            == ["/usr/bin/vmrun", "-T", "ws", "snapshot", "/vms/b/b.vmx", "worker checkpoint"])
    }

    /// A VM off the Windows drives has no command vmrun.exe could run: no hint rather than a wrong one.
    @Test func wsl2PathOffTheWindowsDrivesGivesNoCommand() {
        let hv = VMwareHypervisor(vmrun: Vmrun(path: "/mnt/c/vmrun.exe", product: .ws, platform: .wsl2), leaseFiles: [])
        #expect(hv.manualCommand(.stop(.hard), on: VMReference(path: "/home/me/vms/a.vmx")) == nil)
        #expect(hv.manualCommandHint(.stop(.hard), on: VMReference(path: "/home/me/vms/a.vmx")) == "")
    }

    /// The error of a failed vmrun names the argv that ran, typed, with the VmrunError as its cause.
    @Test func failedRunKeepsArgvAndTypedCause() async throws {
        let s = try ScriptedVmrun()
        defer { s.cleanup() }
        let vmx = try s.makeVM("a")
        try s.set("reset.error", "The virtual machine is not powered on: \(vmx)")
        let hv = VMwareHypervisor(vmrun: s.vmrun(product: .fusion))
        let e = await #expect(throws: LabError.self) { try await hv.reset(VMReference(path: vmx)) }
        #expect(e?.location == .command([s.script, "-T", "fusion", "reset", vmx, "hard"]))
        #expect(e?.underlying(VmrunError.self)?.kind == .notPoweredOn)
        #expect(e?.underlying(VmrunError.self)?.argv == [s.script, "-T", "fusion", "reset", vmx, "hard"])
    }
}

/// Decisions on a vmrun failure are made on its typed kind, never on the text the user reads.
@Suite("typed vmrun causes")
struct TypedCauseTests {
    /// `checkToolsState` printing only `unknown` with a non-zero exit (gns3-server#1901) is a state, not an error.
    @Test func toolsStateUnknownWithFailureIsUnknown() async throws {
        let s = try ScriptedVmrun()
        defer { s.cleanup() }
        let vmx = try s.makeVM("a")
        try s.set("checkToolsState.hook", "echo unknown\nexit 255\n")
        let hv = VMwareHypervisor(vmrun: s.vmrun())
        #expect(try await hv.toolsState(VMReference(path: vmx)) == .unknown)
    }

    /// A conflict that is not "Tools not running" (the VM's files in use) is not taken for one: the
    /// address lookup reports it instead of falling back to the leases.
    @Test func otherConflictIsNotTakenForToolsNotRunning() async throws {
        let s = try ScriptedVmrun()
        defer { s.cleanup() }
        let vmx = try s.makeVM("a")
        try s.set("getGuestIPAddress.error", "The file is already in use")
        let hv = VMwareHypervisor(vmrun: s.vmrun(tries: 1), leaseFiles: [])
        let e = await #expect(throws: LabError.self) { _ = try await hv.guestIPAddress(VMReference(path: vmx), wait: false, subnet: nil) }
        #expect(e?.code == .conflict)
        #expect(e?.underlying(VmrunError.self)?.kind == .fileInUse)
    }
}
