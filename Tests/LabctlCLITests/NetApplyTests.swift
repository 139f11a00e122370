import Foundation
import LabKit
import Testing
import VMwareDriver
@testable import LabctlCLI

/// Records every command; fails the ones whose display text is in `failing` (once each).
actor RecordingRunner: CommandRunner {
    private(set) var commands: [[String]] = []
    private var failing: [String]
    init(failing: [String] = []) { self.failing = failing }

    func run(_ command: Command) async throws -> CommandResult {
        commands.append(command.arguments)
        if let i = failing.firstIndex(of: command.display) {
            failing.remove(at: i)
            return CommandResult(exitStatus: 1, stderr: Data("Failed to start DHCP service on vmnet8\n".utf8))
        }
        return CommandResult(exitStatus: 0)
    }
}

/// A fake root with VMware Workstation's files as VMware wrote them (PKR testdata; docs/vmware-driver.md, "Host network files").
struct FakeHost {
    let root: URL
    static let networking = """
        VERSION=1,0
        answer VNET_1_DHCP yes
        answer VNET_1_HOSTONLY_NETMASK 255.255.255.0
        answer VNET_1_HOSTONLY_SUBNET 192.168.56.0
        answer VNET_1_VIRTUAL_ADAPTER yes
        answer VNET_8_DHCP yes
        answer VNET_8_DHCP_CFG_HASH C30F14F65A0FE4B5DCC6C67497D7A8A33E5E538C
        answer VNET_8_HOSTONLY_NETMASK 255.255.255.0
        answer VNET_8_HOSTONLY_SUBNET 172.16.41.0
        answer VNET_8_NAT yes
        answer VNET_8_VIRTUAL_ADAPTER yes
        add_nat_portfwd 8 tcp 2222 172.16.41.129 22

        """
    static let nat = "[host]\nip = 172.16.41.2\nnetmask = 255.255.255.0\ndevice = /dev/vmnet8\n[incomingtcp]\n2222 = 172.16.41.129:22\n[incomingudp]\n"
    static let dhcpd = "subnet 172.16.41.0 netmask 255.255.255.0 {\n\trange 172.16.41.128 172.16.41.254;\n\toption routers 172.16.41.2;\n}\n"

    /// Host path -> (content, mode).
    static func files(_ os: VMwareHostOS) -> [String: (String, Int)] {
        switch os {
        case .macos:
            let p = "/Library/Preferences/VMware Fusion"
            return ["\(p)/networking": (networking, 0o644), "\(p)/vmnet8/nat.conf": (nat, 0o600), "\(p)/vmnet8/dhcpd.conf": (dhcpd, 0o640)]
        default:
            return ["/etc/vmware/networking": (networking, 0o644), "/etc/vmware/vmnet8/nat/nat.conf": (nat, 0o600),
                    "/etc/vmware/vmnet8/dhcpd/dhcpd.conf": (dhcpd, 0o640)]
        }
    }

    init(_ os: VMwareHostOS? = .linux) throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("labctl-net-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        guard let os else { return }
        for (path, (content, mode)) in Self.files(os) {
            let url = root.appendingPathComponent(path)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data(content.utf8).write(to: url)
            try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: url.path)
        }
    }

    /// Every file under the root (relative path -> bytes), to prove "nothing changed".
    func snapshot() throws -> [String: Data] {
        var out: [String: Data] = [:]
        let base = root.standardizedFileURL.path
        guard let e = FileManager.default.enumerator(atPath: base) else { return out }
        for case let rel as String in e {
            var isDir: ObjCBool = false
            let full = base + "/" + rel
            if FileManager.default.fileExists(atPath: full, isDirectory: &isDir), !isDir.boolValue {
                out[rel] = try Data(contentsOf: URL(fileURLWithPath: full))
            }
        }
        return out
    }

    func text(_ path: String) throws -> String { String(decoding: try Data(contentsOf: root.appendingPathComponent(path)), as: UTF8.self) }
    func mode(_ path: String) throws -> Int {
        try #require(try FileManager.default.attributesOfItem(atPath: root.appendingPathComponent(path).path)[.posixPermissions] as? NSNumber).intValue
    }
    func inode(_ path: String) throws -> Int {
        try #require(try FileManager.default.attributesOfItem(atPath: root.appendingPathComponent(path).path)[.systemFileNumber] as? NSNumber).intValue
    }
    func remove() { try? FileManager.default.removeItem(at: root) }
}

