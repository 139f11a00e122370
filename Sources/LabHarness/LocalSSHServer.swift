import Foundation
import GuestSSH
import LabKit
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A throwaway OpenSSH sshd on a loopback address, for GuestSSH's tests and `labctl-bench ssh`.
///
/// The rig of docs/ssh.md ("The test sshd"): its own config, host keys and authorized_keys in a temp
/// folder, `UsePAM no` and `StrictModes no`, run as root, logging in as a dedicated
/// unprivileged user with a stock `.bashrc` (root's runs pyenv, 40x slower per command).
public final class LocalSSHServer: @unchecked Sendable {
    public static let testUser = "labctl-test"

    public let directory: String
    public let host: String
    public let port: Int
    public let user: String
    /// A folder the test user owns, for uploads.
    public let dataDirectory: String
    private let sshd: String
    /// The listener's pid. Not a Foundation `Process`: sshd closes every inherited descriptor at
    /// start, which makes swift-corelibs-foundation believe it exited and block its process
    /// monitor thread in `wait4` for good (every later `Process` then hangs).
    private var pid: pid_t?

    /// Why a real sshd cannot run here, or nil when it can.
    public static var unavailableReason: String? {
        if getuid() != 0 { return "needs root: the rig creates the \(testUser) user and runs sshd (CI runs as root)" }
        if LocalProcess.find("sshd") == nil { return "sshd is not installed (apt-get install openssh-server; scripts/install-deps test)" }
        if LocalProcess.find("ssh-keygen") == nil { return "ssh-keygen is not installed (openssh-client)" }
        return nil
    }

