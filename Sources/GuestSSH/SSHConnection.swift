import CLibSSH2
import Foundation
import LabKit
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// How a connection authenticates.
enum SSHAuth {
    case key(path: String)
    /// One-time bootstrap only; the password is never stored, logged or put in an error.
    case password(String)
}

/// One libssh2 session over one TCP socket.
///
/// Not thread-safe: `SSHSession` confines it to its serial queue. Everything runs in
/// libssh2's non-blocking mode; each call that says EAGAIN is retried after `poll` in the
/// directions libssh2 reports (docs/ssh.md, "How the client is built"), so every step obeys a deadline and
/// stdout and stderr drain alternately (a blocking read of one can deadlock on the other).
final class SSHConnection {
    let endpoint: GuestEndpoint
    private(set) var fd: Int32
    let session: OpaquePointer
    private var sftp: OpaquePointer?
    /// Set once the transport failed; the owner reconnects instead of reusing it.
    private(set) var broken = false
    private var closed = false
    let keepaliveInterval: Int
    /// Last time the socket had something to read: keepalive replies count, so silence for
    /// several intervals means the peer is gone (for example after `netplan apply`).
    private var lastInbound = ContinuousClock.now
    /// The host key the server presented, and its fingerprint.
    private(set) var hostKeyFingerprint = ""

    private init(endpoint: GuestEndpoint, fd: Int32, session: OpaquePointer, keepaliveInterval: Int) {
        self.endpoint = endpoint
        self.fd = fd
        self.session = session
        self.keepaliveInterval = keepaliveInterval
    }

    deinit { shutdown() }

    /// `node c1-worker1: lab@[10.0.0.5]:22`.
    var location: Location { .node(endpoint.node, path: "\(endpoint.user)@\(KnownHosts.hostPattern(host: endpoint.host, port: endpoint.port))") }

    // MARK: Connect

    static func open(_ endpoint: GuestEndpoint, auth: SSHAuth, knownHosts: KnownHosts, trustOnFirstUse: Bool,
                     keepaliveInterval: Int, deadline: Deadline) throws -> SSHConnection {
        _ = LibSSH2Global.initialized
        let fd = try TCPSocket.connect(host: endpoint.host, port: endpoint.port, deadline: deadline)
        guard let session = cssh2_session_init() else {
            _ = closeFD(fd)
            throw LabError(.internalError, "libssh2 could not create a session")
        }
        let c = SSHConnection(endpoint: endpoint, fd: fd, session: session, keepaliveInterval: keepaliveInterval)
        libssh2_session_set_blocking(session, 0)
        // libssh2 1.10 prefers ECDSA host keys; OpenSSH clients prefer ed25519. Prefer the type
        // already pinned for this host, then ed25519, or pins would not match (docs/ssh.md, "How the client is built").
        let pinnedTypes = knownHosts.pins(host: endpoint.host, port: endpoint.port).map(\.keyType)
        var prefs: [String] = []
        for t in pinnedTypes + ["ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521"]
        where SSHKeys.usableTypes.contains(t) && !prefs.contains(t) { prefs.append(t) }
        _ = libssh2_session_method_pref(session, LIBSSH2_METHOD_HOSTKEY, prefs.joined(separator: ","))

        try c.retry(deadline, "SSH handshake") { libssh2_session_handshake(session, libssh2_socket_t(fd)) }
        try c.verifyHostKey(knownHosts: knownHosts, trustOnFirstUse: trustOnFirstUse)
        try c.authenticate(auth, deadline: deadline)
        // Keepalives make a silent peer visible: the server answers each one.
        libssh2_keepalive_config(session, 1, UInt32(max(1, keepaliveInterval)))
        return c
    }