@Suite struct NetApplyTests {
    static let now = Date(timeIntervalSince1970: 1_767_323_045) // 2026-01-02 03:04:05 UTC
    static let suffix = ".labctl-backup-20260102T030405Z"

    func run(_ args: [String], runner: RecordingRunner, privileged: Bool = false, confirm: Bool?? = .some(nil),
             failWrite: String? = nil, output: OutputBuffer = OutputBuffer()) async throws {
        let command = try #require(try Labctl.parseAsRoot(["net", "apply", "--lab", Repo.labJSON] + args) as? Labctl.NetApplyCommand)
        let env = NetApplyEnvironment(
            runner: runner, isPrivileged: privileged, now: Self.now,
            confirm: { _ in confirm ?? nil }, print: { output.append($0) },
            beforeWrite: { path in
                if let failWrite, path.hasSuffix(failWrite) {
                    throw LabError(.commandFailed, "No space left on device (injected)", location: .file(path))
                }
            })
        try await command.perform(env)
    }

    func error(_ body: () async throws -> Void) async -> LabError? {
        do { try await body() } catch let e as LabError { return e } catch { Issue.record("unexpected \(error)") }
        return nil
    }

    @Test(arguments: [VMwareHostOS.linux, .macos])
    func appliesWithBackupsAtomicWritesAndRestart(os: VMwareHostOS) async throws {
        let host = try FakeHost(os)
        defer { host.remove() }
        let runner = RecordingRunner()
        let out = OutputBuffer()
        let paths = FakeHost.files(os).keys.sorted()
        let inodes = try paths.map(host.inode)
        try await run(["--root", host.root.path, "--yes", "--host", os.rawValue], runner: runner, output: out)

        // The diff was shown.
        #expect(out.value.contains("-answer VNET_8_HOSTONLY_SUBNET 172.16.41.0\n+answer VNET_8_HOSTONLY_SUBNET 194.89.64.0\n"))
        // Backups hold the originals, with their modes.
        for path in paths {
            let (content, mode) = try #require(FakeHost.files(os)[path])
            #expect(try host.text(path + Self.suffix) == content)
            #expect(try host.mode(path + Self.suffix) == mode)
            // Same mode on the new file, and a new inode: it was renamed into place, not rewritten.
            #expect(try host.mode(path) == mode)
        }
        #expect(try paths.map(host.inode) != inodes)
        let plan = try HostNetworkPlan(lab: try LabLoader.load(path: Repo.labJSON).lab)
        let layout = try #require(HostNetworkLayout(os: os, vmnet: "vmnet8"))
        var current: [HostNetworkLayout.FileKind: (path: String, text: String)] = [:]
        for f in layout.files { current[f.kind] = (f.path, FakeHost.files(os)[f.path]?.0 ?? "") }
        for file in try HostNetworkRenderer.files(plan, os: os, current: current, writtenAt: Self.now) {
            #expect(try host.text(file.path) == file.content)
        }
        // Other vmnets and the port forward survive; the nodes are reserved.
        let networking = try host.text(paths.first { $0.hasSuffix("networking") } ?? "")
        #expect(networking.contains("answer VNET_1_HOSTONLY_SUBNET 192.168.56.0\n"))
        #expect(networking.contains("add_nat_portfwd 8 tcp 2222 172.16.41.129 22\n"))
        #expect(try host.text(paths.first { $0.hasSuffix("nat.conf") } ?? "").contains("2222 = 172.16.41.129:22\n"))
        // No temp files left over.
        #expect(try host.snapshot().keys.filter { $0.contains("labctl-tmp") }.isEmpty)
        // The restart commands, in order.
        let expected: [[String]] = os == .linux
            ? [["/usr/bin/vmware-networks", "--stop"], ["/usr/bin/vmware-networks", "--start"]]
            : [["/Applications/VMware Fusion.app/Contents/Library/vmnet-cli", "--stop"], ["/Applications/VMware Fusion.app/Contents/Library/vmnet-cli", "--start"]]
        #expect(await runner.commands == expected)

        // A second run finds nothing to do: no writes, no backups, no restart.
        let before = try host.snapshot()
        let again = RecordingRunner()
        let out2 = OutputBuffer()
        try await run(["--root", host.root.path, "--yes", "--host", os.rawValue], runner: again, output: out2)
        #expect(out2.value.contains("nothing to do"))
        #expect(try host.snapshot() == before)
        #expect(await again.commands.isEmpty)
    }

