import ArgumentParser
import Foundation
import LabKit
import VMwareDriver

extension Labctl {
    /// `labctl net`: the VMware NAT network (VMnet8) on the host.
    struct NetCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "net",
            abstract: "Show or apply the VMware NAT network (VMnet8) configuration the lab needs.",
            discussion: """
                The lab's nodes live on VMware's NAT network. Its subnet, gateway, DHCP pool and the nodes' \
                DHCP reservations are set in files on Linux and macOS and with vnetlib commands on Windows. \
                See docs/network.md.

                EXAMPLES:
                  labctl net show                     The files for this host
                  labctl net show --host windows      The vnetlib commands for a Windows host
                  sudo labctl net apply               Review the diff, confirm, write and restart networking
                """,
            subcommands: [NetShowCommand.self, NetApplyCommand.self]
        )
    }
}

extension VMwareHostOS: ExpressibleByArgument {
    public init?(argument: String) { self.init(rawValue: argument.lowercased()) }
    public static var allValueStrings: [String] { allCases.map(\.rawValue) }
}
