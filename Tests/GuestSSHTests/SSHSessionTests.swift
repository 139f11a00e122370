import Foundation
import GuestSSH
import LabHarness
import LabKit
import Testing

// These tests start real OpenSSH sshd servers on loopback. They need root (to create the
// unprivileged `labctl-test` user and run sshd) and openssh-server; CI has both.
// When either is missing they are skipped, and `sshUnavailable` says why.
@Suite("GuestSSH against a real sshd", .enabled(if: sshUnavailable == nil, "\(sshUnavailable ?? "")"), .serialized)
struct SSHSessionTests {
    @Test func exitCodesStdoutAndStderrComeBackSeparately() async throws {
        let rig = try SSHRig()
        let s = try await rig.open()
        let ok = try await s.run(Command(["echo", "hello world"]))
        #expect(ok.exitStatus == 0)
        #expect(ok.stdoutText == "hello world\n")
        let failed = try await s.run(.script("echo out; echo err >&2; exit 3"))
        #expect(failed.exitStatus == 3)
        #expect(failed.stdoutText == "out\n")
        #expect(failed.stderrText == "err\n")
        let killed = try await s.run(.script("kill -TERM $$"))
        #expect(killed.exitSignal == "TERM")
        #expect(!killed.succeeded)
        await s.close()
    }

    @Test func sixteenMiBOnBothStreamsAndOneMiBOfStdin() async throws {
        let rig = try SSHRig()
        let s = try await rig.open()
        let big = try await s.run(.script("head -c 16777216 /dev/zero | tr '\\0' a; head -c 16777216 /dev/zero | tr '\\0' b >&2", deadline: .seconds(60)))
        #expect(big.exitStatus == 0)
        #expect(big.stdout.count == 16 << 20)
        #expect(big.stderr.count == 16 << 20)
        #expect(big.stdout.allSatisfy { $0 == UInt8(ascii: "a") })
        #expect(big.stderr.allSatisfy { $0 == UInt8(ascii: "b") })

        var input = Data(count: 1 << 20)
        for i in input.indices { input[i] = UInt8(truncatingIfNeeded: i &* 31) }
        let sum = try await s.run(Command(["sha256sum"], stdin: input))
        let local = try #require(shaHex(input))
        #expect(sum.stdoutText.hasPrefix(local))
        await s.close()
    }

