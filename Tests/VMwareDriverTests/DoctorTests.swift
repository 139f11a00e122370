import Foundation
import Testing
import LabKit
@testable import VMwareDriver

/// `labctl doctor`'s checks against a fake host: a temp folder as the host's file tree, a scripted
/// vmrun, injected interface addresses, memory and free space. Each check passes and fails.
@Suite struct DoctorTests {
    static let gib: UInt64 = 1_073_741_824

    struct Host {
        let s: ScriptedVmrun
        var lab: Lab
        var platform: HostPlatform = .linux
        var addresses: [IPv4Address] = []
        var memory: UInt64? = 64 * DoctorTests.gib
        var free: UInt64? = 500 * DoctorTests.gib

        init() throws {
            s = try ScriptedVmrun()
            lab = try VMXTemplateTests().lab()
            lab.vmware.vmrun = s.script
            lab.vmware.vmFolder = s.dir.file("vms")
            lab.base.vmx = try s.makeVM("base", vmsd: try fixtureText("base.vmsd"))
            addresses = [lab.network.hostAddress]
            // vmrun with no arguments: version line, usage, exit 255 (GNS3 check_vmrun_version; Tests/Testbed/vmrun does the same).
            try s.set("bare.out", "vmrun version 1.17.0 build-14665864\r\n\r\nUsage: vmrun [AUTHENTICATION-FLAGS] COMMAND [PARAMETERS]\r\n")
        }

        var doctor: VMwareDoctor {
            let addresses = addresses, free = free
            return VMwareDoctor(lab: lab, platform: platform, environment: [:], fileRoot: s.dir.path,
                                localAddresses: { addresses }, hostMemory: memory, freeBytes: { _ in free })
        }

        func result(_ id: String, key: String? = nil) async throws -> DoctorResult {
            let report = await doctor.run(sshKeyPath: key ?? s.dir.file("state/id_ed25519"))
            return try #require(report.results.first { $0.id == id })
        }

        /// The host's dhcpd.conf and nat.conf as `labctl net apply` writes them, under the fake root.
        func writeNetworkFiles(os: VMwareHostOS = .linux, edit: (String) -> String = { $0 }) throws {
            let plan = try HostNetworkPlan(lab: lab)
            let files = try #require(doctor.networkFiles)
            try s.dir.write(String(files.dhcpdConf.dropFirst()), edit(try DHCPDConf.render(plan, writtenAt: Date(timeIntervalSince1970: 0))))
            try s.dir.write(String(files.natConf.dropFirst()), try NATConf.render(plan, os: os))
        }
    }

    /// The bare call (no command) makes the scripted vmrun's `cmd` empty; route it to `bare.out`.
    static func bareVmrun(_ h: Host) throws {
        let original = try String(contentsOfFile: h.s.script, encoding: .utf8)
        let line = "cmd=\"${args[$i]}\"\n"
        try #require(original.contains(line))
        let script = original.replacingOccurrences(of: line, with: line + "if [ -z \"$cmd\" ]; then cat \"$CTL/bare.out\"; exit 255; fi\n")
        try h.s.dir.write("bin/vmrun", script)
    }

    @Test func vmrunFoundWithItsVersion() async throws {
        let h = try Host()
        defer { h.s.cleanup() }
        try Self.bareVmrun(h)
        let r = try await h.result("vmrun")
        #expect(r.status == .pass)
        #expect(r.detail == "\(h.s.script), version 1.17.0 build-14665864")
    }

    @Test func vmrunMissingOrSilent() async throws {
        var h = try Host()
        defer { h.s.cleanup() }
        h.lab.vmware.vmrun = "/nonexistent/vmrun"
        let missing = try await h.result("vmrun")
        #expect(missing.status == .fail)
        #expect(missing.detail.contains("vmrun not found at /nonexistent/vmrun"))
        #expect(missing.hint?.contains("vmware.vmrun") == true)
        h.lab.vmware.vmrun = h.s.script
        let silent = try await h.result("vmrun") // the scripted vmrun prints nothing for a bare call
        #expect(silent.status == .warn)
        #expect(silent.detail.contains("no \"vmrun version\" line"))
    }

