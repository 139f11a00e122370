import Foundation
import Testing
import LabKit
@testable import VMwareDriver

/// Every host personality's paths on Linux: the platform is a value, not `#if os`.
@Suite struct HostPlatformTests {
    static func detect(env: [String: String] = [:], darwin: Bool = false, files: [String: String] = [:], exists: Set<String> = []) -> HostPlatform {
        HostPlatform.detect(environment: env, isDarwin: darwin, fileExists: { exists.contains($0) }, readFile: { files[$0] })
    }

    @Test func detectsEachHost() {
        #expect(Self.detect().kind == .linux)
        #expect(Self.detect(files: ["/proc/sys/kernel/osrelease": "6.1.0-13-amd64\n"]).kind == .linux)
        #expect(Self.detect(darwin: true).kind == .macos)
        #expect(Self.detect(env: ["WSL_DISTRO_NAME": "Ubuntu"]).kind == .wsl2)
        #expect(Self.detect(exists: ["/proc/sys/fs/binfmt_misc/WSLInterop"]).kind == .wsl2)
        #expect(Self.detect(exists: ["/proc/sys/fs/binfmt_misc/WSLInterop-late"]).kind == .wsl2)
        // Kernel release strings from microsoft/WSL#4555 (WSL2) and antonbabenko/pre-commit-terraform#871.
        #expect(Self.detect(files: ["/proc/sys/kernel/osrelease": "5.15.167.4-microsoft-standard-WSL2\n"]).kind == .wsl2)
        #expect(Self.detect(files: ["/proc/version": "Linux version 4.19.67-microsoft-standard (oe-user@oe-host)"]).kind == .wsl2)
    }

    @Test func wslAutomountRootFromWslConf() {
        let conf = "[boot]\nsystemd=true\n[automount]\nenabled = true\nroot = /win/\noptions = \"metadata\"\n"
        let p = Self.detect(env: ["WSL_DISTRO_NAME": "Ubuntu"], files: ["/etc/wsl.conf": conf])
        #expect(p.wslMountRoot == "/win/")
        #expect(p.leaseFiles() == ["/win/c/ProgramData/VMware/vmnetdhcp.leases"])
        #expect(Self.detect(env: ["WSL_DISTRO_NAME": "U"], files: ["/etc/wsl.conf": "[network]\nroot = /x/\n"]).wslMountRoot == "/mnt/")
    }

