import CLibSSH2
import Dispatch
import Foundation
import LabKit

/// Settings shared by every session of a lab.
public struct SSHOptions: Sendable, Hashable {
    /// The lab's private key (ed25519 or ecdsa).
    public var privateKey: String
    /// The lab's known_hosts.
    public var knownHosts: String
    /// Folder of the per-node logs (`<node>.log`); nil disables logging.
    public var logDirectory: String?
    /// Seconds between keepalives; a peer silent for three of them is reported dead.
    public var keepaliveInterval: Int
    /// Record an unknown host key on first contact.
    public var trustOnFirstUse: Bool
    /// Files at least this large are checked with sha256sum after an upload.
    public var checksumThreshold: Int

    public init(privateKey: String, knownHosts: String, logDirectory: String? = nil, keepaliveInterval: Int = 5,
                trustOnFirstUse: Bool = true, checksumThreshold: Int = 1 << 20) {
        self.privateKey = privateKey
        self.knownHosts = knownHosts
        self.logDirectory = logDirectory
        self.keepaliveInterval = keepaliveInterval
        self.trustOnFirstUse = trustOnFirstUse
        self.checksumThreshold = checksumThreshold
    }

    /// The lab's defaults: key (created on first use), known_hosts and logs in the state directory.
    public static func lab(_ paths: LabPaths, ssh: SSHSpec? = nil) throws -> SSHOptions {
        let key = try SSHKeys.ensureLabKey(paths: paths, configured: ssh?.privateKey)
        return SSHOptions(privateKey: key, knownHosts: paths.knownHosts, logDirectory: paths.logs)
    }
}

/// Opens `SSHSession`s, retrying nodes that are still booting until the deadline.
public struct SSHConnector: GuestConnector {
    public var options: SSHOptions

    public init(options: SSHOptions) { self.options = options }

    public func connect(_ endpoint: GuestEndpoint, deadline: Duration) async throws -> any GuestSession {
        try await open(endpoint, deadline: deadline)
    }

    /// Like `connect`, with the concrete type.
    public func open(_ endpoint: GuestEndpoint, deadline: Duration) async throws -> SSHSession {
        let session = SSHSession(endpoint: endpoint, options: options)
        try await session.reconnect(deadline: deadline)
        return session
    }

    public var knownHosts: KnownHosts { KnownHosts(path: options.knownHosts) }

    /// Removes the pin of a node, so the next connection records its key afresh.
    @discardableResult
    public func forget(_ endpoint: GuestEndpoint) throws -> Int {
        try knownHosts.remove(host: endpoint.host, port: endpoint.port)
    }

    /// For when labctl itself regenerated the node's host keys or re-created the VM:
    /// drops the old pin and records the key the node offers now. Returns its fingerprint.
    @discardableResult
    public func replacePin(for endpoint: GuestEndpoint, deadline: Duration) async throws -> String {
        try forget(endpoint)
        var opts = options
        opts.trustOnFirstUse = true
        let session = try await SSHConnector(options: opts).open(endpoint, deadline: deadline)
        let fp = await session.hostKeyFingerprint
        await session.close()
        return fp
    }
}

/// A session to one node: one SSH connection, one channel per command.
///
/// Every libssh2 call runs on this session's own serial queue, never on Swift's cooperative
/// pool: blocking there would stall every other task (docs/ssh.md, "How the client is built": 16 sessions of
/// `sleep 1` take 8 s instead of 1 s).
public final class SSHSession: GuestSession, HostKeyReporting, @unchecked Sendable {
    private let queue: DispatchQueue
    private let options: SSHOptions
    private let state: LockedBox<GuestEndpoint>
    /// Only touched on `queue`.
    private var connection: SSHConnection?
    private let log: NodeLog?

    public var endpoint: GuestEndpoint { state.get() }

    init(endpoint: GuestEndpoint, options: SSHOptions) {
        self.options = options
        state = LockedBox(endpoint)
        queue = DispatchQueue(label: "labctl.ssh.\(endpoint.node)")
        log = options.logDirectory.map { NodeLog(path: ($0 as NSString).appendingPathComponent("\(endpoint.node).log")) }
    }

    deinit { connection?.shutdown() }