    @Test func vmrunThatHangsMeetsTheDeadline() async throws {
        let h = try Host()
        defer { h.s.cleanup() }
        let check = DoctorCheck(id: "slow", title: "Slow", deadline: .milliseconds(200)) {
            try? await Task.sleep(for: .seconds(30))
            return DoctorFinding(.pass, "never")
        }
        let report = await Doctor.run([check], host: "test")
        #expect(report.results.first?.status == .fail)
        #expect(report.results.first?.detail.contains("did not finish within") == true)
    }

    @Test(arguments: [(HostPlatform.Kind.linux, VMwareProduct.ws, DoctorStatus.pass), (.wsl2, .ws, .pass), (.macos, .fusion, .pass),
                      (.macos, .ws, .fail), (.linux, .fusion, .fail), (.wsl2, .fusion, .fail), (.linux, .player, .warn)])
    func productFitsTheHost(kind: HostPlatform.Kind, product: VMwareProduct, expected: DoctorStatus) async throws {
        var h = try Host()
        defer { h.s.cleanup() }
        h.platform = HostPlatform(kind: kind)
        h.lab.vmware.product = product
        let r = try await h.result("product")
        #expect(r.status == expected)
        if expected == .fail { #expect(r.hint?.contains("vmware") == true) }
    }

    @Test func baseVMAndItsCheckpoints() async throws {
        var h = try Host()
        defer { h.s.cleanup() }
        #expect(try await h.result("base").status == .pass)
        h.lab.base.controlPlaneCheckpoint = "snapshot#9"
        let missing = try await h.result("base")
        #expect(missing.status == .fail)
        #expect(missing.detail.hasSuffix("has no snapshot snapshot#9"))
        #expect(missing.hint?.contains("labctl base prepare") == true)
        h.lab.base.controlPlaneCheckpoint = "Clone" // twice in base.vmsd
        #expect(try await h.result("base").detail.contains("more than one snapshot named Clone"))
        h.lab.base.vmx = h.s.dir.file("nowhere/base.vmx")
        let absent = try await h.result("base")
        #expect(absent.status == .fail)
        #expect(absent.detail.contains("does not exist (lab.json: base.vmx)"))
        // On WSL2 a base outside the Windows drives cannot be opened by VMware on Windows.
        h.lab.base.vmx = try h.s.makeVM("base2", vmsd: try fixtureText("base.vmsd"))
        h.platform = .wsl2
        let wsl = try await h.result("base")
        #expect(wsl.status == .fail)
        #expect(wsl.detail.contains("not on a Windows drive"))
    }

    @Test(arguments: [HostPlatform.Kind.linux, .macos, .wsl2])
    func vmnetMatchesThePlan(kind: HostPlatform.Kind) async throws {
        var h = try Host()
        defer { h.s.cleanup() }
        h.platform = HostPlatform(kind: kind)
        let missing = try await h.result("vmnet")
        #expect(missing.status == .warn, "no VMware files: labctl cannot tell")
        try h.writeNetworkFiles(os: h.platform.networkOS == .windows ? .linux : h.platform.networkOS)
        let ok = try await h.result("vmnet")
        #expect(ok.status == .pass, "\(ok.detail)")
        try h.writeNetworkFiles { $0.replacingOccurrences(of: "10.213.64.128 10.213.64.254", with: "10.213.64.100 10.213.64.254") }
        let wrong = try await h.result("vmnet")
        #expect(wrong.status == .fail)
        #expect(wrong.detail.contains("the DHCP range is 10.213.64.100-10.213.64.254"), "\(wrong.detail)")
        #expect(wrong.hint?.contains(kind == .wsl2 ? "vnetlib" : "labctl net apply") == true)
    }

    @Test func reachabilityOfTheLabSubnet() async throws {
        var h = try Host()
        defer { h.s.cleanup() }
        #expect(try await h.result("reach").status == .pass)
        h.addresses = [try #require(IPv4Address("10.213.64.7")), try #require(IPv4Address("172.20.1.5"))]
        let other = try await h.result("reach")
        #expect(other.status == .warn)
        #expect(other.hint?.contains("10.213.64.7") == true)
        h.addresses = [try #require(IPv4Address("172.20.1.5"))]
        h.platform = .wsl2
        let nat = try await h.result("reach")
        #expect(nat.status == .fail)
        #expect(nat.detail.contains("NAT networking mode"))
        #expect(nat.hint?.contains("networkingMode=mirrored") == true)
        #expect(nat.hint?.contains(".wslconfig") == true)
        h.platform = .linux
        #expect(try await h.result("reach").hint?.contains("vmware-networks --start") == true)
    }

    @Test func diskAndMemory() async throws {
        var h = try Host()
        defer { h.s.cleanup() }
        #expect(try await h.result("disk").status == .pass)
        #expect(try await h.result("memory").status == .pass) // 4096 + 8192 MiB of 64 GiB
        h.free = 5 * Self.gib
        let disk = try await h.result("disk")
        #expect(disk.status == .fail)
        #expect(disk.detail.contains("8.0 GiB needed (2 linked clones, 4 GiB each)"), "\(disk.detail)")
        h.memory = 8 * Self.gib
        let memory = try await h.result("memory")
        #expect(memory.status == .fail)
        #expect(memory.detail == "the 2 nodes need 12288 MiB, the host has 8192 MiB")
        h.memory = 13 * Self.gib
        #expect(try await h.result("memory").status == .warn)
        h.platform = .wsl2
        h.memory = nil
        #expect(VMwareDoctor(lab: h.lab, platform: .wsl2).hostMemory == nil, "WSL2 cannot see Windows' memory")
        #expect(try await h.result("memory").status == .unsupported)
    }

    @Test func sshKey() async throws {
        let h = try Host()
        defer { h.s.cleanup() }
        #expect(try await h.result("ssh-key").status == .pass, "labctl creates the key")
        let key = h.s.dir.file("keys/id_ed25519")
        try FileManager.default.createDirectory(atPath: h.s.dir.file("keys"), withIntermediateDirectories: true)
        for (type, expected) in [("ed25519", DoctorStatus.pass), ("rsa", .fail)] {
            try? FileManager.default.removeItem(atPath: key)
            let gen = try await HostProcessRunner().run(Command(["ssh-keygen", "-q", "-t", type, "-N", "", "-f", key], deadline: .seconds(30)))
            try #require(gen.succeeded, "ssh-keygen -t \(type)")
            let r = try await h.result("ssh-key", key: key)
            #expect(r.status == expected, "\(type): \(r.detail)")
        }
        try? FileManager.default.removeItem(atPath: key)
        _ = try await HostProcessRunner().run(Command(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key], deadline: .seconds(30)))
        chmod(key, 0o644)
        let open = try await h.result("ssh-key", key: key)
        #expect(open.status == .fail)
        #expect(open.hint == "chmod 600 \(key)")
        var noKey = h.lab
        noKey.ssh.privateKey = h.s.dir.file("keys/missing")
        let missing = await VMwareDoctor(lab: noKey, platform: .linux).checks(sshKeyPath: h.s.dir.file("keys/missing")).last?.body()
        #expect(missing?.status == .fail)
        #expect(missing?.hint?.contains("ssh-keygen -t ed25519") == true)
    }

    @Test func reportErrorNamesEveryFailure() async throws {
        var h = try Host()
        defer { h.s.cleanup() }
        try Self.bareVmrun(h)
        try h.writeNetworkFiles()
        let good = await h.doctor.run(sshKeyPath: h.s.dir.file("state/id_ed25519"))
        #expect(good.passed, "\(good.results.filter { $0.status != .pass })")
        #expect(good.error == nil)
        #expect(good.results.map(\.id) == ["vmrun", "product", "base", "vmnet", "reach", "disk", "memory", "ssh-key"])
        h.addresses = []
        h.free = 0
        let bad = await h.doctor.run(sshKeyPath: h.s.dir.file("state/id_ed25519"))
        let error = try #require(bad.error)
        #expect(error.message.contains("2 problems"))
        #expect(error.message.contains("Route to the lab subnet"))
        #expect(error.message.contains("Free disk in vmFolder"))
        #expect(error.hint?.contains("--skip-doctor") == true)
    }
}
