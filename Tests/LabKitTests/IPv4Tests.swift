import Testing
@testable import LabKit

@Suite struct IPv4Tests {
    @Test func parsesAndPrintsAddresses() throws {
        let a = try #require(IPv4Address("194.89.64.10"))
        #expect(a.description == "194.89.64.10")
        #expect(IPv4Address("194.89.64.256") == nil)
        #expect(IPv4Address("194.89.64") == nil)
        #expect(IPv4Address("01.2.3.4") == nil)
    }

    @Test func subnetArithmetic() throws {
        let n = try #require(IPv4Network("194.89.64.0/24"))
        #expect(n.broadcast.description == "194.89.64.255")
        #expect(n.netmask.description == "255.255.255.0")
        #expect(n.host(2).description == "194.89.64.2")
        #expect(n.contains(try #require(IPv4Address("194.89.64.200"))))
        #expect(!n.contains(try #require(IPv4Address("194.89.65.1"))))
        #expect(IPv4Network("194.89.64.1/24") == nil, "host bits set is not a network")
    }

    @Test func rangesAndMACs() throws {
        let r = try #require(IPv4Range("194.89.64.81-194.89.64.100"))
        #expect(r.contains(try #require(IPv4Address("194.89.64.90"))))
        #expect(!r.isReversed)
        #expect(try #require(IPv4Range("194.89.64.100-194.89.64.81")).isReversed)
        let m = try #require(MACAddress("00:50:56:3A:00:01"))
        #expect(m.description == "00:50:56:3a:00:01")
        #expect(m.isVMwareStatic)
        #expect(try #require(MACAddress("00:50:56:40:00:01")).isVMwareStatic == false)
    }
}