    private func verifyHostKey(knownHosts: KnownHosts, trustOnFirstUse: Bool) throws {
        var len = 0
        var type: Int32 = 0
        guard let raw = libssh2_session_hostkey(session, &len, &type) else {
            throw LabError(.security, "the server sent no host key", location: location)
        }
        let key = Data(bytes: raw, count: len)
        var reader = SSHWireReader(key)
        let keyType = reader.string().map { String(decoding: $0, as: UTF8.self) } ?? "unknown"
        hostKeyFingerprint = SHA256Digest.fingerprint(ofKeyBlob: key)
        switch knownHosts.check(host: endpoint.host, port: endpoint.port, keyType: keyType, key: key) {
        case .match:
            return
        case .notFound:
            guard trustOnFirstUse else {
                throw LabError(.security, "the host key of \(endpoint.node) is not pinned and trust on first use is off",
                               location: location, hint: "pin it by connecting once: labctl ssh \(endpoint.node) true (plan and status never record a key)",
                               detail: "offered \(keyType) \(hostKeyFingerprint)")
            }
            try knownHosts.add(host: endpoint.host, port: endpoint.port, keyType: keyType, key: key, node: endpoint.node)
        case .mismatch(let pinned):
            let old = pinned.map { "\($0.keyType) \($0.fingerprint)" }.joined(separator: ", ")
            throw LabError(
                .security,
                "the host key of node \(endpoint.node) changed: pinned \(old), offered \(keyType) \(hostKeyFingerprint); refusing to connect",
                location: .file(knownHosts.path),
                hint: "if you re-created the VM or regenerated its host keys, reset the pin with: labctl ssh-config --forget \(endpoint.node); "
                    + "otherwise someone may be impersonating the node")
        }
    }

    private func authenticate(_ auth: SSHAuth, deadline: Deadline) throws {
        let user = endpoint.user
        switch auth {
        case .key(let path):
            try SSHKeys.checkUsable(path)
            let rc = try retryRC(deadline, "public-key authentication") { cssh2_userauth_publickey_fromfile(session, user, path, nil) }
            guard rc == 0 else {
                throw LabError(.security, "the guest refused the lab's SSH key for user \(user)", location: location,
                               hint: "install \(path).pub in ~\(user)/.ssh/authorized_keys on the node (labctl does this when it prepares the base VM)",
                               detail: lastError(rc))
            }
        case .password(let password):
            let rc = try retryRC(deadline, "password authentication") { cssh2_userauth_password(session, user, password) }
            guard rc == 0 else {
                // The message comes from libssh2 and never contains the password.
                throw LabError(.security, "the guest refused the password for user \(user)", location: location,
                               hint: "check the base VM's admin password and that PasswordAuthentication is enabled for the bootstrap",
                               detail: lastError(rc))
            }
        }
    }

    // MARK: Non-blocking plumbing

    func lastError(_ rc: Int32? = nil) -> String {
        var msg: UnsafeMutablePointer<CChar>?
        var len: Int32 = 0
        let code = libssh2_session_last_error(session, &msg, &len, 0)
        let text = msg.map { String(cString: $0) } ?? "error"
        return "\(text) (libssh2 \(rc ?? code))"
    }

    /// Waits until the socket is ready in the directions libssh2 is blocked on (or at most 1 s,
    /// so keepalives and the deadline are checked).
    func waitSocket(_ deadline: Deadline, what: @autoclosure () -> String) throws {
        if deadline.expired { throw timeoutError(what(), deadline) }
        let dirs = libssh2_session_block_directions(session)
        var events: Int16 = 0
        if dirs & LIBSSH2_SESSION_BLOCK_INBOUND != 0 { events |= Int16(POLLIN) }
        if dirs & LIBSSH2_SESSION_BLOCK_OUTBOUND != 0 { events |= Int16(POLLOUT) }
        if events == 0 { events = Int16(POLLIN) }
        var pfd = pollfd(fd: fd, events: events, revents: 0)
        let n = poll(&pfd, 1, deadline.remainingMilliseconds(cap: 1000))
        if n > 0 && pfd.revents & Int16(POLLIN) != 0 { lastInbound = ContinuousClock.now }
        if n > 0 && pfd.revents & Int16(POLLERR | POLLHUP | POLLNVAL) != 0 && pfd.revents & Int16(POLLIN) == 0 {
            markBroken()
            throw LabError(.connection, "the connection to node \(endpoint.node) dropped during \(what())", location: location,
                           hint: "the node may have rebooted or changed its address; reconnect", detail: "socket error")
        }
        try keepalive(what: what())
    }

