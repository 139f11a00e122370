import Foundation

/// The network plan rules of issue 2, checked on the effective lab before anything runs.
///
/// Addresses follow VMware's conventions for a NAT network (docs/network.md, "VMware's address conventions"): `.1` is the
/// host adapter, `.2` the NAT gateway and DNS, `.3-.127` static addresses, `.128-.254`
/// DHCP, `.255` broadcast. Every problem names the lab.json path of the offending value.
/// Nothing here touches the network or VMware.
extension LabValidator {
    static func checkNetwork(_ lab: Lab, into r: inout Report) {
        let net = lab.network
        let subnet = net.subnet

        if subnet.prefixLength > 30 {
            r.error("network.subnet", "subnet \(subnet) is too small: a NAT network needs a host adapter, a gateway and nodes",
                    hint: "use a /24, like VMware's own vmnet8 networks")
        }
        if !isPrivate(subnet) {
            r.warning("network.subnet", "subnet \(subnet) is public address space, not RFC 1918: while VMnet8 uses it, the host cannot reach the real owners of these addresses",
                      hint: "prefer a private subnet (10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16) unless you reproduce the seed exactly")
        }
        // The addresses VMware itself uses.
        func special(_ a: IPv4Address) -> String? {
            if a == subnet.network { return "the network address \(a)" }
            if a == subnet.broadcast { return "the broadcast address \(a)" }
            if a == net.hostAddress { return "the host adapter's address \(a)" }
            if a == net.gateway { return "the gateway \(a)" }
            return nil
        }
        func inside(_ a: IPv4Address, _ path: String, _ what: String) -> Bool {
            guard subnet.contains(a) else {
                r.error(path, "\(what) \(a) is outside the subnet \(subnet)", hint: "use an address in \(subnet.host(3))-\(subnet.broadcast.advanced(by: -1))")
                return false
            }
            return true
        }

        // Gateway and host adapter.
        if inside(net.gateway, "network.gateway", "gateway") {
            if net.gateway == subnet.network || net.gateway == subnet.broadcast {
                r.error("network.gateway", "gateway \(net.gateway) is the \(net.gateway == subnet.network ? "network" : "broadcast") address of \(subnet)",
                        hint: "VMware's NAT gateway is \(LabDefaults.gateway(subnet)) by convention")
            }
        }
        if inside(net.hostAddress, "network.hostAddress", "host adapter address") {
            if net.hostAddress == subnet.network || net.hostAddress == subnet.broadcast {
                r.error("network.hostAddress", "host adapter address \(net.hostAddress) is the \(net.hostAddress == subnet.network ? "network" : "broadcast") address of \(subnet)",
                        hint: "VMware's host adapter is \(LabDefaults.hostAddress(subnet)) by convention")
            } else if net.hostAddress == net.gateway {
                r.error("network.hostAddress", "host adapter address \(net.hostAddress) is the gateway's address",
                        hint: "use \(LabDefaults.hostAddress(subnet)) for the host and \(LabDefaults.gateway(subnet)) for the gateway")
            }
        }
        if net.dns.isEmpty {
            r.error("network.dns", "at least one DNS server is needed", hint: "leave \"dns\" out to use the gateway \(net.gateway), or list servers like [\"1.1.1.1\"]")
        }
        if !net.vmnet.hasPrefix("vmnet") || Int(net.vmnet.dropFirst(5)) == nil {
            r.error("network.vmnet", "\"\(net.vmnet)\" is not a VMware virtual network name", hint: "use vmnet8 (NAT), or another vmnetN")
        }

        // DHCP range.
        let dhcp = net.dhcp
        var dhcpUsable = true
        if dhcp.isReversed {
            r.error("network.dhcp", "DHCP range \(dhcp) is reversed: its first address is after its last", hint: "write the lower address first: \(dhcp.upper)-\(dhcp.lower)")
            dhcpUsable = false
        }
        if !subnet.contains(dhcp.lower) || !subnet.contains(dhcp.upper) {
            r.error("network.dhcp", "DHCP range \(dhcp) is outside the subnet \(subnet)",
                    hint: "use a range inside the subnet, by convention \(LabDefaults.dhcp(subnet))")
            dhcpUsable = false
        } else if dhcpUsable {
            for (a, what) in [(subnet.network, "the network address"), (subnet.broadcast, "the broadcast address"),
                              (net.hostAddress, "the host adapter"), (net.gateway, "the gateway")] where dhcp.contains(a) {
                r.error("network.dhcp", "DHCP range \(dhcp) contains \(what) \(a)", hint: "by convention the range is \(LabDefaults.dhcp(subnet))")
            }
        }

        // Nodes and the base: addresses, names, MACs.
        struct Owner { var path: String; var label: String }
        var addresses: [IPv4Address: Owner] = [:]
        var names: [String: Owner] = [:]
        var macs: [MACAddress: Owner] = [:]
        if let a = lab.base.address {
            let p = "base.address"
            if inside(a, p, "base address") {
                if let s = special(a) {
                    r.error(p, "the base uses \(s)", hint: "give the base a static address in \(subnet.host(3))-\(subnet.host(127))")
                } else if dhcpUsable, dhcp.contains(a) {
                    r.error(p, "base address \(a) is inside the DHCP range \(dhcp)", hint: "static addresses belong outside the DHCP range, in \(subnet.host(3))-\(subnet.host(127))")
                }
                staticBlockWarning(a, subnet, p, "base", &r)
            }
            addresses[a] = Owner(path: p, label: "the base \(lab.base.name)")
        }
        names[lab.base.name] = Owner(path: "base.name", label: "the base")

        for (ci, cluster) in lab.clusters.enumerated() {
            for (ni, node) in cluster.nodes.enumerated() {
                let np = "clusters[\(ci)].nodes[\(ni)]"
                let a = node.address
                if inside(a, "\(np).address", "node address") {
                    if let s = special(a) {
                        r.error("\(np).address", "node \(node.name) uses \(s)", hint: "use a static address in \(subnet.host(3))-\(subnet.host(127))")
                    } else if dhcpUsable, dhcp.contains(a) {
                        r.error("\(np).address", "node address \(a) is inside the DHCP range \(dhcp)",
                                hint: "DHCP could hand the same address to another VM; use \(subnet.host(3))-\(subnet.host(127))")
                    }
                    staticBlockWarning(a, subnet, "\(np).address", "node \(node.name)", &r)
                }
                if let other = addresses[a] {
                    r.error("\(np).address", "address \(a) of node \(node.name) is already used by \(other.label) (\(other.path))", hint: "give every node and the base its own address")
                } else {
                    addresses[a] = Owner(path: "\(np).address", label: "node \(node.name)")
                }
                if let other = names[node.name] {
                    r.error("\(np).name", "name \"\(node.name)\" is already used by \(other.label) (\(other.path))", hint: "node names become hostnames and VM names; make them unique")
                } else {
                    names[node.name] = Owner(path: "\(np).name", label: "node \(node.name)")
                }
                if !node.mac.isVMwareStatic {
                    // vSphere "Setting a static MAC address"; docs/vmware-facts.md, "MAC addresses".
                    r.error("\(np).mac", "MAC \(node.mac) is outside VMware's static range 00:50:56:00:00:00-00:50:56:3f:ff:ff",
                            hint: "use 00:50:56:XX:YY:ZZ with XX at most 3f, or leave \"mac\" out to get a stable derived one")
                }
                if let other = macs[node.mac] {
                    r.error("\(np).mac", "MAC \(node.mac) of node \(node.name) is already used by \(other.label) (\(other.path))", hint: "every node needs its own MAC; leave \"mac\" out to derive one")
                } else {
                    macs[node.mac] = Owner(path: "\(np).mac", label: "node \(node.name)")
                }
            }
        }

        // Clusters: pod and service CIDRs, MetalLB pools.
        var pools: [(range: IPv4Range, cluster: Int, path: String)] = []
        for (ci, cluster) in lab.clusters.enumerated() {
            let cp = "clusters[\(ci)]"
            for (key, cidr) in [("podSubnet", cluster.podSubnet), ("serviceSubnet", cluster.serviceSubnet)] where cidr.overlaps(subnet) {
                r.error("\(cp).\(key)", "\(key) \(cidr) of cluster \(cluster.name) overlaps the VMnet8 subnet \(subnet)",
                        hint: "pod and service addresses must not collide with the nodes' network; pick another range, like \(key == "podSubnet" ? LabDefaults.podSubnet(profile: lab.profile) : LabDefaults.serviceSubnet)")
            }
            if cluster.podSubnet.overlaps(cluster.serviceSubnet) {
                r.error("\(cp).serviceSubnet", "serviceSubnet \(cluster.serviceSubnet) of cluster \(cluster.name) overlaps its podSubnet \(cluster.podSubnet)",
                        hint: "kubeadm needs separate pod and service ranges")
            }
            if cluster.metallb.isEmpty {
                r.error("\(cp).metallb", "cluster \(cluster.name) has no MetalLB pool", hint: "add a range such as \(subnet.host(81))-\(subnet.host(100)); Istio's east-west gateway needs a LoadBalancer address (seed 9.4)")
            }
            for (pi, pool) in cluster.metallb.enumerated() {
                let pp = "\(cp).metallb[\(pi)]"
                if pool.isReversed {
                    r.error(pp, "MetalLB pool \(pool) is reversed: its first address is after its last", hint: "write the lower address first: \(pool.upper)-\(pool.lower)")
                    continue
                }
                guard subnet.contains(pool.lower), subnet.contains(pool.upper) else {
                    r.error(pp, "MetalLB pool \(pool) is outside the subnet \(subnet)", hint: "LoadBalancer addresses must be reachable on VMnet8; use a range in \(subnet.host(3))-\(subnet.host(127))")
                    continue
                }
                if dhcpUsable, pool.overlaps(dhcp) {
                    r.error(pp, "MetalLB pool \(pool) overlaps the DHCP range \(dhcp)", hint: "keep pools in the static block \(subnet.host(3))-\(subnet.host(127))")
                }
                for (a, what) in [(subnet.network, "the network address"), (subnet.broadcast, "the broadcast address"),
                                  (net.hostAddress, "the host adapter"), (net.gateway, "the gateway")] where pool.contains(a) {
                    r.error(pp, "MetalLB pool \(pool) contains \(what) \(a)", hint: "move the pool away from VMware's own addresses")
                }
                for (a, owner) in addresses.sorted(by: { $0.key < $1.key }) where pool.contains(a) {
                    r.error(pp, "MetalLB pool \(pool) contains the address \(a) of \(owner.label) (\(owner.path))",
                            hint: "MetalLB would announce an address a VM already has; move the pool or the VM")
                }
                for other in pools where other.range.overlaps(pool) {
                    let whose = other.cluster == ci ? "another pool of the same cluster" : "the pool of cluster \(lab.clusters[other.cluster].name)"
                    r.error(pp, "MetalLB pool \(pool) overlaps \(whose), \(other.range) (\(other.path))",
                            hint: "two clusters announcing the same address break both; give each its own range")
                }
                pools.append((pool, ci, pp))
            }
        }
    }

    private static func staticBlockWarning(_ a: IPv4Address, _ subnet: IPv4Network, _ path: String, _ who: String, _ r: inout Report) {
        let offset = Int(a.value &- subnet.network.value)
        guard !LabDefaults.staticHosts.contains(offset) else { return }
        r.warning(path, "\(who) address \(a) is outside \(subnet.host(3))-\(subnet.host(127)), the block VMware leaves for static addresses",
                  hint: "VMware's conventions (docs/network.md) keep .1 for the host, .2 for the gateway and .128-.254 for DHCP")
    }

    /// RFC 1918 private ranges. Anything else (like the seed's 194.89.64.0/24) is public.
    static func isPrivate(_ n: IPv4Network) -> Bool {
        let privates = [IPv4Network("10.0.0.0/8"), IPv4Network("172.16.0.0/12"), IPv4Network("192.168.0.0/16")].compactMap { $0 }
        return privates.contains { $0.contains(n.network) && $0.contains(n.broadcast) }
    }
}