    @Test func writeFailureLeavesEverythingAsItWas() async throws {
        let host = try FakeHost()
        defer { host.remove() }
        let before = try host.snapshot()
        let runner = RecordingRunner()
        let e = await error { try await run(["--root", host.root.path, "--yes"], runner: runner, failWrite: "nat/nat.conf") }
        let err = try #require(e)
        #expect(err.message == "could not write VMware's network configuration")
        #expect(err.location?.description.hasSuffix("/etc/vmware/vmnet8/nat/nat.conf") == true)
        #expect(err.causeText?.contains("No space left on device") == true)
        #expect(err.hint?.contains("nothing was changed") == true)
        // networking was written first and is back; no backups or temp files remain.
        #expect(try host.snapshot() == before)
        #expect(await runner.commands.isEmpty)
    }

    @Test func failingRestartRestoresTheFilesAndRestartsWithThem() async throws {
        let host = try FakeHost()
        defer { host.remove() }
        let before = try host.snapshot()
        let runner = RecordingRunner(failing: ["/usr/bin/vmware-networks --start"])
        let err = try #require(await error { try await run(["--root", host.root.path, "--yes"], runner: runner) })
        #expect(err.message == "restarting VMware networking failed")
        #expect(err.location?.description == "/usr/bin/vmware-networks --start")
        #expect(err.causeText?.contains("Failed to start DHCP service on vmnet8") == true)
        #expect(err.hint?.contains("previous files were put back") == true)
        #expect(try host.snapshot() == before)
        #expect(await runner.commands == [
            ["/usr/bin/vmware-networks", "--stop"], ["/usr/bin/vmware-networks", "--start"],
            ["/usr/bin/vmware-networks", "--stop"], ["/usr/bin/vmware-networks", "--start"],
        ])
    }

    @Test func withoutVMwareFilesItRefusesAndChangesNothing() async throws {
        let host = try FakeHost(nil)
        defer { host.remove() }
        let runner = RecordingRunner()
        let err = try #require(await error { try await run(["--root", host.root.path, "--yes"], runner: runner) })
        #expect(err.code == .notFound)
        #expect(err.message.contains("VMware Workstation does not seem to be installed"))
        #expect(err.location?.description.hasSuffix("/etc/vmware/networking") == true)
        #expect(try host.snapshot().isEmpty)
        #expect(await runner.commands.isEmpty)
    }

    @Test func missingVmnetDirectoryIsNamed() async throws {
        let host = try FakeHost()
        defer { host.remove() }
        try FileManager.default.removeItem(at: host.root.appendingPathComponent("etc/vmware/vmnet8"))
        let before = try host.snapshot()
        let err = try #require(await error { try await run(["--root", host.root.path, "--yes"], runner: RecordingRunner()) })
        #expect(err.message.contains("has no vmnet8 configuration directory"))
        #expect(try host.snapshot() == before)
    }

    /// `--root /` without root privileges: refused before anything is read or written.
    @Test func realRootNeedsPrivileges() async throws {
        let runner = RecordingRunner()
        let err = try #require(await error { try await run(["--root", "/", "--yes"], runner: runner, privileged: false) })
        #expect(err.message == "changing VMware's network configuration needs root")
        #expect(err.hint?.contains("sudo") == true)
        #expect(await runner.commands.isEmpty)
    }

    @Test func withoutATerminalAndWithoutYesItRefuses() async throws {
        let host = try FakeHost()
        defer { host.remove() }
        let before = try host.snapshot()
        let runner = RecordingRunner()
        let out = OutputBuffer()
        let err = try #require(await error { try await run(["--root", host.root.path], runner: runner, confirm: .some(nil), output: out) })
        #expect(err.message == "refusing to change VMware's network configuration without confirmation")
        #expect(err.hint?.contains("--yes") == true)
        #expect(out.value.contains("+++ /etc/vmware/networking (labctl)"))
        #expect(try host.snapshot() == before)
        #expect(await runner.commands.isEmpty)
    }

    @Test func answeringNoChangesNothing() async throws {
        let host = try FakeHost()
        defer { host.remove() }
        let before = try host.snapshot()
        let runner = RecordingRunner()
        let out = OutputBuffer()
        try await run(["--root", host.root.path], runner: runner, confirm: .some(false), output: out)
        #expect(out.value.hasSuffix("Nothing changed.\n"))
        #expect(try host.snapshot() == before)
        #expect(await runner.commands.isEmpty)
    }

    @Test func windowsPrintsTheCommandsAndWhy() async throws {
        let runner = RecordingRunner()
        let out = OutputBuffer()
        try await run(["--host", "windows"], runner: runner, output: out)
        #expect(out.value.contains("exit codes cannot be"))
        #expect(out.value.contains("& $vnetlib -- set dhcp vmnet8 addipmac 194.89.64.11"))
        #expect(await runner.commands.isEmpty)
    }

    @Test func corruptCurrentFileIsNamedWithItsLine() async throws {
        let host = try FakeHost()
        defer { host.remove() }
        let nat = host.root.appendingPathComponent("etc/vmware/vmnet8/nat/nat.conf")
        try Data("[host]\r\nip = 172.16.41.2\r\nnetmask 255.255.255.0\r\n".utf8).write(to: nat)
        let before = try host.snapshot()
        let runner = RecordingRunner()
        let err = try #require(await error { try await run(["--root", host.root.path, "--yes"], runner: runner) })
        #expect(err.location?.description == nat.standardizedFileURL.path + ":3")
        #expect(err.message.contains("expected \"key = value\""))
        #expect(try host.snapshot() == before)
        #expect(await runner.commands.isEmpty)
    }

    /// A file that did not exist is created, and removed again when the restart fails.
    @Test func newFileIsRemovedAgainOnFailure() async throws {
        let host = try FakeHost()
        defer { host.remove() }
        try FileManager.default.removeItem(at: host.root.appendingPathComponent("etc/vmware/vmnet8/dhcpd/dhcpd.conf"))
        let before = try host.snapshot()
        let runner = RecordingRunner(failing: ["/usr/bin/vmware-networks --stop"])
        let err = try #require(await error { try await run(["--root", host.root.path, "--yes"], runner: runner) })
        #expect(err.location?.description == "/usr/bin/vmware-networks --stop")
        #expect(err.hint?.contains("restarted with them") == true)
        #expect(try host.snapshot() == before)
        // It stopped at the failing command, then restarted networking with the old files.
        #expect(await runner.commands.count == 3)
    }

    /// When networking does not come back even with the old files, the hint says so.
    @Test func restartThatKeepsFailingSaysSo() async throws {
        let host = try FakeHost()
        defer { host.remove() }
        let before = try host.snapshot()
        let start = "/usr/bin/vmware-networks --start"
        let runner = RecordingRunner(failing: [start, start])
        let err = try #require(await error { try await run(["--root", host.root.path, "--yes"], runner: runner) })
        #expect(err.hint?.contains("failed too") == true)
        #expect(try host.snapshot() == before)
    }
}