    private func keepalive(what: @autoclosure () -> String) throws {
        var next: Int32 = 0
        let rc = libssh2_keepalive_send(session, &next)
        if rc != 0 && rc != LIBSSH2_ERROR_EAGAIN { throw connectionError(rc, what()) }
        let silent = ContinuousClock.now - lastInbound
        if silent > .seconds(3 * keepaliveInterval + 2) {
            markBroken()
            throw LabError(.connection, "node \(endpoint.node) stopped answering during \(what())", location: location,
                           hint: "the node may be down or have a new address; reconnect",
                           detail: "no reply to keepalives for \(formatDuration(silent))")
        }
    }

    func markBroken() { broken = true }

    func timeoutError(_ what: String, _ deadline: Deadline) -> LabError {
        LabError(.timeout, "\(what) on node \(endpoint.node) did not finish within \(formatDuration(deadline.budget))", location: location)
    }

    func connectionError(_ rc: Int32, _ what: String) -> LabError {
        markBroken()
        return LabError(.connection, "the connection to node \(endpoint.node) failed during \(what)", location: location,
                        hint: "the node may have rebooted, stopped sshd or changed its address; labctl reconnects on the next command",
                        detail: lastError(rc))
    }

    /// Retries an int-returning libssh2 call while it says EAGAIN; returns its final code.
    func retryRC(_ deadline: Deadline, _ what: String, _ call: () -> Int32) throws -> Int32 {
        while true {
            let rc = call()
            if rc != LIBSSH2_ERROR_EAGAIN { return rc }
            try waitSocket(deadline, what: what)
        }
    }

    /// Like `retryRC`, but any failure is a connection error.
    func retry(_ deadline: Deadline, _ what: String, _ call: () -> Int32) throws {
        let rc = try retryRC(deadline, what, call)
        if rc < 0 { throw connectionError(rc, what) }
    }

    /// Retries a pointer-returning call (nil + EAGAIN means "again").
    func retryPointer(_ deadline: Deadline, _ what: String, path: String? = nil, _ call: () -> OpaquePointer?) throws -> OpaquePointer {
        while true {
            if let p = call() { return p }
            let code = libssh2_session_last_errno(session)
            // An SFTP status (no such file, permission denied) leaves the transport intact.
            if code == LIBSSH2_ERROR_SFTP_PROTOCOL, let path { throw sftpError(code, what, path: path) }
            if code != LIBSSH2_ERROR_EAGAIN { throw connectionError(code, what) }
            try waitSocket(deadline, what: what)
        }
    }

    // MARK: Exec

    struct ExecOutcome {
        var status: Int32
        var signal: String?
        var stdout: Data
        var stderr: Data
    }

