import Foundation
import LabKit

/// `PortProbe` over a non-blocking TCP connect with a poll deadline.
public struct TCPPortProbe: PortProbe {
    public init() {}

    public func isOpen(host: String, port: Int, timeout: Duration) async -> Bool {
        await withCheckedContinuation { continuation in
            // A blocking connect+poll, off Swift's cooperative pool.
            DispatchQueue.global().async {
                continuation.resume(returning: Self.connectOnce(host: host, port: port, timeoutMs: Int32(timeout.components.seconds * 1000
                    + timeout.components.attoseconds / 1_000_000_000_000_000)))
            }
        }
    }

    private static func connectOnce(host: String, port: Int, timeoutMs: Int32) -> Bool {
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        guard inet_pton(AF_INET, host, &addr.sin_addr) == 1 else { return false }
        #if canImport(Glibc)
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
        let fd = socket(AF_INET, SOCK_STREAM, 0)
        #endif
        guard fd >= 0 else { return false }
        defer { close(fd) }
        let flags = fcntl(fd, F_GETFL, 0)
        _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK)
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        if rc == 0 { return true }
        guard errno == EINPROGRESS else { return false }
        var pfd = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
        guard poll(&pfd, 1, timeoutMs) == 1 else { return false }
        var err: Int32 = 0
        var len = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 else { return false }
        return err == 0
    }
}