    private func onQueue<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            queue.async { continuation.resume(with: Result { try body() }) }
        }
    }

    /// The SHA256 fingerprint of the host key of the current connection.
    public var hostKeyFingerprint: String {
        get async { (try? await onQueue { self.connection?.hostKeyFingerprint ?? "" }) ?? "" }
    }

    /// (Re)connects, optionally to a new address (after `netplan apply` moved the node).
    /// A node that refuses or does not answer yet is retried with backoff until `deadline`.
    public func reconnect(host: String? = nil, deadline: Duration) async throws {
        if let host { state.withValue { $0.host = host } }
        try await onQueue {
            self.connection?.shutdown()
            self.connection = nil
            self.connection = try self.connectWithRetry(auth: .key(path: self.options.privateKey), deadline: Deadline(deadline))
        }
    }

    private func connectWithRetry(auth: SSHAuth, deadline: Deadline) throws -> SSHConnection {
        let endpoint = self.endpoint
        let knownHosts = KnownHosts(path: options.knownHosts)
        var delay = 0.2
        var attempts = 0
        while true {
            attempts += 1
            do {
                let c = try SSHConnection.open(endpoint, auth: auth, knownHosts: knownHosts, trustOnFirstUse: options.trustOnFirstUse,
                                               keepaliveInterval: options.keepaliveInterval, deadline: deadline)
                log?.write("# connected to \(endpoint.user)@\(endpoint.host):\(endpoint.port), host key \(c.hostKeyFingerprint)\n")
                return c
            } catch let error as LabError where error.code == .connection || error.code == .timeout {
                // Refused, unreachable, reset during the handshake: the node is (re)booting. Retry.
                let left = deadline.remaining
                if left <= .zero || left < .milliseconds(Int64(delay * 1000)) {
                    throw LabError(.connection, "cannot reach node \(endpoint.node) at \(endpoint.host):\(endpoint.port) "
                                   + "within \(formatDuration(deadline.budget)) (\(attempts) attempts)",
                                   location: .node(endpoint.node),
                                   hint: "check that the VM is running, has address \(endpoint.host) and runs sshd",
                                   cause: error)
                }
                Thread.sleep(forTimeInterval: delay)
                delay = min(delay * 2, 5)
            }
        }
    }

    /// The connection, reconnecting first if the last one broke.
    private func live(_ deadline: Deadline) throws -> SSHConnection {
        if let c = connection, !c.broken { return c }
        connection?.shutdown()
        connection = nil
        let c = try connectWithRetry(auth: .key(path: options.privateKey), deadline: deadline)
        connection = c
        return c
    }

    // MARK: Commands

    /// The remote command line: argv quoted for the remote shell, behind `sudo -n` when asked.
    public static func commandLine(_ command: Command) -> String {
        let argv = command.arguments.map(shellQuote).joined(separator: " ")
        return command.sudo ? "sudo -n -- " + argv : argv
    }

    public func run(_ command: Command) async throws -> CommandResult {
        try await onQueue { try self.runOnQueue(command) }
    }

    private func runOnQueue(_ command: Command) throws -> CommandResult {
        let deadline = Deadline(command.deadline)
        let redactor = Redactor(command.secrets)
        let display = command.display
        let node = endpoint.node
        let started = ContinuousClock.now
        let stream = log?.stream(redactor: redactor)
        log?.write("$ \(command.sudo ? "sudo " : "")\(display)\(command.stdin.map { " <<stdin \($0.count) bytes" } ?? "")\n")
        try log?.reportFailure()
        let outcome: SSHConnection.ExecOutcome
        do {
            let c = try live(deadline)
            outcome = try c.exec(Self.commandLine(command), display: display, stdin: command.stdin, deadline: deadline) { isStderr, bytes in
                // A secret stdout (join command, admin.conf) is returned, never logged.
                if isStderr || !command.secretOutput { stream?.append(bytes, stderr: isStderr) }
            }
        } catch var error as LabError {
            stream?.flush()
            if error.code == .timeout {
                error = LabError(.timeout, "command `\(display)` on node \(node) did not finish within \(formatDuration(command.deadline))",
                                 location: .node(node), hint: "the channel was closed; raise the deadline or check the node")
            }
            error = error.redacted(redactor.redact)
            log?.write("# error: \(error.message)\n")
            throw error
        }
        stream?.flush()
        if command.secretOutput { log?.write("# stdout not logged: it is a secret (\(outcome.stdout.count) bytes)\n") }
        let duration = ContinuousClock.now - started
        log?.write("# exit \(outcome.status)\(outcome.signal.map { " signal \($0)" } ?? "") after \(formatDuration(duration))\n")
        if command.sudo, outcome.status == 1,
           String(decoding: outcome.stderr.suffix(4096), as: UTF8.self).contains("a password is required") {
            let user = endpoint.user
            throw LabError(
                .commandFailed, "sudo on node \(node) asks for a password: user \(user) has no NOPASSWD rule",
                location: .command(["sudo", "-n", "--"] + command.arguments.map(redactor.redact), node: node),
                hint: "labctl runs sudo non-interactively. On the node run: "
                    + "echo '\(user) ALL=(ALL) NOPASSWD:ALL' | sudo tee /etc/sudoers.d/90-labctl && sudo chmod 0440 /etc/sudoers.d/90-labctl",
                detail: "sudo: a password is required")
        }
        return CommandResult(exitStatus: outcome.status, exitSignal: outcome.signal, stdout: outcome.stdout,
                             stderr: outcome.stderr, duration: duration)
    }

    // MARK: Files

    public func upload(_ data: Data, to path: String, mode: Int32) async throws {
        try await onQueue { try self.uploadOnQueue(data, to: path, mode: mode) }
    }

    /// Deadline for file transfers: generous, but bounded (10 s plus 1 s per MiB).
    private func transferDeadline(_ bytes: Int) -> Deadline {
        Deadline(.seconds(10 + bytes / (1 << 20)))
    }

    private func uploadOnQueue(_ data: Data, to path: String, mode: Int32) throws {
        let deadline = transferDeadline(data.count)
        let c = try live(deadline)
        let sftp = try c.sftpSession(deadline)
        let suffix = String(UInt32.random(in: 0...UInt32.max), radix: 36)
        let tmp = "\(path).tmp-\(suffix)"
        log?.write("# upload \(data.count) bytes to \(path) (mode \(String(mode, radix: 8)))\n")
        try log?.reportFailure()
        let flags = UInt(LIBSSH2_FXF_WRITE | LIBSSH2_FXF_CREAT | LIBSSH2_FXF_TRUNC | LIBSSH2_FXF_EXCL)
        let handle = try c.retryPointer(deadline, "creating \(tmp)", path: tmp) { cssh2_sftp_open(sftp, tmp, flags, Int(mode)) }
        var open = true
        var done = false
        defer {
            if open { _ = try? c.retryRC(Deadline(.seconds(2)), "closing \(tmp)") { cssh2_sftp_close(handle) } }
            if !done && !c.broken { _ = try? c.retryRC(Deadline(.seconds(2)), "removing \(tmp)") { cssh2_sftp_unlink(sftp, tmp) } }
        }
        // Big writes let libssh2 pipeline many SFTP packets per round trip.
        let chunk = 1 << 20
        var offset = 0
        try data.withUnsafeBytes { raw in
            guard let base = raw.baseAddress?.assumingMemoryBound(to: CChar.self) else { return }
            while offset < raw.count {
                let n = libssh2_sftp_write(handle, base + offset, min(chunk, raw.count - offset))
                if n == Int(LIBSSH2_ERROR_EAGAIN) { try c.waitSocket(deadline, what: "uploading \(path)"); continue }
                if n < 0 { throw c.sftpError(Int32(n), "writing \(tmp)", path: tmp) }
                offset += n
            }
        }
        // The umask applied at open: set the mode explicitly.
        let rcMode = try c.retryRC(deadline, "chmod \(tmp)") { cssh2_sftp_fchmod(handle, UInt(mode)) }
        if rcMode < 0 { throw c.sftpError(rcMode, "setting the mode of \(tmp)", path: tmp) }
        // fsync@openssh.com: best effort, a server without the extension still gets the rename.
        _ = try c.retryRC(deadline, "fsync \(tmp)") { libssh2_sftp_fsync(handle) }
        open = false
        let rcClose = try c.retryRC(deadline, "closing \(tmp)") { cssh2_sftp_close(handle) }
        if rcClose < 0 { throw c.sftpError(rcClose, "closing \(tmp)", path: tmp) }

        if data.count >= options.checksumThreshold {
            let want = SHA256Digest.hex(data)
            let r = try c.exec("sha256sum -- \(shellQuote(tmp))", display: "sha256sum \(tmp)", stdin: nil, deadline: deadline) { _, _ in }
            let got = String(decoding: r.stdout, as: UTF8.self).split(separator: " ").first.map(String.init) ?? ""
            guard r.status == 0, got == want else {
                throw LabError(.commandFailed, "the upload of \(path) to node \(endpoint.node) arrived corrupted",
                               location: .node(endpoint.node, path: path), hint: "retry; check the node's disk",
                               detail: "sha256 local \(want), remote \(got.isEmpty ? String(decoding: r.stderr, as: UTF8.self) : got)")
            }
        }
        // SFTP v3 (OpenSSH) refuses to rename onto an existing file; libssh2 1.10 has no
        // posix-rename@openssh.com call, so fall back to mv -f, which is rename(2): atomic.
        let rcRename = try c.retryRC(deadline, "renaming \(tmp)") {
            cssh2_sftp_rename(sftp, tmp, path, Int(LIBSSH2_SFTP_RENAME_OVERWRITE | LIBSSH2_SFTP_RENAME_ATOMIC | LIBSSH2_SFTP_RENAME_NATIVE))
        }
        if rcRename == LIBSSH2_ERROR_SFTP_PROTOCOL {
            let r = try c.exec("mv -f -- \(shellQuote(tmp)) \(shellQuote(path))", display: "mv -f \(tmp) \(path)", stdin: nil, deadline: deadline) { _, _ in }
            if r.status != 0 {
                // No shell or no mv: remove, then rename (not atomic, but the content is complete).
                _ = try c.retryRC(deadline, "removing \(path)") { cssh2_sftp_unlink(sftp, path) }
                let rc = try c.retryRC(deadline, "renaming \(tmp)") { cssh2_sftp_rename(sftp, tmp, path, 0) }
                if rc < 0 { throw c.sftpError(rc, "renaming \(tmp) to \(path)", path: path) }
            }
        } else if rcRename < 0 {
            throw c.sftpError(rcRename, "renaming \(tmp) to \(path)", path: path)
        }
        done = true
    }

    public func download(_ path: String) async throws -> Data {
        try await onQueue { try self.downloadOnQueue(path) }
    }

    private func downloadOnQueue(_ path: String) throws -> Data {
        let deadline = Deadline(.seconds(300))
        let c = try live(deadline)
        let sftp = try c.sftpSession(deadline)
        let handle = try c.retryPointer(deadline, "opening \(path)", path: path) { cssh2_sftp_open(sftp, path, UInt(LIBSSH2_FXF_READ), 0) }
        defer { _ = try? c.retryRC(Deadline(.seconds(2)), "closing \(path)") { cssh2_sftp_close(handle) } }
        var result = Data()
        var buffer = [CChar](repeating: 0, count: 256 * 1024)
        while true {
            let n = buffer.withUnsafeMutableBufferPointer { libssh2_sftp_read(handle, $0.baseAddress, $0.count) }
            if n == Int(LIBSSH2_ERROR_EAGAIN) { try c.waitSocket(deadline, what: "downloading \(path)"); continue }
            if n < 0 { throw c.sftpError(Int32(n), "reading \(path)", path: path) }
            if n == 0 { break }
            buffer.withUnsafeBufferPointer { result.append(UnsafeBufferPointer(start: $0.baseAddress, count: n)) }
        }
        return result
    }

    public func close() async {
        _ = try? await onQueue {
            self.connection?.shutdown()
            self.connection = nil
        }
    }

    // MARK: Bootstrap

    /// Installs the lab's public key on a guest that accepts only a password (the base VM's
    /// first contact). The password is used for this one connection and never stored or logged.
    public static func bootstrapWithPassword(_ endpoint: GuestEndpoint, password: String, options: SSHOptions,
                                             deadline: Duration) async throws {
        let session = SSHSession(endpoint: endpoint, options: options)
        let publicKey = try SSHKeys.publicKeyLine(options.privateKey)
        try await session.onQueue {
            let d = Deadline(deadline)
            let redactor = Redactor([password])
            do {
                let c = try session.connectWithRetry(auth: .password(password), deadline: d)
                defer { c.shutdown() }
                let script = """
                    set -eu
                    umask 077
                    mkdir -p ~/.ssh
                    key=$(cat)
                    touch ~/.ssh/authorized_keys
                    grep -qxF "$key" ~/.ssh/authorized_keys || printf '%s\\n' "$key" >> ~/.ssh/authorized_keys
                    """
                let r = try c.exec("sh -c \(shellQuote(script))", display: "install the lab key in ~/.ssh/authorized_keys",
                                   stdin: Data((publicKey + "\n").utf8), deadline: d) { _, _ in }
                guard r.status == 0 else {
                    throw LabError(.commandFailed, "could not install the lab key on node \(endpoint.node)", location: .node(endpoint.node),
                                   detail: String(decoding: r.stderr, as: UTF8.self))
                }
            } catch var error as LabError {
                error = error.redacted(redactor.redact)
                throw error
            }
        }
    }
}