    @Test func uploadSixtyFourMiBWithModeAndChecksumThenDownload() async throws {
        let rig = try SSHRig()
        let s = try await rig.open()
        var data = Data(count: 64 << 20)
        data.withUnsafeMutableBytes { raw in
            var x: UInt64 = 0x9E3779B97F4A7C15
            for i in 0..<raw.count { x ^= x << 13; x ^= x >> 7; x ^= x << 17; raw[i] = UInt8(truncatingIfNeeded: x) }
        }
        let path = rig.server.dataDirectory + "/blob.bin"
        try await s.upload(data, to: path, mode: 0o640)
        // Overwrite: OpenSSH's SFTP refuses rename onto an existing file; the fallback must work.
        try await s.upload(data, to: path, mode: 0o600)
        let attrs = try FileManager.default.attributesOfItem(atPath: path)
        #expect((attrs[.posixPermissions] as? Int) == 0o600)
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == data)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: rig.server.dataDirectory).filter { $0.contains(".tmp-") }
        #expect(leftovers.isEmpty)
        let back = try await s.download(path)
        #expect(back == data)
        await #expect(throws: LabError.self) { try await s.download(rig.server.dataDirectory + "/missing") }
        // The session survives an SFTP error.
        #expect(try await s.run(Command(["true"])).exitStatus == 0)
        await s.close()
    }

    @Test func trustOnFirstUseThenChangedHostKeyIsRefusedWithBothFingerprints() async throws {
        let rig = try SSHRig()
        let s = try await rig.open()
        await s.close()
        let known = KnownHosts(path: rig.paths.knownHosts)
        let pins = known.pins(host: rig.server.host, port: rig.server.port)
        #expect(pins.count == 1)
        #expect(pins.first?.keyType == "ssh-ed25519")
        let oldFP = try rig.server.hostKeyFingerprint()
        #expect(pins.first?.fingerprint == oldFP)
        let text = try String(contentsOfFile: rig.paths.knownHosts, encoding: .utf8)
        #expect(text.hasPrefix("[\(rig.server.host)]:\(rig.server.port) ssh-ed25519 "))

        try rig.server.regenerateHostKeys()
        try rig.server.restart()
        let newFP = try rig.server.hostKeyFingerprint()
        let error = await #expect(throws: LabError.self) { _ = try await rig.open(deadline: .seconds(5)) }
        #expect(error?.code == .security)
        #expect(error?.message.contains(oldFP) == true)
        #expect(error?.message.contains(newFP) == true)
        #expect(error?.message.contains("node-a") == true)
        #expect(error?.hint?.contains("labctl ssh-config --forget node-a") == true)

        // labctl re-created the VM: replace the pin deliberately.
        let fp = try await rig.connector.replacePin(for: rig.endpoint, deadline: .seconds(5))
        #expect(fp == newFP)
        let again = try await rig.open()
        #expect(try await again.run(Command(["true"])).succeeded)
        await again.close()
    }

    @Test func wrongKeyAndRSAKeyAreRefusedClearly() async throws {
        let rig = try SSHRig()
        let otherPaths = LabPaths(root: rig.paths.root + "-other")
        let other = try SSHKeys.ensureLabKey(paths: otherPaths)
        var opts = rig.options
        opts.privateKey = other
        let wrong = await #expect(throws: LabError.self) {
            _ = try await SSHConnector(options: opts).open(rig.endpoint, deadline: .seconds(5))
        }
        #expect(wrong?.code == .security)
        #expect(wrong?.message.contains("refused the lab's SSH key") == true)

        let rsa = otherPaths.root + "/id_rsa"
        let gen = Process()
        gen.executableURL = URL(fileURLWithPath: "/usr/bin/ssh-keygen")
        gen.arguments = ["-q", "-t", "rsa", "-b", "2048", "-N", "", "-f", rsa]
        try gen.run()
        gen.waitUntilExit()
        opts.privateKey = rsa
        let rsaError = await #expect(throws: LabError.self) {
            _ = try await SSHConnector(options: opts).open(rig.endpoint, deadline: .seconds(5))
        }
        #expect(rsaError?.code == .security)
        #expect(rsaError?.message.contains("RSA") == true)
        #expect(rsaError?.hint?.contains("ed25519") == true)
        // Also without the .pub next to it (PEM or OpenSSH format is read directly).
        try FileManager.default.removeItem(atPath: rsa + ".pub")
        #expect(SSHKeys.keyType(rsa) == "ssh-rsa")
        #expect(throws: LabError.self) { try SSHKeys.ensureLabKey(paths: otherPaths, configured: rsa) }
        try? FileManager.default.removeItem(atPath: (otherPaths.root as NSString).deletingLastPathComponent + "/.labctl-other")
    }

    @Test func labKeyIsCreatedOnceWithTightModes() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("labctl-key-\(UUID().uuidString.prefix(8))").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let paths = LabPaths(root: root)
        let key = try SSHKeys.ensureLabKey(paths: paths)
        let mode = try FileManager.default.attributesOfItem(atPath: key)[.posixPermissions] as? Int
        let pubMode = try FileManager.default.attributesOfItem(atPath: key + ".pub")[.posixPermissions] as? Int
        #expect(mode == 0o600)
        #expect(pubMode == 0o644)
        #expect(SSHKeys.keyType(key) == "ssh-ed25519")
        let before = try Data(contentsOf: URL(fileURLWithPath: key))
        _ = try SSHKeys.ensureLabKey(paths: paths)
        #expect(try Data(contentsOf: URL(fileURLWithPath: key)) == before)
    }

    @Test func droppedConnectionIsAConnectionErrorAndTheSessionReconnects() async throws {
        let rig = try SSHRig()
        let s = try await rig.open()
        let started = ContinuousClock.now
        async let killer: Void = {
            try? await Task.sleep(for: .milliseconds(500))
            rig.server.killConnections()
        }()
        let error = await #expect(throws: LabError.self) { _ = try await s.run(Command(["sleep", "30"], deadline: .seconds(10))) }
        await killer
        #expect(error?.code == .connection)
        #expect(ContinuousClock.now - started < .seconds(10))
        // The next command reconnects by itself.
        #expect(try await s.run(Command(["echo", "back"])).stdoutText == "back\n")

        // sshd restarted: a reconnect works.
        try rig.server.restart()
        _ = try? await s.run(Command(["true"]))   // may fail: the old connection is gone
        try await s.reconnect(deadline: .seconds(10))
        #expect(try await s.run(Command(["echo", "again"])).stdoutText == "again\n")
        await s.close()
    }

    @Test func silentPeerIsDetectedByKeepalives() async throws {
        let rig = try SSHRig()   // keepalive every 2 s: silent for 3 intervals (+2 s) means dead
        let s = try await rig.open()
        let started = ContinuousClock.now
        async let freezer: Void = {
            try? await Task.sleep(for: .milliseconds(500))
            rig.server.freezeConnections()
        }()
        let error = await #expect(throws: LabError.self) { _ = try await s.run(Command(["sleep", "60"], deadline: .seconds(30))) }
        await freezer
        #expect(error?.code == .connection)
        #expect(error?.causeText?.contains("keepalive") == true)
        #expect(ContinuousClock.now - started < .seconds(15))
        rig.server.stop()
    }

    @Test func bootingNodeIsRetriedUntilItsSSHDAppears() async throws {
        let rig = try SSHRig()
        rig.server.stop()
        async let starter: Void = {
            try? await Task.sleep(for: .milliseconds(1500))
            try? rig.server.start()
        }()
        let s = try await rig.open(deadline: .seconds(15))
        await starter
        #expect(try await s.run(Command(["true"])).succeeded)
        await s.close()
        rig.server.stop()
        let error = await #expect(throws: LabError.self) { _ = try await rig.open(deadline: .seconds(2)) }
        #expect(error?.code == .connection)
        #expect(error?.causeText?.contains("refused") == true)
    }

    @Test func commandThatOutlivesItsDeadlineTimesOut() async throws {
        let rig = try SSHRig()
        let s = try await rig.open()
        let started = ContinuousClock.now
        let error = await #expect(throws: LabError.self) { _ = try await s.run(Command(["sleep", "30"], deadline: .seconds(1))) }
        #expect(error?.code == .timeout)
        #expect(error?.message.contains("sleep 30") == true)
        #expect(error?.message.contains("node-a") == true)
        #expect(ContinuousClock.now - started < .seconds(5))
        #expect(try await s.run(Command(["echo", "ok"])).stdoutText == "ok\n")
        await s.close()
    }

    @Test func sixteenParallelSessionsOfSleepOneFinishInAboutOneSecond() async throws {
        let rig = try SSHRig()
        var sessions: [SSHSession] = []
        for _ in 0..<16 { sessions.append(try await rig.open()) }
        let started = ContinuousClock.now
        try await withThrowingTaskGroup(of: Int32.self) { group in
            for s in sessions { group.addTask { try await s.run(Command(["sleep", "1"])).exitStatus } }
            for try await status in group { #expect(status == 0) }
        }
        let elapsed = ContinuousClock.now - started
        #expect(elapsed < .seconds(3), "16 × sleep 1 took \(elapsed)")
        for s in sessions { await s.close() }
    }

    @Test func secretsAreRedactedFromTheNodeLog() async throws {
        let rig = try SSHRig()
        let s = try await rig.open()
        let token = "abcdef.0123456789abcdef"
        let r = try await s.run(Command(["echo", "join --token \(token)"], secrets: [token]))
        #expect(r.stdoutText.contains(token))   // the caller gets the real output
        let scripted = try await s.run(.script("echo \(token) >&2; exit 4", secrets: [token]))
        #expect(scripted.exitStatus == 4)
        await s.close()
        let log = try String(contentsOfFile: rig.paths.log(node: "node-a"), encoding: .utf8)
        #expect(!log.contains(token))
        #expect(log.contains("<redacted>"))
        #expect(log.contains("exit 4"))
    }

    @Test func systemSSHAcceptsThePinsLabctlRecorded() async throws {
        let rig = try SSHRig()
        let s = try await rig.open()   // trust on first use records the pin
        await s.close()
        let argv = OpenSSH.sshArguments(ssh: "/usr/bin/ssh", endpoint: rig.endpoint, privateKey: rig.key,
                                        knownHosts: rig.paths.knownHosts, command: ["echo", "a b"])
        #expect(argv.contains("StrictHostKeyChecking=yes"))
        let p = Process()
        p.executableURL = URL(fileURLWithPath: argv[0])
        p.arguments = Array(argv.dropFirst()) + []
        p.arguments?.insert(contentsOf: ["-o", "BatchMode=yes"], at: 0)
        let out = Pipe()
        p.standardOutput = out
        p.standardInput = FileHandle.nullDevice
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        #expect(p.terminationStatus == 0)
        #expect(String(decoding: data, as: UTF8.self) == "a b\n")
    }

    @Test func passwordBootstrapInstallsTheKeyAndNeverLogsThePassword() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("labctl-boot-\(UUID().uuidString.prefix(8))").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let paths = LabPaths(root: root + "/.labctl")
        let key = try SSHKeys.ensureLabKey(paths: paths)
        let server = try LocalSSHServer(host: "127.0.0.\(Int.random(in: 2...250))", authorizedKeys: [], passwordAuthentication: true)
        let password = "Boot-\(UUID().uuidString.prefix(12))"
        try LocalSSHServer.setPassword(password)
        let home = try #require(FileManager.default.homeDirectory(forUser: LocalSSHServer.testUser)?.path)
        defer {
            try? LocalSSHServer.setPassword(nil)
            try? FileManager.default.removeItem(atPath: home + "/.ssh/authorized_keys")
            server.stop()
        }
        try server.start()
        let options = SSHOptions(privateKey: key, knownHosts: paths.knownHosts, logDirectory: paths.logs)
        let endpoint = GuestEndpoint(node: "base", host: server.host, port: server.port, user: server.user)
        // Key auth fails before the bootstrap.
        await #expect(throws: LabError.self) { _ = try await SSHConnector(options: options).open(endpoint, deadline: .seconds(5)) }
        let wrong = await #expect(throws: LabError.self) {
            try await SSHSession.bootstrapWithPassword(endpoint, password: "not-" + password, options: options, deadline: .seconds(5))
        }
        #expect(wrong?.code == .security)
        try await SSHSession.bootstrapWithPassword(endpoint, password: password, options: options, deadline: .seconds(10))
        // Twice is harmless: the key is installed once.
        try await SSHSession.bootstrapWithPassword(endpoint, password: password, options: options, deadline: .seconds(10))
        let s = try await SSHConnector(options: options).open(endpoint, deadline: .seconds(5))
        let r = try await s.run(Command(["grep", "-c", "labctl", ".ssh/authorized_keys"]))
        #expect(r.stdoutText == "1\n")
        await s.close()
        let log = (try? String(contentsOfFile: paths.log(node: "base"), encoding: .utf8)) ?? ""
        #expect(!log.contains(password))
        #expect("\(wrong.map { String(describing: $0) } ?? "")".contains(password) == false)
    }

    @Test func sudoWithoutNopasswdSaysSo() async throws {
        // sudo must exist on the "guest" (here: this machine) for this check.
        try #require(FileManager.default.isExecutableFile(atPath: "/usr/bin/sudo"), "sudo is not installed (scripts/install-deps test)")
        let rig = try SSHRig()
        let s = try await rig.open()
        let error = await #expect(throws: LabError.self) { _ = try await s.run(Command(["true"], sudo: true)) }
        #expect(error?.message.contains("NOPASSWD") == true)
        #expect(error?.hint?.contains("/etc/sudoers.d/") == true)
        await s.close()
    }
}

func shaHex(_ data: Data) -> String? {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/sha256sum")
    let i = Pipe(), o = Pipe()
    p.standardInput = i
    p.standardOutput = o
    guard (try? p.run()) != nil else { return nil }
    i.fileHandleForWriting.write(data)
    try? i.fileHandleForWriting.close()
    let out = o.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return String(decoding: out, as: UTF8.self).split(separator: " ").first.map(String.init)
}