    @Test func goldenPathsPerHost() {
        #expect(HostPlatform.linux.vmrunPaths == ["/usr/bin/vmrun"])
        #expect(HostPlatform.macos.vmrunPaths == ["/Applications/VMware Fusion.app/Contents/Library/vmrun",
                                                  "/Applications/VMware Fusion.app/Contents/Public/vmrun"])
        #expect(HostPlatform.wsl2.vmrunPaths == ["/mnt/c/Program Files (x86)/VMware/VMware Workstation/vmrun.exe",
                                                 "/mnt/c/Program Files/VMware/VMware Workstation/vmrun.exe"])
        #expect(HostPlatform.linux.leaseFiles() == ["/etc/vmware/vmnet8/dhcpd/dhcpd.leases", "/etc/vmware/vmnet8/dhcpd/dhcp.leases",
                                                    "/var/lib/vmware/vmnet8.leases", "/etc/vmware/vmnet8.leases"])
        #expect(HostPlatform.macos.leaseFiles() == ["/var/db/vmware/vmnet8.leases", "/var/db/dhcpd_leases"])
        #expect(HostPlatform.wsl2.leaseFiles() == ["/mnt/c/ProgramData/VMware/vmnetdhcp.leases"])
        #expect(HostPlatform.wsl2.windowsNetworkFiles?.natConf == "/mnt/c/ProgramData/VMware/vmnetnat.conf")
        #expect(HostPlatform.wsl2.windowsNetworkFiles?.dhcpdConf == "/mnt/c/ProgramData/VMware/vmnetdhcp.conf")
        #expect(HostPlatform.linux.windowsNetworkFiles == nil)
        #expect(HostPlatform.linux.networkOS == .linux)
        #expect(HostPlatform.macos.networkOS == .macos)
        #expect(HostPlatform.wsl2.networkOS == .windows)
        #expect(HostPlatform.macos.defaultProduct == .fusion)
        #expect(HostPlatform.wsl2.defaultProduct == .ws)
        let fusion = HostNetworkLayout(os: HostPlatform.macos.networkOS, vmnet: "vmnet8")
        #expect(fusion?.path(.networking) == "/Library/Preferences/VMware Fusion/networking")
        #expect(fusion?.path(.natConf) == "/Library/Preferences/VMware Fusion/vmnet8/nat.conf")
        #expect(fusion?.path(.dhcpdConf) == "/Library/Preferences/VMware Fusion/vmnet8/dhcpd.conf")
    }

    @Test func wslPathsBothWays() throws {
        let p = HostPlatform.wsl2
        #expect(try p.vmrunPath("/mnt/c/Users/me/vmware/labctl/node 1/node 1.vmx") == #"C:\Users\me\vmware\labctl\node 1\node 1.vmx"#)
        #expect(try p.vmrunPath("/mnt/d/vms/base.vmx") == #"D:\vms\base.vmx"#)
        #expect(try p.vmrunPath("/mnt/c") == #"C:\"#)
        #expect(try p.localPath(#"C:\Users\me\vmware\labctl\node 1\node 1.vmx"#) == "/mnt/c/Users/me/vmware/labctl/node 1/node 1.vmx")
        #expect(try p.localPath(#"d:\vms\base.vmx"#) == "/mnt/d/vms/base.vmx")
        #expect(try p.localPath("C:/Users/me/a.vmx") == "/mnt/c/Users/me/a.vmx")
        for outside in ["/home/me/vms/a.vmx", "/mnt/wsl/a.vmx", "/mnt/cd/a.vmx", "/tmp/a.vmx", "/mnt/"] {
            let e = #expect(throws: LabError.self) { try p.vmrunPath(outside) }
            #expect(e?.message.contains("not on a Windows drive") == true, "\(outside)")
            #expect(e?.hint?.contains("vmware.vmFolder") == true)
        }
        #expect(throws: LabError.self) { try p.localPath(#"\\wsl$\Ubuntu\home\me\a.vmx"#) }
        // Other hosts pass paths through unchanged.
        #expect(try HostPlatform.linux.vmrunPath("/home/me/a.vmx") == "/home/me/a.vmx")
        #expect(try HostPlatform.macos.localPath("/Users/me/a.vmx") == "/Users/me/a.vmx")
    }

    @Test func lockKeysFollowTheHostFilesystem() {
        #expect(HostPlatform.linux.lockKey("/VMs/A.vmx") == "/VMs/A.vmx")
        #expect(HostPlatform.macos.lockKey("/VMs/A.vmx") == "/vms/a.vmx")
        #expect(HostPlatform.wsl2.lockKey("/mnt/c/VMs/A.vmx") == "/mnt/c/vms/a.vmx")
    }

    @Test func locatorFindsVmrunExeInWindowsFolders() throws {
        let found = try VmrunLocator.locate(override: nil, product: .ws, platform: .wsl2, environment: [:],
                                            isExecutable: { $0 == "/mnt/c/Program Files/VMware/VMware Workstation/vmrun.exe" })
        #expect(found == "/mnt/c/Program Files/VMware/VMware Workstation/vmrun.exe")
        let onPath = try VmrunLocator.locate(override: nil, product: .ws, platform: .wsl2, environment: ["PATH": "/usr/bin:/mnt/e/VMware"],
                                             isExecutable: { $0 == "/mnt/e/VMware/vmrun.exe" })
        #expect(onPath == "/mnt/e/VMware/vmrun.exe")
        let fusion = try VmrunLocator.locate(override: nil, product: .fusion, platform: .macos, environment: [:],
                                             isExecutable: { $0 == "/Applications/VMware Fusion.app/Contents/Public/vmrun" })
        #expect(fusion == "/Applications/VMware Fusion.app/Contents/Public/vmrun")
        let e = #expect(throws: LabError.self) {
            try VmrunLocator.locate(override: nil, product: .ws, platform: .wsl2, environment: [:], isExecutable: { _ in false })
        }
        #expect(e?.location?.description.contains("/mnt/c/Program Files (x86)/VMware/VMware Workstation/vmrun.exe") == true)
    }

    /// A vmrun.exe personality: it accepts only Windows paths and answers with CRLF and backslashes,
    /// as `vmrun list` does on Windows (Fixtures/driver/list-crlf.txt, VVD read_state).
    @Test func wslDriverTalksWindowsPathsToVmrunExe() async throws {
        let s = try ScriptedVmrun()
        defer { s.cleanup() }
        try s.set("crlf")
        try s.set("list.out", "Total running VMs: 1\r\nC:\\Users\\me\\vmware\\labctl\\node1\\node1.vmx\r\n")
        try s.set("start.hook", #"case "$1" in [A-Z]:\\*) exit 0;; *) printf 'Error: Cannot open VM: %s, unknown file suffix\r\n' "$1"; exit 255;; esac"#)
        let vmrun = Vmrun(path: s.script, retry: VmrunRetryPolicy(tries: 1, delay: .milliseconds(10)), platform: .wsl2)
        let hv = VMwareHypervisor(vmrun: vmrun, leaseFiles: [])
        let running = try await hv.runningVMs()
        #expect(running.map(\.path) == ["/mnt/c/Users/me/vmware/labctl/node1/node1.vmx"])
        try await vmrun.run("start", vmx: "/mnt/c/Users/me/vmware/labctl/node1/node1.vmx", ["nogui"], idempotent: true)
        #expect(s.calls().last == ["-T", "ws", "start", #"C:\Users\me\vmware\labctl\node1\node1.vmx"#, "nogui"])
        // A VM outside the Windows drives never reaches vmrun.exe.
        let before = s.calls().count
        await #expect(throws: LabError.self) { try await vmrun.run("start", vmx: "/home/me/node1.vmx", idempotent: true) }
        #expect(s.calls().count == before)
    }
}

/// The Windows `vmnetdhcp.conf` that labctl reads from WSL2 through /mnt/c.
@Suite struct WindowsNetworkFileTests {
    @Test func realWindowsDhcpConfTailParses() throws {
        let path = try fixture("vmnetdhcp-windows-tail.conf", in: "net")
        let conf = try DHCPDConf.parse(try fixtureText("vmnetdhcp-windows-tail.conf", in: "net"), file: path)
        let okd = try #require(conf.hosts.first { $0.name == "okd-sno-master" })
        #expect(okd.mac == MACAddress("00:50:56:27:c8:0b"))
        #expect(okd.address == IPv4Address("192.168.241.10"))
        #expect(conf.hosts.first { $0.name == "VMnet8" }?.address == IPv4Address("192.168.241.1"))
        // A fragment without the subnet section: the doctor reports it instead of guessing.
        #expect(conf.subnet == nil)
    }
}
