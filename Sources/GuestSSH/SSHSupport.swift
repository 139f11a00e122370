import CLibSSH2
import Foundation
import LabKit
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `libssh2_init` is not thread-safe: it runs exactly once, before any session exists
/// (docs/ssh.md, "How the client is built").
enum LibSSH2Global {
    static let initialized: Int32 = libssh2_init(0)
}

/// A point in time that every blocking step of a connection or a command respects.
package struct Deadline: Sendable {
    package let end: ContinuousClock.Instant
    package let budget: Duration

    package init(_ budget: Duration) {
        self.budget = budget
        end = ContinuousClock.now.advanced(by: budget)
    }

    var remaining: Duration { end - ContinuousClock.now }
    package var expired: Bool { ContinuousClock.now >= end }
    /// Milliseconds left, capped (poll's timeout), never negative.
    func remainingMilliseconds(cap: Int32 = 1000) -> Int32 {
        let ms = Self.milliseconds(remaining)
        return Int32(max(0, min(Int64(cap), ms)))
    }
    static func milliseconds(_ d: Duration) -> Int64 {
        d.components.seconds * 1000 + d.components.attoseconds / 1_000_000_000_000_000
    }
}

enum SHA256Digest {
    static func hash(_ data: Data) -> Data {
        var out = [UInt8](repeating: 0, count: 32)
        data.withUnsafeBytes { raw in
            _ = cssh2_sha256(raw.baseAddress, raw.count, &out)
        }
        return Data(out)
    }

    static func hex(_ data: Data) -> String {
        hash(data).map { String(format: "%02x", $0) }.joined()
    }

    /// `SHA256:<base64 without padding>`, the form `ssh-keygen -lf` and OpenSSH's messages print.
    static func fingerprint(ofKeyBlob blob: Data) -> String {
        "SHA256:" + hash(blob).base64EncodedString().replacingOccurrences(of: "=", with: "")
    }
}

/// Runs a host tool (ssh-keygen, sshd, useradd) without a shell.
///
/// GuestSSH keeps its own tiny runner so it does not depend on LabKit's host runner,
/// which lives in another branch; it is used only for short local tools.
package enum LocalProcess {
    package struct Output: Sendable {
        package var status: Int32
        package var stdout: String
        package var stderr: String
    }

    package static func run(_ executable: String, _ arguments: [String], stdin: Data? = nil) throws -> Output {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        let input = Pipe()
        process.standardInput = stdin == nil ? FileHandle.nullDevice : input
        do { try process.run() } catch {
            throw LabError(.notFound, "cannot run \(executable)", location: .file(([executable] + arguments).map(shellQuote).joined(separator: " ")),
                           hint: "install it (scripts/install-deps)", cause: error)
        }
        if let stdin {
            input.fileHandleForWriting.write(stdin)
            try? input.fileHandleForWriting.close()
        }
        // Read both pipes concurrently: a full stderr pipe would block the child otherwise.
        let errData = LockedBox(Data())
        let group = DispatchGroup()
        group.enter()
        DispatchQueue.global().async {
            errData.set(err.fileHandleForReading.readDataToEndOfFile())
            group.leave()
        }
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        group.wait()
        process.waitUntilExit()
        return Output(status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
                      stderr: String(decoding: errData.get(), as: UTF8.self))
    }

    /// The first executable named `name` on PATH (or in the usual sbin folders).
    package static func find(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for dir in path.split(separator: ":").map(String.init) + ["/usr/sbin", "/sbin", "/usr/local/sbin"] {
            let candidate = (dir as NSString).appendingPathComponent(name)
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }
}

/// A value behind a lock, for the few places where plain threads share state.
final class LockedBox<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: T
    init(_ value: T) { self.value = value }
    func get() -> T { lock.lock(); defer { lock.unlock() }; return value }
    func set(_ v: T) { lock.lock(); value = v; lock.unlock() }
    func withValue<R>(_ body: (inout T) throws -> R) rethrows -> R {
        lock.lock(); defer { lock.unlock() }
        return try body(&value)
    }
}

/// A non-blocking TCP connection with a deadline (connect(2) + poll for writability).
package enum TCPSocket {
    package static func connect(host: String, port: Int, deadline: Deadline) throws -> Int32 {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        #if canImport(Glibc)
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        #else
        hints.ai_socktype = SOCK_STREAM
        #endif
        var result: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host, String(port), &hints, &result)
        guard rc == 0, let first = result else {
            let why = String(cString: gai_strerror(rc))
            throw LabError(.connection, "cannot resolve \(host)", detail: why)
        }
        defer { freeaddrinfo(first) }
        let fd = socket(first.pointee.ai_family, first.pointee.ai_socktype, first.pointee.ai_protocol)
        guard fd >= 0 else { throw LabError(.connection, "cannot create a socket", cause: POSIXError.current()) }
        var ok = false
        defer { if !ok { _ = closeFD(fd) } }
        let flags = fcntl(fd, F_GETFL, 0)
        _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK)
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        // Small request/response packets: without TCP_NODELAY every command pays Nagle's delay.
        var one: Int32 = 1
        _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        #if canImport(Glibc)
        let c = Glibc.connect(fd, first.pointee.ai_addr, first.pointee.ai_addrlen)
        #else
        let c = Darwin.connect(fd, first.pointee.ai_addr, first.pointee.ai_addrlen)
        #endif
        if c != 0 {
            guard errno == EINPROGRESS else {
                throw LabError(.connection, "cannot connect to \(host):\(port)", cause: POSIXError.current())
            }
            while true {
                var pfd = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                let n = poll(&pfd, 1, deadline.remainingMilliseconds(cap: 500))
                if n > 0 { break }
                if n < 0 && errno != EINTR {
                    throw LabError(.connection, "cannot connect to \(host):\(port)", cause: POSIXError.current())
                }
                if deadline.expired {
                    throw LabError(.connection, "cannot connect to \(host):\(port)", detail: "TCP connect timed out")
                }
            }
            var soError: Int32 = 0
            var len = socklen_t(MemoryLayout<Int32>.size)
            _ = getsockopt(fd, SOL_SOCKET, SO_ERROR, &soError, &len)
            if soError != 0 {
                throw LabError(.connection, "cannot connect to \(host):\(port)", cause: POSIXError.current(soError))
            }
        }
        ok = true
        return fd
    }
}

@inline(__always) package func closeFD(_ fd: Int32) -> Int32 {
    #if canImport(Glibc)
    return Glibc.close(fd)
    #else
    return Darwin.close(fd)
    #endif
}
