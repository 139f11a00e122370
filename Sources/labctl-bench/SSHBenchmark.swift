import Foundation
import GuestSSH
import LabHarness
import LabKit
#if canImport(Glibc)
import Glibc
#endif

/// `labctl-bench ssh`: one labctl (libssh2) session against OpenSSH with ControlMaster and
/// against one `ssh` process per command, and an SFTP upload against `scp`, all on the
/// same local sshd (the GuestSSH test rig).
enum SSHBenchmark {
    struct Options {
        var commands = 200
        var spawnCommands = 200
        var uploadMiB = 64
    }

    static func main(_ args: [String]) async -> Int32 {
        var o = Options()
        var i = 0
        while i < args.count {
            let value = i + 1 < args.count ? Int(args[i + 1]) : nil
            switch args[i] {
            case "--commands": o.commands = value ?? o.commands; i += 1
            case "--spawn-commands": o.spawnCommands = value ?? o.spawnCommands; i += 1
            case "--upload-mib": o.uploadMiB = value ?? o.uploadMiB; i += 1
            case "-h", "--help":
                say("usage: labctl-bench ssh [--commands 200] [--spawn-commands 200] [--upload-mib 64]")
                return 0
            default:
                FileHandle.standardError.write(Data("labctl-bench ssh: unknown option \(args[i])\n".utf8))
                return 2
            }
            i += 1
        }
        do {
            return try await run(o)
        } catch {
            FileHandle.standardError.write(Data("labctl-bench ssh: \(error)\n".utf8))
            return 1
        }
    }