    /// Runs `commandLine` on a new channel. `onOutput(isStderr, bytes)` sees output live.
    func exec(_ commandLine: String, display: String, stdin: Data?, deadline: Deadline,
              onOutput: (Bool, Data) -> Void) throws -> ExecOutcome {
        let what = "`\(display)`"
        let channel = try retryPointer(deadline, "opening a channel for \(what)") { cssh2_channel_open_session(session) }
        var freed = false
        defer {
            if !freed { abandon(channel) }
        }
        try retry(deadline, "starting \(what)") { cssh2_channel_exec(channel, commandLine) }

        var out = Data(), err = Data()
        let input = stdin ?? Data()
        var written = 0
        var eofSent = false
        var buffer = [CChar](repeating: 0, count: 64 * 1024)
        while true {
            var progressed = false
            // Feed stdin while reading, so a command that writes before it has read all input cannot deadlock.
            if written < input.count {
                let n = input.withUnsafeBytes { raw -> Int32 in
                    let base = raw.baseAddress.map { $0.assumingMemoryBound(to: CChar.self) + written }
                    return cssh2_channel_write(channel, base, min(input.count - written, 256 * 1024))
                }
                if n > 0 { written += Int(n); progressed = true }
                else if n != LIBSSH2_ERROR_EAGAIN && n < 0 {
                    // The command exited without reading all its input: not a transport failure.
                    if libssh2_channel_eof(channel) != 0 || n == LIBSSH2_ERROR_CHANNEL_EOF_SENT || n == LIBSSH2_ERROR_CHANNEL_CLOSED {
                        written = input.count
                    } else {
                        throw connectionError(n, what)
                    }
                }
            }
            if written >= input.count && !eofSent {
                let rc = cssh2_channel_send_eof(channel)
                if rc == 0 { eofSent = true; progressed = true }
                else if rc != LIBSSH2_ERROR_EAGAIN { eofSent = true }   // channel already closed by the peer
            }
            for isStderr in [false, true] {
                while true {
                    let n = buffer.withUnsafeMutableBufferPointer { b in
                        isStderr ? cssh2_channel_read_stderr(channel, b.baseAddress, b.count)
                                 : cssh2_channel_read(channel, b.baseAddress, b.count)
                    }
                    if n == Int(LIBSSH2_ERROR_EAGAIN) || n == 0 { break }
                    if n < 0 { throw connectionError(Int32(n), what) }
                    let bytes = buffer.withUnsafeBufferPointer { Data(buffer: UnsafeBufferPointer(start: $0.baseAddress, count: n)) }
                    if isStderr { err.append(bytes) } else { out.append(bytes) }
                    onOutput(isStderr, bytes)
                    lastInbound = ContinuousClock.now
                    progressed = true
                }
            }
            // eof is reported only once the queued data has been read.
            if libssh2_channel_eof(channel) != 0 { break }
            if !progressed { try waitSocket(deadline, what: what) }
        }
        try retry(deadline, "closing the channel of \(what)") { libssh2_channel_close(channel) }
        try retry(deadline, "closing the channel of \(what)") { libssh2_channel_wait_closed(channel) }
        let status = libssh2_channel_get_exit_status(channel)
        var sig: UnsafeMutablePointer<CChar>?
        var sigLen = 0
        _ = libssh2_channel_get_exit_signal(channel, &sig, &sigLen, nil, nil, nil, nil)
        var signal: String?
        if let sig {
            signal = String(cString: sig)
            libssh2_free(session, sig)
        }
        freed = true
        _ = try retryRC(deadline, "freeing the channel") { libssh2_channel_free(channel) }
        return ExecOutcome(status: status, signal: signal, stdout: out, stderr: err)
    }

    /// Closes a channel whose command failed or timed out. The remote command loses its
    /// pipes; if the channel cannot be closed within 2 s the whole connection is retired.
    private func abandon(_ channel: OpaquePointer) {
        guard !broken else { return }
        let grace = Deadline(.seconds(2))
        do {
            _ = try retryRC(grace, "closing a channel") { libssh2_channel_close(channel) }
            _ = try retryRC(grace, "freeing a channel") { libssh2_channel_free(channel) }
        } catch {
            markBroken()
        }
    }

    // MARK: SFTP

    func sftpSession(_ deadline: Deadline) throws -> OpaquePointer {
        if let sftp { return sftp }
        let s = try retryPointer(deadline, "starting SFTP") { libssh2_sftp_init(session) }
        sftp = s
        return s
    }

    func sftpError(_ rc: Int32, _ what: String, path: String) -> LabError {
        if rc == LIBSSH2_ERROR_SFTP_PROTOCOL, let sftp {
            let status = libssh2_sftp_last_error(sftp)
            let (code, text): (LabError.Code, String) = switch status {
            case LIBSSH2_FX_NO_SUCH_FILE, LIBSSH2_FX_NO_SUCH_PATH: (.notFound, "no such file or directory")
            case LIBSSH2_FX_PERMISSION_DENIED: (.commandFailed, "permission denied")
            case LIBSSH2_FX_NO_SPACE_ON_FILESYSTEM, LIBSSH2_FX_QUOTA_EXCEEDED: (.commandFailed, "no space left")
            case LIBSSH2_FX_FILE_ALREADY_EXISTS: (.conflict, "file exists")
            default: (.commandFailed, "SFTP status \(status)")
            }
            return LabError(code, "\(what) failed on node \(endpoint.node): \(text)", location: .node(endpoint.node, path: path))
        }
        return connectionError(rc, what)
    }

    // MARK: Close

    func shutdown() {
        guard !closed else { return }
        closed = true
        if !broken {
            let grace = Deadline(.milliseconds(500))
            if let sftp { _ = try? retryRC(grace, "closing SFTP") { libssh2_sftp_shutdown(sftp) } }
            _ = try? retryRC(grace, "disconnecting") { cssh2_session_disconnect(session, "labctl done") }
        }
        sftp = nil
        libssh2_session_free(session)
        _ = closeFD(fd)
        fd = -1
    }
}
