import ArgumentParser
import Foundation
import LabKit
import VMwareDriver

extension Labctl {
    struct NetShowCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "show",
            abstract: "Print the VMware network files (or Windows commands) the lab needs.",
            discussion: """
                Renders the VMnet8 configuration from the lab's network section: on Linux the networking \
                answers, vmnet8/nat/nat.conf and vmnet8/dhcpd/dhcpd.conf; on macOS the Fusion equivalents; \
                on Windows the vnetlib command sequence. Every node gets a DHCP reservation (its MAC to its \
                address). Nothing is changed and no packet is sent.

                EXAMPLES:
                  labctl net show
                  labctl net show --host macos --lab other-lab.json
                """
        )

        @OptionGroup var labOptions: LabOptions

        @Option(help: ArgumentHelp("The host OS to render for; the default is this host's.", valueName: "linux|macos|windows"))
        var host: VMwareHostOS = .current

        func run() async throws {
            let loaded = try labOptions.load()
            print(try Self.output(lab: loaded.lab, host: host, now: Date()), terminator: "")
        }

        /// The whole output, so tests can compare it with golden files.
        static func output(lab: Lab, host: VMwareHostOS, now: Date) throws -> String {
            let plan = try HostNetworkPlan(lab: lab)
            var out = """
                # VMware NAT network for lab "\(lab.name)" on \(host.displayName)
                # \(plan.vmnet): subnet \(plan.subnet), gateway and DNS \(plan.gateway), host adapter \(plan.hostAddress), DHCP pool \(plan.dhcp)
                # DHCP reservations: \(plan.reservations.count) (one per node: MAC -> static address)
                # The nodes' own DNS servers (\(lab.network.dns.map(\.description).joined(separator: ", "))) go into their netplan, not into these files.

                """
            if host == .windows {
                out += "\n==> vnetlib commands (PowerShell, run as Administrator) <==\n"
                out += try VnetlibScript(plan).render(plan)
                return out
            }
            for file in try HostNetworkRenderer.files(plan, os: host, writtenAt: now) {
                out += "\n==> \(file.path) <==\n" + file.content
            }
            return out
        }
    }
}
