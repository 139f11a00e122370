import Foundation
import Testing
import LabKit
@testable import VMwareDriver

/// The files in Fixtures/real (published by other projects and users; SOURCES.md names each).
enum RealFixtures {
    static func names(_ folder: String, suffix: String) throws -> [String] {
        let base = try #require(Bundle.module.resourceURL).appendingPathComponent("Fixtures/real/\(folder)")
        return try FileManager.default.contentsOfDirectory(atPath: base.path).filter { $0.hasSuffix(suffix) }.sorted()
    }

    static func path(_ folder: String, _ name: String) throws -> String { try fixture(name, in: "real/\(folder)") }
    static func data(_ folder: String, _ name: String) throws -> Data { try Data(contentsOf: URL(fileURLWithPath: try path(folder, name))) }
    static func text(_ folder: String, _ name: String) throws -> String { try fixtureText(name, in: "real/\(folder)") }

    static let vmx = (try? names("vmx", suffix: ".vmx")) ?? []
    static let networking = (try? names("net", suffix: ".networking")) ?? []
    static let natConf = (try? names("net", suffix: ".nat.conf")) ?? []
    static let dhcpdConf = (try? names("net", suffix: ".dhcpd.conf")) ?? []
}

/// A plan whose values are the ones a file already holds, so applying it must change nothing.
func planMatching(gateway: IPv4Address, netmask: IPv4Address, hostAddress: IPv4Address, vnet: Int,
                  dhcp: IPv4Range? = nil) throws -> HostNetworkPlan {
    let prefix = netmask.value.nonzeroBitCount
    let subnet = IPv4Network(address: gateway, prefixLength: prefix)
    return HostNetworkPlan(vmnet: "vmnet\(vnet)", vnetNumber: vnet, subnet: subnet, gateway: gateway, hostAddress: hostAddress,
                           dhcp: dhcp ?? IPv4Range(subnet.host(128), subnet.broadcast.advanced(by: -1)), reservations: [])
}

/// What users' real files and real vmrun output need from the driver (issue 14). Fixtures and their
/// sources: Fixtures/real/SOURCES.md.
@Suite("Real-world VMware files")
struct RealWorldBehaviourTests {
    // MARK: 1. VMX character sets

    /// A GBK VMX (Workstation on Chinese Windows) with a non-ASCII shared-folder path: the value reads
    /// back in Unicode, and an edit writes GBK again with every untouched line's bytes unchanged.
    @Test(arguments: ["\n", "\r\n"])
    func gbkVMXEditKeepsEveryUntouchedByte(lineBreak: String) throws {
        let published = try RealFixtures.data("vmx", "siren186-gbk-sharedfolder.vmx")
        let original = lineBreak == "\n" ? published : Data(published.split(separator: 0x0A, omittingEmptySubsequences: false)
            .map { Data($0) }.reduce(into: Data()) { $0 += $1 + [0x0D, 0x0A] }.dropLast(2))
        let tmp = try TempDir()
        defer { tmp.cleanup() }
        let path = tmp.file("win10.vmx")
        try original.write(to: URL(fileURLWithPath: path))

        var doc = try VMXDocument.load(path: path)
        #expect(doc["sharedFolder0.hostPath"] == #"E:\vmware\共享"#)
        doc.set("memsize", "4096")
        try doc.write(to: path)

        let written = try Data(contentsOf: URL(fileURLWithPath: path))
        let newLine = Data("memsize = \"4096\"".utf8) + Data(lineBreak.utf8)
        #expect(written == original + newLine, "untouched bytes changed or the new line is wrong")
        // The path is still GBK: 共享 is B9 B2 CF ED in code page 936.
        #expect(written.range(of: Data([0xB9, 0xB2, 0xCF, 0xED])) != nil)
    }

