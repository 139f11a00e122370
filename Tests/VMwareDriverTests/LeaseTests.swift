import Foundation
import Testing
import LabKit
@testable import VMwareDriver

@Suite("DHCP leases")
struct LeaseTests {
    let now = utc("2030/05/14 12:10:00")

    func mac(_ s: String) throws -> MACAddress { try #require(MACAddress(s)) }

    @Test func iscNewestActiveLeaseWins() throws {
        let file = try LeaseFile.load(path: try fixture("dhcpd.leases"))
        #expect(file.lookup(try mac("00:50:56:3a:00:01"), at: now) == .found(try #require(file.leases.first { $0.address == IPv4Address("10.213.64.132") })))
    }

    @Test func iscConflictingLeasesAreReported() throws {
        let file = try LeaseFile.load(path: try fixture("dhcpd.leases"))
        guard case .conflict(let leases) = file.lookup(try mac("00:50:56:3a:00:02"), at: now) else {
            Issue.record("expected a conflict")
            return
        }
        #expect(Set(leases.map(\.address.description)) == ["10.213.64.140", "10.213.64.141"])
    }

    @Test func iscExpiredLeasesAreNotAnAnswer() throws {
        let file = try LeaseFile.load(path: try fixture("dhcpd.leases"))
        guard case .expired(let lease) = file.lookup(try mac("00:50:56:3a:00:03"), at: now) else {
            Issue.record("expected expired")
            return
        }
        #expect(lease.address == IPv4Address("10.213.64.150"))
        #expect(file.lookup(try mac("00:50:56:3a:00:09"), at: now) == .none)
    }

    @Test func iscGarbageLinesAreReportedWithFileAndLine() throws {
        let path = try fixture("dhcpd.leases")
        let file = try LeaseFile.load(path: path)
        let locations = file.problems.compactMap { $0.location?.description }
        #expect(locations.contains("\(path):40"))  // this line is garbage
        #expect(locations.contains("\(path):41"))  // lease not-an-ip {
        #expect(locations.contains("\(path):46"))  // ends sometime;
        #expect(locations.contains("\(path):48"))  // oops
        // The lease with unreadable lines is not used as an answer.
        #expect(file.lookup(try mac("00:50:56:3a:00:04"), at: now) == .none)
        #expect(file.problems.allSatisfy { $0.code == .invalidInput })
    }

    @Test func appleFormat() throws {
        let file = try LeaseFile.load(path: try fixture("apple.leases"))
        #expect(file.problems.isEmpty)
        #expect(file.leases.count == 3)
        // 0x7fd78ae2 is in 2037; 0x5fd78ae2 in 2020 (expired).
        guard case .found(let lease) = file.lookup(try mac("00:50:56:3a:00:01"), at: now) else {
            Issue.record("expected a lease")
            return
        }
        #expect(lease.address == IPv4Address("10.213.64.133"))
        #expect(lease.hostname == "k8s-a-cp")
    }

    @Test func truncatedLeaseIsReported() {
        let file = LeaseFile.parse("lease 10.213.64.9 {\n  starts 4 2030/05/14 12:00:00;\n  hardware ethernet 00:50:56:3a:00:07;\n", source: "x.leases")
        #expect(file.leases.isEmpty)
        #expect(file.problems.first?.location?.description == "x.leases:1")
    }

    @Test func missingFileIsNotFound() {
        let e = #expect(throws: LabError.self) { try LeaseFile.load(path: "/nonexistent/dhcpd.leases") }
        #expect(e?.code == .notFound)
        #expect(e?.location?.description == "/nonexistent/dhcpd.leases")
    }
}
