import Foundation
import LabKit

/// The Windows command sequence for the lab's vmnet (VVD VNETLIB.md; docs/vmware-driver.md, "Host network files").
///
/// labctl never runs it itself: vnetlib prints nothing, exits 1 on success and 0
/// on failure for most commands, and `set dhcp ... addipmac` always exits 0
/// (Vagrant `VNETLIB.md`), so a program cannot tell whether a step worked.
public struct VnetlibScript: Sendable, Hashable {
    public struct Step: Sendable, Hashable {
        /// Arguments after `vnetlib.exe --` (the `--` is mandatory, Vagrant `buildCommand`).
        public var arguments: [String]
        public var comment: String?
    }

    /// `<InstallDir>\vnetlib.exe` of a default Workstation install (VVD vmware_paths_windows.go).
    public static let defaultVnetlib = #"C:\Program Files (x86)\VMware\VMware Workstation\vnetlib.exe"#

    public var steps: [Step]

    public init(_ plan: HostNetworkPlan) {
        let v = plan.vmnet
        var steps: [Step] = [
            // `update nat|dhcp` need the services stopped (VNETLIB.md).
            Step(arguments: ["stop", "dhcp"], comment: "stop the DHCP and NAT services: their update steps need them stopped"),
            Step(arguments: ["stop", "nat"], comment: nil),
            Step(arguments: ["set", "vnet", v, "addr", plan.subnet.network.description], comment: "the lab's subnet"),
            Step(arguments: ["set", "vnet", v, "mask", plan.netmask.description], comment: nil),
            // The next two come from a single third-party profile script (valITino/SOC-9000, unconfirmed elsewhere).
            Step(arguments: ["set", "adapter", v, "addr", plan.hostAddress.description], comment: "the host adapter (.1) and the NAT gateway (.2)"),
            Step(arguments: ["set", "nat", v, "internalipaddr", plan.gateway.description], comment: nil),
        ]
        for (i, r) in plan.reservations.enumerated() {
            steps.append(Step(arguments: ["set", "dhcp", v, "addipmac", r.address.description, r.macText],
                              comment: i == 0 ? "DHCP reservations, one per node (always exit 0, take effect after update dhcp)" : nil))
        }
        steps += [
            Step(arguments: ["update", "adapter", v], comment: "apply the settings"),
            Step(arguments: ["update", "nat", v], comment: nil),
            Step(arguments: ["update", "dhcp", v], comment: nil),
            Step(arguments: ["start", "dhcp"], comment: "start the services again"),
            Step(arguments: ["start", "nat"], comment: nil),
        ]
        self.steps = steps
    }

    static let template = """
        # Run in PowerShell as Administrator (Windows, VMware Workstation).
        # vnetlib prints nothing and its exit codes cannot be trusted (1 = success, 0 = failure,
        # some commands always return the same code), so check the result afterwards in
        # Edit > Virtual Network Editor: {{vmnet}} must show subnet {{subnet}} mask {{netmask}}, NAT and DHCP.
        {{#dhcpIsDefault}}
        # The DHCP pool stays VMware's default {{dhcpDefault}}, as the lab wants.
        {{/dhcpIsDefault}}
        {{^dhcpIsDefault}}
        # The lab wants the DHCP pool {{dhcpStart}}-{{dhcpEnd}}, not VMware's default {{dhcpDefault}}; no verified
        # vnetlib command sets the range, so set it under NAT Settings > DHCP Settings in the Virtual Network Editor.
        {{/dhcpIsDefault}}
        $vnetlib = "{{vnetlib}}"
        {{#steps}}
        {{#comment}}
        # {{.}}
        {{/comment}}
        & $vnetlib -- {{command}}
        {{/steps}}

        """

    /// VMware's default pool for a /24: .128-.254 (docs/vmware-driver.md, "Host network files").
    static func defaultPool(_ plan: HostNetworkPlan) -> IPv4Range {
        IPv4Range(plan.subnet.host(128), plan.broadcast.advanced(by: -1))
    }

    public func render(_ plan: HostNetworkPlan) throws -> String {
        try TemplateText.render(VnetlibScript.template, [
            "vmnet": plan.vmnet, "subnet": plan.subnet.network.description, "netmask": plan.netmask.description,
            "dhcpDefault": "\(VnetlibScript.defaultPool(plan))", "dhcpIsDefault": plan.dhcp == VnetlibScript.defaultPool(plan),
            "dhcpStart": plan.dhcp.lower.description, "dhcpEnd": plan.dhcp.upper.description,
            "vnetlib": VnetlibScript.defaultVnetlib,
            "steps": steps.map { step -> [String: Any] in
                var d: [String: Any] = ["command": step.arguments.joined(separator: " ")]
                if let c = step.comment { d["comment"] = c }
                return d
            },
        ], name: "vnetlib")
    }
}
