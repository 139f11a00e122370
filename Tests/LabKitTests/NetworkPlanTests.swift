import Foundation
import Testing
@testable import LabKit

/// One broken lab per rule: the changes to the valid fixture (values as JSON text),
/// the lab.json path the error must name, and the text it must say.
struct RuleCase: Sendable, CustomTestStringConvertible {
    var rule: String
    var changes: [(String, String)]
    var path: String
    var message: String
    var testDescription: String { rule }
    init(_ rule: String, _ changes: [(String, String)], _ path: String, _ message: String) {
        self.rule = rule
        self.changes = changes
        self.path = path
        self.message = message
    }
}

@Suite struct NetworkPlanTests {
    static let rules: [RuleCase] = [
        // Subnet and addresses that do not parse or are outside the subnet.
        RuleCase("subnet not a CIDR", [("network.subnet", #""192.168.50.0/33""#)], "network.subnet", #""192.168.50.0/33" is not a valid IPv4 CIDR"#),
        RuleCase("subnet with host bits", [("network.subnet", #""192.168.50.7/24""#)], "network.subnet", #""192.168.50.7/24" is not a network address: host bits are set"#),
        RuleCase("subnet too small", [("network.subnet", #""192.168.50.0/31""#)], "network.subnet", "subnet 192.168.50.0/31 is too small"),
        RuleCase("gateway not an address", [("network.gateway", #""192.168.50.256""#)], "network.gateway", #""192.168.50.256" is not a valid IPv4 address"#),
        RuleCase("gateway outside subnet", [("network.gateway", #""192.168.51.2""#)], "network.gateway", "gateway 192.168.51.2 is outside the subnet 192.168.50.0/24"),
        RuleCase("gateway is broadcast", [("network.gateway", #""192.168.50.255""#)], "network.gateway", "gateway 192.168.50.255 is the broadcast address of 192.168.50.0/24"),
        RuleCase("host adapter outside subnet", [("network.hostAddress", #""10.0.0.1""#)], "network.hostAddress", "host adapter address 10.0.0.1 is outside the subnet"),
        RuleCase("host adapter is gateway", [("network.hostAddress", #""192.168.50.2""#)], "network.hostAddress", "host adapter address 192.168.50.2 is the gateway's address"),
        RuleCase("DNS not an address", [("network.dns", #"["1.1.1"]"#)], "network.dns[0]", #""1.1.1" is not a valid IPv4 address"#),
        RuleCase("DNS empty", [("network.dns", "[]")], "network.dns", "at least one DNS server is needed"),
        RuleCase("vmnet name", [("network.vmnet", #""nat""#)], "network.vmnet", #""nat" is not a VMware virtual network name"#),
        RuleCase("node address not an address", [("clusters[0].nodes[0].address", #""192.168.50.11/24""#)], "clusters[0].nodes[0].address", #""192.168.50.11/24" is not a valid IPv4 address"#),
        RuleCase("node address outside subnet", [("clusters[0].nodes[1].address", #""192.168.60.12""#)], "clusters[0].nodes[1].address", "node address 192.168.60.12 is outside the subnet 192.168.50.0/24"),
        RuleCase("base address outside subnet", [("base.address", #""10.1.1.10""#)], "base.address", "base address 10.1.1.10 is outside the subnet 192.168.50.0/24"),
        RuleCase("pool not a range", [("clusters[0].metallb[0]", #""192.168.50.81..100""#)], "clusters[0].metallb[0]", #""192.168.50.81..100" is not a valid address range"#),
        // VMware's own addresses.
        RuleCase("node is network address", [("clusters[0].nodes[0].address", #""192.168.50.0""#)], "clusters[0].nodes[0].address", "node cluster1-ctrl-plane uses the network address 192.168.50.0"),
        RuleCase("node is broadcast", [("clusters[0].nodes[0].address", #""192.168.50.255""#)], "clusters[0].nodes[0].address", "node cluster1-ctrl-plane uses the broadcast address 192.168.50.255"),
        RuleCase("node is host adapter", [("clusters[1].nodes[1].address", #""192.168.50.1""#)], "clusters[1].nodes[1].address", "node cluster2-worker-node01 uses the host adapter's address 192.168.50.1"),
        RuleCase("node is gateway", [("clusters[1].nodes[0].address", #""192.168.50.2""#)], "clusters[1].nodes[0].address", "node cluster2-ctrl-plane uses the gateway 192.168.50.2"),
        RuleCase("base is gateway", [("base.address", #""192.168.50.2""#)], "base.address", "the base uses the gateway 192.168.50.2"),
        RuleCase("base is host adapter", [("base.address", #""192.168.50.1""#)], "base.address", "the base uses the host adapter's address 192.168.50.1"),
        // Duplicates.
        RuleCase("two nodes same address", [("clusters[1].nodes[1].address", #""192.168.50.12""#)], "clusters[1].nodes[1].address", "address 192.168.50.12 of node cluster2-worker-node01 is already used by node cluster1-worker-node01 (clusters[0].nodes[1].address)"),
        RuleCase("node and base same address", [("clusters[0].nodes[0].address", #""192.168.50.10""#)], "clusters[0].nodes[0].address", "address 192.168.50.10 of node cluster1-ctrl-plane is already used by the base ubuntu-base (base.address)"),
        RuleCase("two nodes same name", [("clusters[1].nodes[1].name", #""cluster1-worker-node01""#)], "clusters[1].nodes[1].name", #"name "cluster1-worker-node01" is already used by node cluster1-worker-node01 (clusters[0].nodes[1].name)"#),
        RuleCase("node and base same name", [("clusters[0].nodes[1].name", #""ubuntu-base""#)], "clusters[0].nodes[1].name", #"name "ubuntu-base" is already used by the base (base.name)"#),
        RuleCase("two nodes same MAC", [("clusters[0].nodes[0].mac", #""00:50:56:3a:00:01""#), ("clusters[1].nodes[0].mac", #""00:50:56:3A:00:01""#)], "clusters[1].nodes[0].mac", "MAC 00:50:56:3a:00:01 of node cluster2-ctrl-plane is already used by node cluster1-ctrl-plane (clusters[0].nodes[0].mac)"),
        // DHCP.
        RuleCase("node inside DHCP", [("clusters[0].nodes[1].address", #""192.168.50.150""#)], "clusters[0].nodes[1].address", "node address 192.168.50.150 is inside the DHCP range 192.168.50.128-192.168.50.254"),
        RuleCase("base inside DHCP", [("base.address", #""192.168.50.128""#)], "base.address", "base address 192.168.50.128 is inside the DHCP range"),
        RuleCase("DHCP outside subnet", [("network.dhcp", #""192.168.50.128-192.168.51.10""#)], "network.dhcp", "DHCP range 192.168.50.128-192.168.51.10 is outside the subnet 192.168.50.0/24"),
        RuleCase("DHCP reversed", [("network.dhcp", #""192.168.50.254-192.168.50.128""#)], "network.dhcp", "DHCP range 192.168.50.254-192.168.50.128 is reversed"),
        RuleCase("DHCP contains gateway", [("network.dhcp", #""192.168.50.2-192.168.50.9""#)], "network.dhcp", "DHCP range 192.168.50.2-192.168.50.9 contains the gateway 192.168.50.2"),
        // MetalLB.
        RuleCase("pool outside subnet", [("clusters[0].metallb[0]", #""192.168.60.81-192.168.60.100""#)], "clusters[0].metallb[0]", "MetalLB pool 192.168.60.81-192.168.60.100 is outside the subnet 192.168.50.0/24"),
        RuleCase("pool inside DHCP", [("clusters[1].metallb[0]", #""192.168.50.200-192.168.50.210""#)], "clusters[1].metallb[0]", "MetalLB pool 192.168.50.200-192.168.50.210 overlaps the DHCP range 192.168.50.128-192.168.50.254"),
        RuleCase("pools overlap across clusters", [("clusters[1].metallb[0]", #""192.168.50.95-192.168.50.120""#)], "clusters[1].metallb[0]", "MetalLB pool 192.168.50.95-192.168.50.120 overlaps the pool of cluster cluster1, 192.168.50.81-192.168.50.100 (clusters[0].metallb[0])"),
        RuleCase("pool contains node", [("clusters[0].metallb[0]", #""192.168.50.11-192.168.50.11""#)], "clusters[0].metallb[0]", "MetalLB pool 192.168.50.11-192.168.50.11 contains the address 192.168.50.11 of node cluster1-ctrl-plane (clusters[0].nodes[0].address)"),
        RuleCase("pool contains base", [("clusters[1].metallb[0]", #""192.168.50.5-192.168.50.10""#)], "clusters[1].metallb[0]", "MetalLB pool 192.168.50.5-192.168.50.10 contains the address 192.168.50.10 of the base ubuntu-base (base.address)"),
        RuleCase("pool contains gateway", [("clusters[1].metallb[0]", #""192.168.50.2-192.168.50.5""#)], "clusters[1].metallb[0]", "MetalLB pool 192.168.50.2-192.168.50.5 contains the gateway 192.168.50.2"),
        RuleCase("pool reversed", [("clusters[1].metallb[0]", #""192.168.50.120-192.168.50.101""#)], "clusters[1].metallb[0]", "MetalLB pool 192.168.50.120-192.168.50.101 is reversed"),
        RuleCase("no pool", [("clusters[1].metallb", "[]")], "clusters[1].metallb", "cluster cluster2 has no MetalLB pool"),
        // Pod and service CIDRs.
        RuleCase("pod CIDR overlaps subnet", [("clusters[0].podSubnet", #""192.168.0.0/16""#)], "clusters[0].podSubnet", "podSubnet 192.168.0.0/16 of cluster cluster1 overlaps the VMnet8 subnet 192.168.50.0/24"),
        RuleCase("service CIDR overlaps subnet", [("clusters[1].serviceSubnet", #""192.168.50.0/25""#)], "clusters[1].serviceSubnet", "serviceSubnet 192.168.50.0/25 of cluster cluster2 overlaps the VMnet8 subnet 192.168.50.0/24"),
        RuleCase("pod and service overlap", [("clusters[1].serviceSubnet", #""10.40.0.0/16""#)], "clusters[1].serviceSubnet", "serviceSubnet 10.40.0.0/16 of cluster cluster2 overlaps its podSubnet 10.32.0.0/12"),
        // Names and roles.
        RuleCase("node name not RFC 1123", [("clusters[0].nodes[1].name", #""Worker_1""#)], "clusters[0].nodes[1].name", #"node name "Worker_1" is not a valid hostname"#),
        RuleCase("node name ends with dash", [("clusters[0].nodes[1].name", #""worker-""#)], "clusters[0].nodes[1].name", #"node name "worker-" is not a valid hostname"#),
        RuleCase("cluster names not unique", [("clusters[1].name", #""cluster1""#)], "clusters[1].name", #"cluster name "cluster1" is not unique: clusters[0] has it too"#),
        RuleCase("no control plane", [("clusters[1].nodes[0].role", #""worker""#)], "clusters[1].nodes", "cluster cluster2 needs exactly one control-plane node, found none"),
        RuleCase("two control planes", [("clusters[0].nodes[1].role", #""control-plane""#)], "clusters[0].nodes[1].role", "cluster cluster1 needs exactly one control-plane node, found 2 (nodes[0], nodes[1])"),
        RuleCase("no clusters", [("clusters", "[]")], "clusters", "the lab has no cluster"),
        // MAC.
        RuleCase("MAC outside static range", [("clusters[0].nodes[0].mac", #""00:50:56:40:00:01""#)], "clusters[0].nodes[0].mac", "MAC 00:50:56:40:00:01 is outside VMware's static range 00:50:56:00:00:00-00:50:56:3f:ff:ff"),
        RuleCase("MAC of another vendor", [("clusters[0].nodes[0].mac", #""00:0c:29:00:00:01""#)], "clusters[0].nodes[0].mac", "MAC 00:0c:29:00:00:01 is outside VMware's static range"),
        RuleCase("MAC malformed", [("clusters[0].nodes[0].mac", #""0:50:56:0:0:1""#)], "clusters[0].nodes[0].mac", #""0:50:56:0:0:1" is not a valid MAC address"#),
        // Sizes, profile, names that must not be empty.
        RuleCase("cpus zero", [("clusters[0].nodes[0].cpus", "0")], "clusters[0].nodes[0].cpus", "node cluster1-ctrl-plane needs at least 1 CPU, found 0"),
        RuleCase("memory too small", [("clusters[0].nodes[0].memoryMiB", "512")], "clusters[0].nodes[0].memoryMiB", "node cluster1-ctrl-plane needs at least 1024 MiB of memory, found 512"),
        RuleCase("memory not multiple of 4", [("clusters[0].nodes[0].memoryMiB", "4097")], "clusters[0].nodes[0].memoryMiB", "memory 4097 MiB of node cluster1-ctrl-plane is not a multiple of 4, which VMware requires"),
        RuleCase("profile unknown", [("profile", #""latest""#)], "profile", #"expected one of "seed-2021", "current", found "latest""#),
        RuleCase("mesh id empty", [("mesh.id", #""""#)], "mesh.id", "must not be empty"),
        RuleCase("cluster network empty", [("clusters[0].network", #"" ""#)], "clusters[0].network", "must not be empty"),
        RuleCase("lab name invalid", [("name", #""My Lab""#)], "name", #"lab name "My Lab" is not a valid name"#),
        RuleCase("ssh port", [("ssh.port", "70000")], "ssh.port", "SSH port 70000 is not a TCP port"),
        RuleCase("timeout zero", [("vmware.timeouts.startSeconds", "0")], "vmware.timeouts.startSeconds", "timeout 0 must be at least 1 second"),
    ]

    @Test(arguments: rules)
    func ruleIsEnforced(_ c: RuleCase) throws {
        let errors = try LabFixture.errors(c.changes.map { ($0.0, try LabFixture.value($0.1)) })
        let matching = errors.filter { $0.message.hasPrefix(c.message) }
        #expect(matching.count == 1, "errors: \(errors.map(\.description))")
        let e = try #require(matching.first)
        #expect(e.code == .invalidInput)
        // The location names the file and the JSON path (and the line when the value is in the file).
        let path = try #require(e.location?.description.components(separatedBy: " (").first)
        #expect(path == "lab.json: \(c.path)")
    }

    @Test func theValidFixtureHasNoErrorsAndNoWarnings() throws {
        let result = try LabLoader.check(LabFixture.fixtureData(), source: "lab.json")
        #expect(result.warnings.isEmpty)
    }

    @Test func defaultedValuesAreLocatedAsDefaults() throws {
        // A /25 makes the default DHCP range (.128-.254 of a /24) fall outside the subnet.
        let errors = try LabFixture.errors([("network.subnet", #"192.168.50.0/25"#), ("clusters[0].metallb", ["192.168.50.81-192.168.50.90"]),
                                            ("clusters[1].metallb", ["192.168.50.91-192.168.50.100"])])
        #expect(errors.map(\.message).contains("DHCP range 192.168.50.128-192.168.50.126 is outside the subnet 192.168.50.0/25"))
        #expect(!errors.isEmpty && errors.allSatisfy { $0.location?.description == "lab.json: network.dhcp (default value, not in the file)" })
    }

    @Test func publicSubnetIsAWarningNotAnError() throws {
        let data = try LabFixture.data([
            ("network.subnet", "8.8.4.0/24"), ("base.address", "8.8.4.10"),
            ("clusters[0].nodes[0].address", "8.8.4.11"), ("clusters[0].nodes[1].address", "8.8.4.12"),
            ("clusters[1].nodes[0].address", "8.8.4.13"), ("clusters[1].nodes[1].address", "8.8.4.14"),
            ("clusters[0].metallb", ["8.8.4.81-8.8.4.100"]), ("clusters[1].metallb", ["8.8.4.101-8.8.4.120"]),
        ])
        let result = try LabLoader.check(data, source: "lab.json")
        #expect(result.warnings.map(\.message) == ["subnet 8.8.4.0/24 is public address space, not RFC 1918: while VMnet8 uses it, the host cannot reach the real owners of these addresses"])
        #expect(result.warnings.first?.location?.description.hasPrefix("lab.json: network.subnet (line ") == true)
        #expect(LabValidator.isPrivate(try #require(IPv4Network("172.31.0.0/16"))))
        #expect(!LabValidator.isPrivate(try #require(IPv4Network("172.32.0.0/16"))))
    }

    @Test func addressOutsideStaticBlockIsAWarning() throws {
        let data = try LabFixture.data([("network.dhcp", "192.168.50.200-192.168.50.254"), ("clusters[1].nodes[1].address", "192.168.50.150")])
        let result = try LabLoader.check(data, source: "lab.json")
        #expect(result.warnings.count == 1)
        let w = try #require(result.warnings.first)
        #expect(w.message == "node cluster2-worker-node01 address 192.168.50.150 is outside 192.168.50.3-192.168.50.127, the block VMware leaves for static addresses")
        #expect(w.location?.description.hasPrefix("lab.json: clusters[1].nodes[1].address (line ") == true)
    }

    @Test func hostnameRules() {
        #expect(LabValidator.isValidHostname("cluster1-worker-node01"))
        #expect(LabValidator.isValidHostname("a.b-c.d"))
        #expect(!LabValidator.isValidHostname("-a"))
        #expect(!LabValidator.isValidHostname("a..b"))
        #expect(!LabValidator.isValidHostname(String(repeating: "a", count: 64)))
        #expect(!LabValidator.isValidHostname("UPPER"))
    }
}
