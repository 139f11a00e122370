import Foundation
import LabKit

/// What a host process did.
public struct ProcessOutcome: Sendable {
    public var status: Int32
    public var stdout: String
    public var stderr: String
    public var timedOut: Bool
    public var succeeded: Bool { status == 0 && !timedOut }
    public var lines: [String] { stdout.split(separator: "\n", omittingEmptySubsequences: true).map(String.init) }
}

public struct TestbedError: Error, CustomStringConvertible {
    public var description: String
    public init(description: String) { self.description = description }
}

/// Runs host commands with a deadline (output goes through temp files, so no pipe can fill up).
public enum HostProcess {
    public static func run(_ argv: [String], environment: [String: String] = [:], stdin: String? = nil,
                    timeout: Duration = .seconds(120)) async throws -> ProcessOutcome {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ltb-proc-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("out"), err = dir.appendingPathComponent("err")
        _ = FileManager.default.createFile(atPath: out.path, contents: nil)
        _ = FileManager.default.createFile(atPath: err.path, contents: nil)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = argv
        p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        p.standardOutput = try FileHandle(forWritingTo: out)
        p.standardError = try FileHandle(forWritingTo: err)
        if let stdin {
            let inFile = dir.appendingPathComponent("in")
            try Data(stdin.utf8).write(to: inFile)
            p.standardInput = try FileHandle(forReadingFrom: inFile)
        } else {
            p.standardInput = FileHandle.nullDevice
        }
        try p.run()
        let deadline = ContinuousClock.now + timeout
        var timedOut = false
        while p.isRunning {
            if ContinuousClock.now > deadline {
                timedOut = true
                kill(p.processIdentifier, SIGKILL)
                break
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        p.waitUntilExit()
        return ProcessOutcome(
            status: p.terminationStatus,
            stdout: (try? String(contentsOf: out, encoding: .utf8)) ?? "",
            stderr: (try? String(contentsOf: err, encoding: .utf8)) ?? "",
            timedOut: timedOut)
    }
}

/// The end-to-end testbed (Tests/Testbed/README.md): a private "VMnet8" switch, a cached
/// Debian template, base VMs, and the fake `vmrun`. One per test process:
/// `let tb = try await Testbed.shared()` brings the network up the first time; an atexit
/// handler runs `testbed down` when the process ends, and `shared()` also runs `down` first
/// so leftovers of a crashed run are cleared.
public actor Testbed {
    /// Tests/Testbed, found from this file's path, Sources/LabHarness/Testbed.swift (the scripts are
    /// not bundled resources).
    public static let scriptsDir = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Tests/Testbed")
    public static var testbedScript: String { scriptsDir.appendingPathComponent("testbed").path }
    /// The fake vmrun; export it to labctl as `LABCTL_VMRUN`.
    public static var vmrunPath: String { scriptsDir.appendingPathComponent("vmrun").path }
    /// Per-process scratch dir for VM directories and lab files (removed at teardown).
    public static let workDir = URL(fileURLWithPath: "/tmp/ltb-tests-\(getpid())")
    public static let network = "10.213.64"

    /// What this machine lacks to run the testbed (empty when everything is there).
    public static func missingPrerequisites() -> [String] {
        var missing: [String] = []
        if getuid() != 0 { missing.append("root (run the tests as root)") }
        let tools = ["debootstrap": ["/usr/sbin/debootstrap"], "systemd-nspawn": ["/usr/bin/systemd-nspawn"],
                     "dnsmasq": ["/usr/sbin/dnsmasq"], "python3": ["/usr/bin/python3"], "ssh": ["/usr/bin/ssh"],
                     "ip": ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip"]]
        for (name, paths) in tools.sorted(by: { $0.key < $1.key })
        where !paths.contains(where: { FileManager.default.isExecutableFile(atPath: $0) }) {
            missing.append(name)
        }
        return missing
    }

    /// For `.enabled(if:)`: true when the testbed can run; otherwise prints what is missing.
    public static var isAvailable: Bool {
        var missing = missingPrerequisites()
        if getuid() == 0, !missing.isEmpty {
            // CI runs as root on a fresh machine: install the testbed's packages once.
            let p = Process()
            p.executableURL = scriptsDir.deletingLastPathComponent().deletingLastPathComponent()
                .appendingPathComponent("scripts/install-deps")
            p.arguments = ["test"]
            if (try? p.run()) != nil { p.waitUntilExit() }
            missing = missingPrerequisites()
        }
        if !missing.isEmpty {
            print("testbed: skipping end-to-end tests, missing: \(missing.joined(separator: ", ")) "
                  + "(install with `scripts/install-deps test`, run as root)")
        }
        return missing.isEmpty
    }

    private static let holder = Holder()
    private actor Holder {
        var testbed: Testbed?
        var registered = false
        var locked = false
        func get() async throws -> Testbed {
            if let testbed, await testbed.isUp { return testbed }
            let missing = Testbed.missingPrerequisites()
            guard missing.isEmpty else { throw TestbedError(description: "testbed needs: \(missing.joined(separator: ", "))") }
            if !locked {
                try await Testbed.lockMachineWide()
                locked = true
            }
            let tb = testbed ?? Testbed()
            if !registered {
                registered = true
                atexit { Testbed.teardownAtExit() }
            }
            try await tb.bringUp()
            testbed = tb
            return tb
        }
    }

    /// One test process at a time may own the testbed on a machine (the names, the switch and
    /// /run/ltb are machine-wide): an exclusive flock held until the process exits. Waits at
    /// most 15 minutes for another process to finish.
    private static func lockMachineWide() async throws {
        let fd = open("/run/lock/labctl-testbed.lock", O_CREAT | O_RDWR | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw TestbedError(description: "cannot open /run/lock/labctl-testbed.lock: errno \(errno)") }
        let deadline = ContinuousClock.now + .seconds(900)
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            if ContinuousClock.now > deadline {
                close(fd)
                throw TestbedError(description: "another test process holds /run/lock/labctl-testbed.lock (15 min)")
            }
            try await Task.sleep(for: .milliseconds(500))
        }
        // The descriptor stays open (and locked) for the life of the process on purpose.
    }

    /// The process-wide testbed, up.
    public static func shared() async throws -> Testbed { try await holder.get() }

    public private(set) var isUp = false
    public private(set) var templateDir = URL(fileURLWithPath: "/nonexistent")
    public var keyPath: String { templateDir.appendingPathComponent("id_ed25519").path }
    public var callLog: String { Self.workDir.appendingPathComponent("vmrun-calls.jsonl").path }
    /// Environment for labctl (or anything else) that should use the fake vmrun.
    public var environment: [String: String] { ["LABCTL_VMRUN": Self.vmrunPath, "LABCTL_FAKE_VMRUN_LOG": callLog] }

    private func bringUp() async throws {
        _ = try await script(["down"], timeout: .seconds(120))
        try? FileManager.default.removeItem(at: Self.workDir)
        try FileManager.default.createDirectory(at: Self.workDir, withIntermediateDirectories: true)
        let tpl = try await script(["template"], timeout: .seconds(600))
        guard tpl.succeeded, let path = tpl.lines.last else {
            throw TestbedError(description: "testbed template failed: \(tpl.stderr)\(tpl.stdout)")
        }
        templateDir = URL(fileURLWithPath: path)
        let up = try await script(["up"], timeout: .seconds(60))
        guard up.succeeded else { throw TestbedError(description: "testbed up failed: \(up.stderr)") }
        isUp = true
    }

    /// Runs `Tests/Testbed/testbed ARGS`.
    public func script(_ args: [String], timeout: Duration = .seconds(120)) async throws -> ProcessOutcome {
        try await HostProcess.run([Self.testbedScript] + args, timeout: timeout)
    }

    /// Runs the fake vmrun; `faults` points it at a fault file.
    public func vmrun(_ args: [String], faults: URL? = nil, extraEnvironment: [String: String] = [:],
               timeout: Duration = .seconds(120)) async throws -> ProcessOutcome {
        var env = environment.merging(extraEnvironment) { $1 }
        if let faults { env["LABCTL_FAKE_VMRUN_FAULTS"] = faults.path }
        return try await HostProcess.run([Self.vmrunPath] + args, environment: env, timeout: timeout)
    }

    /// A fresh base VM directory under the work dir; returns its .vmx path.
    public func makeBaseVM(name: String, dhcp: Bool = false, mac: String = "00:50:56:3f:00:10") async throws -> String {
        let dir = Self.workDir.appendingPathComponent(name).path
        var args = ["base-vm", dir, "--name", name, "--mac", mac]
        if dhcp { args.append("--dhcp") }
        let r = try await script(args)
        guard r.succeeded, let vmx = r.lines.last else { throw TestbedError(description: "base-vm failed: \(r.stderr)") }
        return vmx
    }

    /// Sets a VMX key (as labctl does while the VM is off), keeping the rest of the file.
    public func setVMX(_ vmx: String, _ key: String, _ value: String) throws {
        let text = try String(contentsOfFile: vmx, encoding: .utf8)
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let line = "\(key) = \"\(value)\""
        if let i = lines.firstIndex(where: { $0.lowercased().hasPrefix(key.lowercased() + " =") }) {
            lines[i] = line
        } else {
            lines.insert(line, at: max(lines.count - 1, 0))
        }
        try lines.joined(separator: "\n").write(toFile: vmx, atomically: true, encoding: .utf8)
    }

    /// The system ssh client with the test key, against a lab address.
    public func ssh(_ address: String, user: String = "root", _ command: String, stdin: String? = nil,
             timeout: Duration = .seconds(30)) async throws -> ProcessOutcome {
        try await HostProcess.run(
            ["ssh", "-i", keyPath, "-o", "UserKnownHostsFile=/dev/null", "-o", "StrictHostKeyChecking=no",
             "-o", "BatchMode=yes", "-o", "LogLevel=ERROR", "-o", "ConnectTimeout=3", "\(user)@\(address)", command],
            stdin: stdin, timeout: timeout)
    }

    /// Polls until `address` answers ssh (bounded).
    public func waitForSSH(_ address: String, timeout: Duration = .seconds(60)) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if try await ssh(address, "true", timeout: .seconds(10)).succeeded { return }
            try await Task.sleep(for: .milliseconds(200))
        }
        throw TestbedError(description: "no ssh on \(address) within \(timeout)")
    }