    /// Creates the rig (not started). `host` must be a loopback address.
    /// `passwordAuthentication` also accepts passwords and `~/.ssh/authorized_keys` (for the bootstrap test).
    public init(host: String = "127.0.0.1", authorizedKeys: [String], passwordAuthentication: Bool = false) throws {
        guard host.hasPrefix("127.") else { throw LabError(.invalidInput, "the test sshd listens on loopback only, not \(host)") }
        if let why = Self.unavailableReason { throw LabError(.unsupported, why) }
        guard let sshd = LocalProcess.find("sshd") else { throw LabError(.notFound, "sshd not found") }
        self.sshd = sshd
        self.host = host
        self.user = Self.testUser
        try Self.ensureTestUser()
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("labctl-sshd-\(UUID().uuidString.prefix(8))").path
        directory = base
        dataDirectory = (base as NSString).appendingPathComponent("data")
        let fm = FileManager.default
        try fm.createDirectory(atPath: dataDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        try fm.setAttributes([.posixPermissions: 0o755], ofItemAtPath: base)
        _ = try LocalProcess.run("/bin/chown", ["\(Self.testUser):", dataDirectory])
        port = try Self.freePort(host: host)
        try regenerateHostKeys()
        try setAuthorizedKeys(authorizedKeys)
        let config = """
            Port \(port)
            ListenAddress \(host)
            HostKey \(base)/host_ed25519
            HostKey \(base)/host_ecdsa
            PidFile \(base)/sshd.pid
            AuthorizedKeysFile \(base)/authorized_keys\(passwordAuthentication ? " .ssh/authorized_keys" : "")
            PubkeyAuthentication yes
            PasswordAuthentication \(passwordAuthentication ? "yes" : "no")
            KbdInteractiveAuthentication no
            UsePAM no
            StrictModes no
            MaxSessions 64
            MaxStartups 100
            AllowUsers \(Self.testUser)
            Subsystem sftp internal-sftp

            """
        try config.write(toFile: "\(base)/sshd_config", atomically: true, encoding: .utf8)
    }

    deinit {
        stop()
        try? FileManager.default.removeItem(atPath: directory)
    }

    public var endpoint: GuestEndpoint { GuestEndpoint(node: "sshd-\(port)", host: host, port: port, user: user) }
    public var logFile: String { "\(directory)/sshd.log" }

    /// The host's ed25519 fingerprint, as `ssh-keygen -lf` prints it.
    public func hostKeyFingerprint() throws -> String {
        let out = try LocalProcess.run("/usr/bin/ssh-keygen", ["-l", "-E", "sha256", "-f", "\(directory)/host_ed25519.pub"])
        return out.stdout.split(separator: " ").dropFirst().first.map(String.init) ?? ""
    }

    public func setAuthorizedKeys(_ keys: [String]) throws {
        try (keys.joined(separator: "\n") + "\n").write(toFile: "\(directory)/authorized_keys", atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: "\(directory)/authorized_keys")
    }

    /// New host keys (what re-creating a VM looks like to a client).
    public func regenerateHostKeys() throws {
        for (type, file) in [("ed25519", "host_ed25519"), ("ecdsa", "host_ecdsa")] {
            let path = "\(directory)/\(file)"
            try? FileManager.default.removeItem(atPath: path)
            try? FileManager.default.removeItem(atPath: path + ".pub")
            let out = try LocalProcess.run("/usr/bin/ssh-keygen", ["-q", "-t", type, "-N", "", "-f", path])
            guard out.status == 0 else { throw LabError(.commandFailed, "ssh-keygen failed", detail: out.stderr) }
        }
    }

    public func start() throws {
        try FileManager.default.createDirectory(atPath: "/run/sshd", withIntermediateDirectories: true)
        let argv = [sshd, "-D", "-f", "\(directory)/sshd_config", "-E", logFile]
        var cArgs: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
        defer { for a in cArgs { free(a) } }
        var child: pid_t = 0
        let rc = posix_spawn(&child, sshd, nil, nil, &cArgs, environ)
        guard rc == 0 else { throw LabError(.commandFailed, "cannot start \(sshd)", cause: POSIXError.current(rc)) }
        pid = child
        // Ready when the port accepts connections.
        let deadline = Deadline(.seconds(10))
        while !deadline.expired {
            if let fd = try? TCPSocket.connect(host: host, port: port, deadline: Deadline(.milliseconds(200))) {
                _ = closeFD(fd)
                return
            }
            var status: Int32 = 0
            if waitpid(child, &status, WNOHANG) == child {
                pid = nil
                let log = (try? String(contentsOfFile: logFile, encoding: .utf8)) ?? ""
                throw LabError(.commandFailed, "the test sshd exited at start", detail: log)
            }
            Thread.sleep(forTimeInterval: 0.02)
        }
        throw LabError(.timeout, "the test sshd did not listen on \(host):\(port) within 10 s")
    }

    /// Kills the per-connection sshd processes: every open connection drops at once,
    /// like a guest that reboots or whose address moves. The listener stays up.
    public func killConnections() {
        guard let pid else { return }
        // The monitor ([priv]) forks the process that holds the socket after authentication:
        // kill every sshd in the subtree, but not the user's commands, or their exit would
        // reach the client as a normal end of the command before the connection drops.
        let sshds = Self.descendants(of: pid).filter {
            (try? String(contentsOfFile: "/proc/\($0)/comm", encoding: .utf8))?.hasPrefix("sshd") == true
        }
        for child in sshds { kill(child, SIGKILL) }
    }

    /// Stops (SIGSTOP) the sshd processes of every open connection: the peer goes silent
    /// without closing the socket, like a guest whose address moved away.
    public func freezeConnections() {
        guard let pid else { return }
        for child in Self.descendants(of: pid) where
            (try? String(contentsOfFile: "/proc/\(child)/comm", encoding: .utf8))?.hasPrefix("sshd") == true {
            kill(child, SIGSTOP)
        }
    }

    /// Stops the listener and every connection.
    public func stop() {
        guard let pid else { return }
        let kids = Self.descendants(of: pid)
        kill(pid, SIGKILL)
        for child in kids { kill(child, SIGKILL) }
        var status: Int32 = 0
        _ = waitpid(pid, &status, 0)
        self.pid = nil
    }

    public func restart() throws {
        stop()
        try start()
    }

    static func descendants(of pid: Int32) -> [Int32] {
        var result: [Int32] = []
        var frontier = [pid]
        while let p = frontier.popLast() {
            let kids = children(of: p)
            result += kids
            frontier += kids
        }
        return result
    }

    /// Direct children of a process, from /proc (Linux).
    static func children(of pid: Int32) -> [Int32] {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return [] }
        var result: [Int32] = []
        for e in entries {
            guard let child = Int32(e), let stat = try? String(contentsOfFile: "/proc/\(e)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { continue }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            if fields.count > 2, Int32(fields[1]) == pid { result.append(child) }
        }
        return result
    }

    static func ensureTestUser() throws {
        if getpwnam(testUser) == nil {
            let out = try LocalProcess.run(LocalProcess.find("useradd") ?? "/usr/sbin/useradd", ["-m", "-s", "/bin/bash", testUser])
            // Another test may have created it in the meantime.
            if out.status != 0 && getpwnam(testUser) == nil {
                throw LabError(.commandFailed, "cannot create the test user \(testUser)", detail: out.stderr)
            }
        }
        // With UsePAM no, a locked password ("!") refuses even key logins: "*" means "no password".
        _ = try LocalProcess.run(LocalProcess.find("usermod") ?? "/usr/sbin/usermod", ["-p", "*", testUser])
    }

    /// Sets the test user's password (`*` again: `setPassword(nil)`), for the bootstrap test.
    public static func setPassword(_ password: String?) throws {
        if let password {
            let out = try LocalProcess.run(LocalProcess.find("chpasswd") ?? "/usr/sbin/chpasswd", [], stdin: Data("\(testUser):\(password)\n".utf8))
            guard out.status == 0 else { throw LabError(.commandFailed, "chpasswd failed", detail: out.stderr) }
        } else {
            _ = try LocalProcess.run(LocalProcess.find("usermod") ?? "/usr/sbin/usermod", ["-p", "*", testUser])
        }
    }

    /// A free TCP port on `host` (bind port 0, read it back, release it).
    static func freePort(host: String) throws -> Int {
        #if canImport(Glibc)
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
        let fd = socket(AF_INET, SOCK_STREAM, 0)
        #endif
        guard fd >= 0 else { throw LabError(.internalError, "socket() failed") }
        defer { _ = closeFD(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = 0
        inet_pton(AF_INET, host, &addr.sin_addr)
        let rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard rc == 0 else { throw LabError(.internalError, "cannot bind \(host):0", cause: POSIXError.current()) }
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        return Int(UInt16(bigEndian: addr.sin_port))
    }
}
