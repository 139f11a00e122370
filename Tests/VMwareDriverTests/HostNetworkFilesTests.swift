import Foundation
import LabKit
import Testing
@testable import VMwareDriver

/// Fixture files in VMware's generated layout, as Packer's builder/vmware/common/testdata and Vagrant's utility quote them.
func ip(_ s: String) throws -> IPv4Address { try #require(IPv4Address(s)) }
func mac(_ s: String) throws -> MACAddress { try #require(MACAddress(s)) }

/// The plan behind the quoted dhcpd.conf/nat.conf: 194.89.64.0/24 and one reservation.
func examplePlan(subnet: String = "194.89.64.0/24", reservations: [(String, String, String)] = [("k8s-a-cp", "00:50:56:3a:00:01", "194.89.64.11")]) throws -> HostNetworkPlan {
    let net = try #require(IPv4Network(subnet))
    return HostNetworkPlan(
        vmnet: "vmnet8", vnetNumber: 8, subnet: net, gateway: net.host(2), hostAddress: net.host(1),
        dhcp: IPv4Range(net.host(128), net.broadcast.advanced(by: -1)),
        reservations: try reservations.map { DHCPReservation(name: $0.0, mac: try mac($0.1), address: try ip($0.2)) })
}

func expectError(_ body: () throws -> Void, location: String, messageContains: String) {
    do {
        try body()
        Issue.record("expected an error at \(location)")
    } catch let e as LabError {
        #expect(e.location?.description == location)
        #expect(e.message.contains(messageContains), "message: \(e.message)")
        #expect(e.hint != nil)
    } catch {
        Issue.record("unexpected error \(error)")
    }
}

@Suite struct NetworkingFileTests {
    @Test func parsesPackersExample() throws {
        let f = try NetworkingFile.parse(try fixtureText("networking", in: "net"), file: "networking")
        #expect(f.answer("VNET_8_HOSTONLY_SUBNET") == "172.16.41.0")
        #expect(f.answer("VNET_8_DHCP_CFG_HASH") == "C30F14F65A0FE4B5DCC6C67497D7A8A33E5E538C")
        #expect(f.lines.contains(.command(name: "add_nat_portfwd", arguments: ["8", "tcp", "2222", "172.16.41.129", "22"])))
        #expect(f.reservations(vnet: 8).isEmpty)
    }

    @Test func parsesCRLFAndComments() throws {
        let f = try NetworkingFile.parse(try fixtureText("networking-crlf", in: "net"), file: "networking-crlf")
        #expect(f.answer("VNET_1_HOSTONLY_SUBNET") == "192.168.56.0")
        #expect(f.answer("VNET_8_NAT") == "yes")
        let r = f.reservations(vnet: 8)
        #expect(r.count == 1)
        #expect(r.first?.mac == (try mac("12:34:56:78:9a:ab")))
        #expect(r.first?.address == (try ip("172.16.41.3")))
    }

    @Test func corruptReservationNamesFileAndLine() throws {
        let text = try fixtureText("networking-corrupt", in: "net")
        expectError({ _ = try NetworkingFile.parse(text, file: "/etc/vmware/networking") },
                    location: "/etc/vmware/networking:4", messageContains: "add_dhcp_mac_to_ip needs <vnet> <MAC> <IPv4 address>")
    }

    @Test func unknownDirectiveNamesFileAndLine() throws {
        let text = try fixtureText("networking-unknown", in: "net")
        expectError({ _ = try NetworkingFile.parse(text, file: "networking") }, location: "networking:3", messageContains: "unknown directive \"<<<<<<<\"")
    }

    @Test func freshFileMatchesPackersLayout() throws {
        let plan = try examplePlan(subnet: "172.16.41.0/24", reservations: [])
        let rendered = try NetworkingFile.fresh(plan).render()
        // Packer's example minus the hash VMware computes and the port forward the lab does not need.
        let expected = try fixtureText("networking", in: "net").split(separator: "\n")
            .filter { !$0.contains("DHCP_CFG_HASH") && !$0.hasPrefix("add_nat_portfwd") }.joined(separator: "\n") + "\n"
        #expect(rendered == expected)
    }

    @Test func mergeKeepsOtherLinesAndReplacesTheLabsOwn() throws {
        let f = try NetworkingFile.parse(try fixtureText("networking-crlf", in: "net"), file: "networking-crlf")
        let plan = try examplePlan()
        let merged = f.merging(plan)
        let text = try merged.render()
        // The file's CRLF line breaks are kept, on its own lines and on the ones labctl adds.
        let lines = text.components(separatedBy: "\r\n")
        #expect(lines == [
            "VERSION=1,0",
            "# host-only network",
            "answer VNET_1_DHCP yes",
            "answer VNET_1_HOSTONLY_NETMASK 255.255.255.0",
            "answer VNET_1_HOSTONLY_SUBNET 192.168.56.0",
            "answer VNET_1_VIRTUAL_ADAPTER yes",
            "",
            "# NAT network",
            "answer VNET_8_DHCP yes",
            "answer VNET_8_DHCP_CFG_HASH C30F14F65A0FE4B5DCC6C67497D7A8A33E5E538C",
            "answer VNET_8_HOSTONLY_NETMASK 255.255.255.0",
            "answer VNET_8_HOSTONLY_SUBNET 194.89.64.0",
            "answer VNET_8_NAT yes",
            "answer VNET_8_VIRTUAL_ADAPTER yes",
            "add_nat_portfwd 8 tcp 2222 172.16.41.129 22",
            "add_dhcp_mac_to_ip 8 00:50:56:3A:00:01 194.89.64.11",
            "",
        ])
        // Missing answers are added in VMware's key order.
        let sparse = try NetworkingFile.parse("VERSION=1,0\nanswer VNET_8_HOSTONLY_SUBNET 172.16.41.0\n", file: "n").merging(plan)
        #expect(try sparse.render() == """
            VERSION=1,0
            answer VNET_8_DHCP yes
            answer VNET_8_HOSTONLY_NETMASK 255.255.255.0
            answer VNET_8_HOSTONLY_SUBNET 194.89.64.0
            answer VNET_8_NAT yes
            answer VNET_8_VIRTUAL_ADAPTER yes
            add_dhcp_mac_to_ip 8 00:50:56:3A:00:01 194.89.64.11

            """)
        // Merging again changes nothing.
        #expect(try NetworkingFile.parse(text, file: "x").merging(plan).render() == text)
    }
}

@Suite struct NATConfTests {
    @Test func parsesVagrantsFixtureWithComments() throws {
        let c = try NATConf.parse(try fixtureText("nat.conf", in: "net"), file: "nat.conf")
        #expect(c.gateway == (try ip("194.89.64.2")))
        #expect(c.value("host", "device") == "/dev/vmnet8")
        #expect(c.value("udp", "timeout") == "60")
        #expect(c.portForwards("incomingtcp") == [NATConf.PortForward(hostPort: "2222", target: "194.89.64.10:22")])
    }

    @Test func parsesCRLFAndPrefixedGateway() throws {
        let c = try NATConf.parse(try fixtureText("nat-crlf.conf", in: "net"), file: "nat-crlf.conf")
        #expect(c.gateway == (try ip("172.16.41.2")))
        #expect(c.value("host", "device") == "vmnet8")
        #expect(c.portForwards("incomingudp") == [NATConf.PortForward(hostPort: "5353", target: "172.16.41.129:53")])
    }

    @Test func corruptLineIsNamed() throws {
        let text = try fixtureText("nat-corrupt.conf", in: "net")
        expectError({ _ = try NATConf.parse(text, file: "nat.conf") }, location: "nat.conf:3", messageContains: "expected \"key = value\"")
    }

    @Test func renderMatchesTheQuotedLayoutAndKeepsPortForwards() throws {
        let current = try NATConf.parse(try fixtureText("nat.conf", in: "net"), file: "nat.conf")
        let rendered = try NATConf.render(try examplePlan(), os: .linux, keeping: current)
        // The quoted file, without explanatory end-of-line comments.
        let expected = try fixtureText("nat.conf", in: "net").split(separator: "\n").map { line -> String in
            guard let r = line.range(of: "  ") else { return String(line) }
            return String(line[..<r.lowerBound])
        }.joined(separator: "\n") + "\n"
        #expect(rendered == expected)
        #expect(try NATConf.render(try examplePlan(), os: .macos).contains("device = vmnet8\n"))
    }
}

@Suite struct DHCPDConfTests {
    @Test func parsesVMwaresGeneratedFile() throws {
        let c = try DHCPDConf.parse(try fixtureText("dhcpd.conf", in: "net"), file: "dhcpd.conf")
        #expect(c.subnet == (try ip("194.89.64.0")))
        #expect(c.netmask == (try ip("255.255.255.0")))
        #expect(c.range == IPv4Range(try ip("194.89.64.128"), try ip("194.89.64.254")))
        #expect(c.routers == "194.89.64.2")
        #expect(c.hasGeneratedSection)
        #expect(c.writtenAt == "09/28/2015 19:46:42")
        #expect(c.hosts.map(\.name) == ["vmnet8", "k8s-a-cp"])
        #expect(c.hosts.last?.mac == (try mac("00:50:56:3a:00:01")))
        #expect(c.hosts.last?.address == (try ip("194.89.64.11")))
        #expect(c.hosts.last?.line == 38)
    }

    @Test func crlfParsesTheSame() throws {
        #expect(try DHCPDConf.parse(try fixtureText("dhcpd-crlf.conf", in: "net"), file: "a") == DHCPDConf.parse(try fixtureText("dhcpd.conf", in: "net"), file: "a"))
    }

    @Test func unclosedBlockNamesItsLine() throws {
        let text = try fixtureText("dhcpd-corrupt.conf", in: "net")
        expectError({ _ = try DHCPDConf.parse(text, file: "dhcpd.conf") }, location: "dhcpd.conf:20", messageContains: "is never closed")
    }

    @Test func badMACNamesItsLine() throws {
        let text = try fixtureText("dhcpd-badmac.conf", in: "net")
        expectError({ _ = try DHCPDConf.parse(text, file: "dhcpd.conf") }, location: "dhcpd.conf:2", messageContains: "is not a MAC address")
    }

    @Test func strayBraceAndMissingSemicolon() {
        expectError({ _ = try DHCPDConf.parse("allow unknown-clients;\n}\n", file: "d") }, location: "d:2", messageContains: "without a matching")
        expectError({ _ = try DHCPDConf.parse("host a {\n\tfixed-address 10.213.0.3\n}\n", file: "d") }, location: "d:2", messageContains: "missing \";\"")
    }

    /// With the quoted file's values, the renderer writes the quoted file byte for byte.
    @Test func renderMatchesVMwaresLayoutExactly() throws {
        let date = try #require(ISO8601DateFormatter().date(from: "2015-09-28T19:46:42Z"))
        #expect(try DHCPDConf.render(try examplePlan(), writtenAt: date) == fixtureText("dhcpd.conf", in: "net"))
    }

    @Test func renderedReservationsParseBackAfterTheEndMarker() throws {
        let plan = try examplePlan(subnet: "10.213.7.0/24", reservations: [
            ("a", "00:50:56:00:00:01", "10.213.7.11"), ("b", "00:50:56:3f:ff:ff", "10.213.7.12"),
        ])
        let text = try DHCPDConf.render(plan, writtenAt: Date(timeIntervalSince1970: 0))
        let c = try DHCPDConf.parse(text, file: "x")
        #expect(c.range == IPv4Range(try ip("10.213.7.128"), try ip("10.213.7.254")))
        #expect(c.hosts.dropFirst().map(\.name) == ["a", "b"])
        #expect(c.hosts.dropFirst().compactMap(\.address) == [try ip("10.213.7.11"), try ip("10.213.7.12")])
        let end = try #require(text.range(of: DHCPDConf.endMarker))
        #expect(text[end.upperBound...].contains("host a {\n\thardware ethernet 00:50:56:00:00:01;\n\tfixed-address 10.213.7.11;\n}"))
    }
}

@Suite struct VnetlibAndDiffTests {
    @Test func windowsSequenceStopsUpdatesAndStarts() throws {
        let plan = try examplePlan()
        let steps = VnetlibScript(plan).steps.map { $0.arguments.joined(separator: " ") }
        #expect(steps.first == "stop dhcp")
        #expect(steps.contains("set vnet vmnet8 addr 194.89.64.0"))
        #expect(steps.contains("set dhcp vmnet8 addipmac 194.89.64.11 00:50:56:3A:00:01"))
        let update = try #require(steps.firstIndex(of: "update dhcp vmnet8"))
        let reserve = try #require(steps.firstIndex { $0.hasPrefix("set dhcp") })
        #expect(reserve < update)
        #expect(steps.last == "start nat")
        let text = try VnetlibScript(plan).render(plan)
        for line in text.split(separator: "\n") {
            #expect(line.hasPrefix("#") || line.hasPrefix("& $vnetlib -- ") || line.hasPrefix("$vnetlib = "), "\(line)")
        }
    }

    @Test func unifiedDiffShowsHunks() {
        let old = (1...10).map { "l\($0)" }.joined(separator: "\n") + "\n"
        let new = old.replacingOccurrences(of: "l5\n", with: "five\n")
        #expect(UnifiedDiff.diff(old: old, new: new, oldName: "a", newName: "b") == """
            --- a
            +++ b
            @@ -2,7 +2,7 @@
             l2
             l3
             l4
            -l5
            +five
             l6
             l7
             l8

            """)
        #expect(UnifiedDiff.diff(old: old, new: old, oldName: "a", newName: "b") == "")
        #expect(UnifiedDiff.diff(old: nil, new: "x\n", oldName: "a", newName: "b") == "--- /dev/null\n+++ b\n@@ -0,0 +1,1 @@\n+x\n")
    }
}