    /// A character set labctl cannot convert both ways is refused before anything is written.
    @Test func unknownCharacterSetIsRefusedAndNothingIsWritten() throws {
        let published = try RealFixtures.text("vmx", "greshem-dlxp-gbk.vmx")
        let tmp = try TempDir()
        defer { tmp.cleanup() }
        let path = tmp.file("dlxp.vmx")
        let original = Data(published.replacingOccurrences(of: ".encoding = \"GBK\"", with: ".encoding = \"x-mac-korean\"").utf8)
        try original.write(to: URL(fileURLWithPath: path))
        let error = #expect(throws: LabError.self) {
            var doc = try VMXDocument.load(path: path)
            doc.set("memsize", "512")
            try doc.write(to: path)
        }
        #expect(error?.location?.description == path)
        #expect(error?.message.contains("x-mac-korean") == true, "\(error?.message ?? "")")
        #expect(error?.hint?.contains("UTF-8") == true)
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == original)
        #expect(try FileManager.default.contentsOfDirectory(atPath: tmp.path) == ["dlxp.vmx"])
    }

    // MARK: 2. The networking file

    /// `answer VNL_DEFAULT_BRIDGE_VNET -1` and `add_bridge_mapping` lines are kept; only vnet 8's
    /// answers and reservations change.
    @Test func networkingKeepsTheLinesTheLabDoesNotOwn() throws {
        let text = try RealFixtures.text("net", "linux-bridge-mappings.networking")
        let plan = try examplePlan(subnet: "10.213.7.0/24", reservations: [("a", "00:50:56:3f:00:01", "10.213.7.11")])
        let merged = try NetworkingFile.parse(text, file: "/etc/vmware/networking").merging(plan).render()
        let before = text.split(separator: "\n").map(String.init)
        let after = merged.split(separator: "\n").map(String.init)
        let owned = ["answer VNET_8_HOSTONLY_SUBNET"]
        #expect(before.filter { line in !owned.contains { line.hasPrefix($0) } } == after.filter { line in
            !owned.contains { line.hasPrefix($0) } && !line.hasPrefix("add_dhcp_mac_to_ip 8 ")
        })
        #expect(after.contains("answer VNET_8_HOSTONLY_SUBNET 10.213.7.0"))
        #expect(after.contains("answer VNL_DEFAULT_BRIDGE_VNET -1"))
        #expect(after.suffix(1) == ["add_dhcp_mac_to_ip 8 00:50:56:3F:00:01 10.213.7.11"])
    }

    // MARK: 3. nat.conf and dhcpd.conf

    /// `net apply` on Fusion's generated nat.conf changes `ip` and `netmask` and nothing else.
    @Test func natConfKeepsEverySettingItDoesNotOwn() throws {
        let text = try RealFixtures.text("net", "fusion-vmnet3.nat.conf")
        let plan = try examplePlan(subnet: "10.213.7.0/24", reservations: [])
        let files = try HostNetworkRenderer.files(plan, os: .macos, current: [.natConf: (path: "nat.conf", text: text)], writtenAt: Date())
        let nat = try #require(files.first { $0.kind == .natConf }).content
        let before = text.components(separatedBy: "\n")
        let after = nat.components(separatedBy: "\n")
        #expect(after.count == before.count)
        for (old, new) in zip(before, after) where old != new {
            #expect(["ip = 10.0.0.2"].contains(old) && new == "ip = 10.213.7.2", "changed \(old) into \(new)")
        }
        for kept in ["useMacosVmnetVirtApi = 1", "resetConnectionOnLinkDown = 1", "resetConnectionOnDestLocalHost = 1",
                     "natIp6Prefix = fd15:4ba5:5a2b:1003::/64", "[netbios]", "nbdsTimeout = 3", "timeout = 30", "device = vmnet3"] {
            #expect(after.contains(kept), "lost \(kept)")
        }
    }

    /// dhcpd.conf: the lab's subnet values change in place, comments and tabs stay, reservations are appended.
    @Test func dhcpdConfKeepsWhatTheLabDoesNotOwn() throws {
        let text = try RealFixtures.text("net", "packer-dhcpd-example.dhcpd.conf")
        let plan = try examplePlan(subnet: "172.33.33.0/24", reservations: [("node-a", "00:50:56:3f:00:01", "172.33.33.11")])
        let files = try HostNetworkRenderer.files(plan, os: .linux, current: [.dhcpdConf: (path: "dhcpd.conf", text: text)], writtenAt: Date())
        let dhcpd = try #require(files.first { $0.kind == .dhcpdConf }).content
        #expect(dhcpd == text + "host node-a {\n\thardware ethernet 00:50:56:3F:00:01;\n\tfixed-address 172.33.33.11;\n}\n")
    }

    // MARK: 4. vmware.log

    /// Workstation 16.2+/Fusion 12.2+ write `<time> In(05) vmx <message>`; the cancel diagnostics read it.
    @Test func newVmwareLogFormatIsRead() throws {
        let text = try RealFixtures.text("log", "workstation16.2-new-format.log")
        #expect(VMwareLog.messagePostErrors(text: text) == [
            "[msg.guestos.badArch] This virtual machine cannot be powered on because it requires the X86 machine architecture, which is incompatible with this Arm machine architecture host. See KB-84273.",
        ])
    }

    @Test func oldVmwareLogPrefixesAreStripped() throws {
        let lines = try RealFixtures.text("log", "old-format-lines.log").split(separator: "\n").map { VMwareLog.stripPrefix(String($0)) }
        #expect(lines == ["GuestRpc: application toolbox, changing channel 65535 -> 0", "GuestRpc: Channel 0, guest application toolbox.",
                          "VmdbPipeStreamsOvlError Couldn't read: OVL_STATUS_EOF (remote disconnect)"])
    }

    // MARK: 5. Retries

    /// vmrun's "operation is not supported" answers (Player, a wrong -T, Workstation unreachable) and
    /// `Unknown error` are not retried: one call, and the error names the product setting.
    @Test(arguments: ["goad-108-player-snapshot.txt", "vvd-78-player-on-fusion.txt", "gns3-1008-ws-list.txt"])
    func unsupportedOperationIsNotRetried(output: String) async throws {
        let s = try ScriptedVmrun()
        defer { s.cleanup() }
        let vmx = try s.makeVM("a")
        try s.set("checkToolsState.hook", "cat '\(try RealFixtures.path("vmrun", output))'\nexit 255\n")
        let hv = VMwareHypervisor(vmrun: s.vmrun())
        let e = await #expect(throws: LabError.self) { _ = try await hv.toolsState(VMReference(path: vmx)) }
        #expect(s.commands() == ["checkToolsState"], "retried: \(s.commands())")
        #expect(e?.hint?.contains("vmware.product") == true, "\(e?.hint ?? "")")
    }

    @Test func unknownErrorIsNotRetried() async throws {
        let s = try ScriptedVmrun()
        defer { s.cleanup() }
        let vmx = try s.makeVM("a")
        try s.set("checkToolsState.error", "Unknown error")
        let hv = VMwareHypervisor(vmrun: s.vmrun())
        await #expect(throws: LabError.self) { _ = try await hv.toolsState(VMReference(path: vmx)) }
        #expect(s.commands() == ["checkToolsState"])
    }

    // MARK: 6. Lock directories

    /// A 512-byte member record as open-vm-tools `fileLockPrimitive.c` writes it.
    static func memberRecord(machineID: String, pid: Int32) -> Data {
        var d = Data("\(machineID) \(pid)-132514863 0 X 132514863 lc=4045211741".utf8)
        d += Data(count: 512 - d.count)
        return d
    }

    /// A `<vmx>.lck/M<5 digits>.lck` left by a process that does not run here, written by another
    /// machine (shared storage): the error names that machine and does not just call it stale.
    @Test func lockFromAnotherMachineNamesItsMachineID() throws {
        let tmp = try TempDir()
        defer { tmp.cleanup() }
        try tmp.write("vm/vm.vmx", ".encoding = \"UTF-8\"\n")
        let machine = "uuid=4C4C4544-0042-3510-8052-B4C04F4D4A32"
        try FileManager.default.createDirectory(atPath: tmp.file("vm/vm.vmx.lck"), withIntermediateDirectories: true)
        try Self.memberRecord(machineID: machine, pid: 31337).write(to: URL(fileURLWithPath: tmp.file("vm/vm.vmx.lck/M12345.lck")))
        try FileManager.default.createDirectory(atPath: tmp.file("vm/vm.vmdk.lck"), withIntermediateDirectories: true)
        try Self.memberRecord(machineID: machine, pid: 31337).write(to: URL(fileURLWithPath: tmp.file("vm/vm.vmdk.lck/M54321.lck")))
        let e = #expect(throws: LabError.self) {
            try VMwareLocks.requireUnlocked(vmx: tmp.file("vm/vm.vmx"), action: "edit", isAlive: { _ in false })
        }
        #expect(e?.code == .conflict)
        #expect(e?.message.contains(machine) == true, "\(e?.message ?? "")")
        #expect(e?.message.contains("31337") == true)
        #expect(e?.hint?.contains("another computer") == true)
        #expect(e?.location?.description == tmp.file("vm/vm.vmdk.lck"))
        // Reported, never deleted.
        #expect(FileManager.default.fileExists(atPath: tmp.file("vm/vm.vmx.lck/M12345.lck")))
    }
}
