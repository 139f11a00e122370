import Foundation
import GuestSSH
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite struct TCPPortProbeTests {
    @Test("TCPPortProbe: an open loopback port answers, a closed one does not")
    func tcpProbe() async throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        #expect(listen(fd, 4) == 0)
        var bound = sockaddr_in()
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &bound) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        let port = Int(UInt16(bigEndian: bound.sin_port))
        #expect(await TCPPortProbe().isOpen(host: "127.0.0.1", port: port, timeout: .seconds(1)))
        close(fd)
        #expect(await TCPPortProbe().isOpen(host: "127.0.0.1", port: port, timeout: .seconds(1)) == false)
    }
}