    static func run(_ o: Options) async throws -> Int32 {
        if let why = LocalSSHServer.unavailableReason {
            FileHandle.standardError.write(Data("labctl-bench ssh: cannot start the local sshd: \(why)\n".utf8))
            return 1
        }
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("labctl-bench-\(UUID().uuidString.prefix(8))").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let paths = LabPaths(root: root + "/.labctl")
        let key = try SSHKeys.ensureLabKey(paths: paths)
        let server = try LocalSSHServer(authorizedKeys: [try SSHKeys.publicKeyLine(key)])
        try server.start()
        defer { server.stop() }
        let endpoint = GuestEndpoint(node: "bench", host: server.host, port: server.port, user: server.user)
        let options = SSHOptions(privateKey: key, knownHosts: paths.knownHosts, logDirectory: nil)
        say("sshd: \(server.user)@\(server.host):\(server.port), libssh2 \(LibSSH2.runtimeVersion)")

        // 1. labctl: one session, one channel per command. The connect pins the host key,
        //    which the OpenSSH runs below then check with StrictHostKeyChecking=yes.
        let session = try await SSHConnector(options: options).open(endpoint, deadline: .seconds(20))
        _ = try await session.run(Command(["true"]))
        var labctl: [Double] = []
        for n in 0..<o.commands {
            let t = ContinuousClock.now
            let r = try await session.run(Command(["echo", "\(n)"]))
            labctl.append((ContinuousClock.now - t).seconds)
            guard r.stdoutText == "\(n)\n" else { throw LabError(.internalError, "unexpected output \(r.stdoutText)") }
        }
        report("labctl session", labctl)

        // 2. OpenSSH with a ControlMaster.
        let sshOpts = OpenSSH.options(privateKey: key, knownHosts: paths.knownHosts, pinned: true)
            + ["-o", "BatchMode=yes", "-o", "LogLevel=ERROR", "-p", String(server.port), "-l", server.user]
        let control = root + "/cm.sock"
        let master = try spawn(["/usr/bin/ssh"] + sshOpts + ["-o", "ControlMaster=yes", "-o", "ControlPath=\(control)", "-N", server.host], wait: false)
        // SIGKILL: the master ignores SIGTERM while its mux clients' sessions wind down.
        defer { kill(master, SIGKILL); var st: Int32 = 0; waitpid(master, &st, 0) }
        let ready = ContinuousClock.now
        while !FileManager.default.fileExists(atPath: control) {
            guard ContinuousClock.now - ready < .seconds(10) else { throw LabError(.timeout, "the ControlMaster did not start") }
            try await Task.sleep(for: .milliseconds(20))
        }
        var mux: [Double] = []
        for n in 0..<o.commands {
            let t = ContinuousClock.now
            let st = try spawn(["/usr/bin/ssh"] + sshOpts + ["-o", "ControlMaster=no", "-o", "ControlPath=\(control)", server.host, "echo", "\(n)"])
            mux.append((ContinuousClock.now - t).seconds)
            guard st == 0 else { throw LabError(.commandFailed, "ssh via ControlMaster exited \(st)") }
        }
        report("ssh ControlMaster", mux)

        // 3. One ssh process (full handshake) per command.
        var spawnTimes: [Double] = []
        for n in 0..<o.spawnCommands {
            let t = ContinuousClock.now
            let st = try spawn(["/usr/bin/ssh"] + sshOpts + ["-o", "ControlPath=none", server.host, "echo", "\(n)"])
            spawnTimes.append((ContinuousClock.now - t).seconds)
            guard st == 0 else { throw LabError(.commandFailed, "ssh exited \(st)") }
        }
        report("ssh per command", spawnTimes)

        // 4. Upload: labctl (SFTP, temp file, sha256 check, rename) against scp.
        let size = o.uploadMiB << 20
        var data = Data(count: size)
        data.withUnsafeMutableBytes { raw in
            var x: UInt64 = 0x2545F4914F6CDD1D
            for i in 0..<raw.count { x ^= x << 13; x ^= x >> 7; x ^= x << 17; raw[i] = UInt8(truncatingIfNeeded: x) }
        }
        let local = root + "/upload.bin"
        try data.write(to: URL(fileURLWithPath: local))
        var labctlUp: [Double] = [], scpUp: [Double] = []
        for round in 0..<3 {
            let t = ContinuousClock.now
            try await session.upload(data, to: "\(server.dataDirectory)/labctl-\(round).bin", mode: 0o644)
            labctlUp.append((ContinuousClock.now - t).seconds)
            let t2 = ContinuousClock.now
            let scpOpts = OpenSSH.options(privateKey: key, knownHosts: paths.knownHosts, pinned: true)
                + ["-o", "BatchMode=yes", "-o", "LogLevel=ERROR", "-P", String(server.port)]
            let st = try spawn(["/usr/bin/scp", "-q"] + scpOpts + [local, "\(server.user)@\(server.host):\(server.dataDirectory)/scp-\(round).bin"])
            scpUp.append((ContinuousClock.now - t2).seconds)
            guard st == 0 else { throw LabError(.commandFailed, "scp exited \(st)") }
        }
        await session.close()
        let mib = Double(size) / 1_000_000
        let labctlRate = mib / median(labctlUp), scpRate = mib / median(scpUp)
        say(String(format: "upload %d MiB: labctl %.0f MB/s (median of 3, incl. sha256 check and rename), scp %.0f MB/s (median of 3, incl. its connect)",
                     o.uploadMiB, labctlRate, scpRate))

        let perCommandGoal = median(labctl) <= median(mux) / 5
        let uploadGoal = labctlRate >= 0.8 * scpRate
        say(String(format: "goal: labctl per command <= 1/5 of ControlMaster (%.2f ms vs %.2f ms): %@",
                     median(labctl) * 1000, median(mux) * 1000 / 5, perCommandGoal ? "MET" : "NOT MET"))
        say(String(format: "goal: labctl upload >= 80%% of scp (%.0f%%): %@", labctlRate / scpRate * 100, uploadGoal ? "MET" : "NOT MET"))
        return perCommandGoal && uploadGoal ? 0 : 3
    }


    static func median(_ xs: [Double]) -> Double { percentile(xs, 0.5) }

    static func percentile(_ xs: [Double], _ p: Double) -> Double {
        guard !xs.isEmpty else { return .nan }
        let s = xs.sorted()
        let idx = min(s.count - 1, Int((Double(s.count - 1) * p).rounded()))
        return s[idx]
    }

    static func report(_ what: String, _ xs: [Double]) {
        say(String(format: "%-18@ %4d commands: median %7.2f ms, p95 %7.2f ms", what as NSString, xs.count,
                     median(xs) * 1000, percentile(xs, 0.95) * 1000))
    }

    /// posix_spawn with stdin/stdout on /dev/null (Foundation's Process adds its own overhead,
    /// and its monitor misbehaves with `ssh -M`, which keeps inherited descriptors).
    @discardableResult
    static func spawn(_ argv: [String], wait: Bool = true) throws -> Int32 {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        var cArgs: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
        defer { for a in cArgs { free(a) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, argv[0], &actions, nil, &cArgs, environ)
        guard rc == 0 else { throw LabError(.commandFailed, "cannot run \(argv[0])", cause: POSIXError.current(rc)) }
        guard wait else { return pid }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        return (status >> 8) & 0xff
    }
}