    /// Runs a command inside a running guest without the network (nsenter into its init).
    public func inGuest(vmx: String, _ command: String) async throws -> ProcessOutcome {
        let pidFile = URL(fileURLWithPath: vmx).deletingLastPathComponent().appendingPathComponent(".ltb/nspawn.pid")
        let nspawn = try String(contentsOf: pidFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        let children = try String(contentsOfFile: "/proc/\(nspawn)/task/\(nspawn)/children", encoding: .utf8)
        guard let initPid = children.split(separator: " ").first else {
            throw TestbedError(description: "guest of \(vmx) has no init")
        }
        return try await HostProcess.run(["nsenter", "-t", String(initPid), "-m", "-p", "-n", "-u", "-i",
                                          "/bin/sh", "-c", command], timeout: .seconds(30))
    }

    /// The stubs' shared cluster state and journal (Tests/Testbed/STUBS.md), as seen from the host.
    public static let stubsShared = URL(fileURLWithPath: "/run/ltb/stubs-shared")

    /// Forgets every simulated cluster and empties the shared journal (between end-to-end tests).
    public func resetStubState() throws {
        let fm = FileManager.default
        for entry in (try? fm.contentsOfDirectory(atPath: Self.stubsShared.path)) ?? [] {
            try fm.removeItem(at: Self.stubsShared.appendingPathComponent(entry))
        }
    }

    /// One line of the stubs' journal (STUBS.md).
    public struct StubCall: Sendable, Decodable {
        public var node: String
        public var tool: String
        public var argv: [String]
        public var cwd: String
        public var time: String
        public var stdin: String?
        public var cluster: String?
        /// The `--config FILE` of `kubeadm init`/`join`, verbatim.
        public var config: String?
        /// `istioctl install -f FILE`: the file, verbatim.
        public var file: String?
        /// What a strict double reported but let pass, as the real tool does (kubeadm's strict-decoding warnings).
        public var warnings: [String]?
        /// Why a strict double refused the call (STUBS.md, "Strict doubles").
        public var refused: String?
    }

    /// The shared stub journal, in call order across all guests.
    public nonisolated func stubJournal() throws -> [StubCall] {
        let text = (try? String(contentsOf: Self.stubsShared.appendingPathComponent("journal.jsonl"), encoding: .utf8)) ?? ""
        return try text.split(separator: "\n").map { try JSONDecoder().decode(StubCall.self, from: Data($0.utf8)) }
    }

    /// DHCP leases handed out by the switch's dnsmasq: MAC -> IP.
    public nonisolated func leases() -> [String: String] {
        let text = (try? String(contentsOfFile: "/run/ltb/dnsmasq.leases", encoding: .utf8)) ?? ""
        var out: [String: String] = [:]
        for line in text.split(separator: "\n") {
            let f = line.split(separator: " ")
            if f.count >= 3 { out[String(f[1]).lowercased()] = String(f[2]) }
        }
        return out
    }

    /// A lab.json shaped like the repository's, in the testbed's network: 2 clusters, 4 nodes,
    /// base at .10, the fake vmrun and the test key. Returns its path.
    public func writeLabJSON(baseVMX: String, name: String = "lab.json") throws -> URL {
        let n = Self.network
        let json = """
        {
          "apiVersion": "labctl.dev/v1",
          "name": "testbed-multicluster",
          "profile": "seed-2021",
          "network": {
            "vmnet": "vmnet8",
            "subnet": "\(n).0/24",
            "gateway": "\(n).2",
            "hostAddress": "\(n).1",
            "dns": ["\(n).2"],
            "dhcp": "\(n).128-\(n).254"
          },
          "base": {
            "name": "\(URL(fileURLWithPath: baseVMX).deletingPathExtension().lastPathComponent)",
            "vmx": "\(baseVMX)",
            "address": "\(n).10",
            "workerCheckpoint": "snapshot#1",
            "controlPlaneCheckpoint": "snapshot#2"
          },
          "ssh": { "user": "lab", "port": 22, "privateKey": "\(keyPath)" },
          "vmware": {
            "product": "ws",
            "vmrun": "\(Self.vmrunPath)",
            "vmFolder": "\(Self.workDir.appendingPathComponent("vms").path)",
            "cloneKind": "linked",
            "timeouts": { "startSeconds": 300, "softStopSeconds": 30, "defaultSeconds": 120 }
          },
          "mesh": { "id": "mesh1" },
          "clusters": [
            {
              "name": "cluster1",
              "network": "network1",
              "metallb": ["\(n).81-\(n).100"],
              "nodes": [
                { "name": "cluster1-ctrl-plane", "role": "control-plane", "address": "\(n).11", "cpus": 2, "memoryMiB": 4096 },
                { "name": "cluster1-worker-node01", "role": "worker", "address": "\(n).12", "cpus": 2, "memoryMiB": 4096 }
              ]
            },
            {
              "name": "cluster2",
              "network": "network2",
              "metallb": ["\(n).101-\(n).120"],
              "nodes": [
                { "name": "cluster2-ctrl-plane", "role": "control-plane", "address": "\(n).13", "cpus": 2, "memoryMiB": 4096 },
                { "name": "cluster2-worker-node01", "role": "worker", "address": "\(n).14", "cpus": 2, "memoryMiB": 4096 }
              ]
            }
          ]
        }
        """
        let url = Self.workDir.appendingPathComponent(name)
        try json.write(to: url, atomically: true, encoding: .utf8)
        return url
    }

    /// What `testbed status` reports still present (namespaces, mounts, cgroups, nspawn processes).
    public func leftovers() async throws -> [String: [String]] {
        let r = try await script(["status"])
        var out: [String: [String]] = [:]
        for line in r.lines {
            let parts = line.split(separator: ":", maxSplits: 1)
            guard parts.count == 2 else { continue }
            out[String(parts[0])] = parts[1].split(separator: " ").map(String.init)
        }
        return out
    }

    /// Stops every guest and removes everything the testbed made; `shared()` brings it back.
    public func tearDown() async throws {
        isUp = false
        let r = try await script(["down"], timeout: .seconds(120))
        guard r.succeeded else { throw TestbedError(description: "testbed down failed: \(r.stderr)") }
    }

    /// atexit: synchronous `testbed down` and removal of the work dir.
    public nonisolated static func teardownAtExit() {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: testbedScript)
        p.arguments = ["down"]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        if (try? p.run()) != nil { p.waitUntilExit() }
        try? FileManager.default.removeItem(at: workDir)
    }
}
