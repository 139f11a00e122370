import Foundation
import LabKit
import Mustache

/// The host operating systems VMware's NAT network is configured on (docs/vmware-driver.md, "Host network files").
public enum VMwareHostOS: String, Sendable, Hashable, CaseIterable, Codable {
    case linux, macos, windows

    /// The OS labctl runs on.
    public static var current: VMwareHostOS { HostPlatform.current.networkOS }

    public var displayName: String {
        switch self {
        case .linux: return "Linux (VMware Workstation)"
        case .macos: return "macOS (VMware Fusion)"
        case .windows: return "Windows (VMware Workstation)"
        }
    }
}

/// One DHCP reservation: a node's MAC bound to its static address.
public struct DHCPReservation: Sendable, Hashable {
    public var name: String
    public var mac: MACAddress
    public var address: IPv4Address
    public init(name: String, mac: MACAddress, address: IPv4Address) {
        self.name = name
        self.mac = mac
        self.address = address
    }
    /// VMware writes MACs upper-case in dhcpd.conf and `networking` (docs/vmware-driver.md, "Host network files").
    public var macText: String { mac.description.uppercased() }
}

/// The values of the lab's VMware NAT network, as every host file needs them.
public struct HostNetworkPlan: Sendable, Hashable {
    /// `vmnet8`.
    public var vmnet: String
    /// `8`, the number in the `networking` answer keys (`VNET_8_...`).
    public var vnetNumber: Int
    public var subnet: IPv4Network
    public var gateway: IPv4Address
    public var hostAddress: IPv4Address
    public var dhcp: IPv4Range
    public var reservations: [DHCPReservation]

    public init(vmnet: String, vnetNumber: Int, subnet: IPv4Network, gateway: IPv4Address, hostAddress: IPv4Address,
                dhcp: IPv4Range, reservations: [DHCPReservation]) {
        self.vmnet = vmnet
        self.vnetNumber = vnetNumber
        self.subnet = subnet
        self.gateway = gateway
        self.hostAddress = hostAddress
        self.dhcp = dhcp
        self.reservations = reservations
    }

    /// The plan for a lab: every node's MAC is reserved for its static address.
    ///
    /// The base VM is not reserved: lab.json gives it no MAC (it keeps the one
    /// VMware generated), and it uses a static address in .3-.127 outside the pool.
    public init(lab: Lab) throws {
        let net = lab.network
        let digits = net.vmnet.drop { !$0.isNumber }
        guard net.vmnet.hasPrefix("vmnet"), let number = Int(digits), String(number) == digits else {
            throw LabError(.invalidInput, "the network's vmnet is not a VMware virtual network name", location: .lab("network.vmnet"),
                           hint: "use a name like \"vmnet8\" (VMware's NAT network)")
        }
        self.init(vmnet: net.vmnet, vnetNumber: number, subnet: net.subnet, gateway: net.gateway, hostAddress: net.hostAddress,
                  dhcp: net.dhcp,
                  reservations: lab.nodes.map { DHCPReservation(name: $0.name, mac: $0.mac, address: $0.address) })
    }

    public var netmask: IPv4Address { subnet.netmask }
    public var broadcast: IPv4Address { subnet.broadcast }
    /// The MAC VMware gives the host's virtual adapter: `00:50:56:C0:00:<vnet>` (nat.conf, dhcpd.conf: docs/vmware-driver.md, "Host network files").
    public var hostMAC: String { String(format: "00:50:56:C0:00:%02X", vnetNumber & 0xff) }
}

/// Renders the Mustache templates of this folder, as plain text (no HTML escaping).
enum TemplateText {
    static func render(_ template: String, _ context: [String: Any], name: String) throws -> String {
        do {
            return try MustacheTemplate(string: "{{% CONTENT_TYPE: TEXT}}\n" + template).render(context)
        } catch {
            throw LabError(.internalError, "the \(name) template does not parse", cause: error)
        }
    }
}
