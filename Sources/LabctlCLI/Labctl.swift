import ArgumentParser
import Foundation
import LabKit

/// The root command. `labctl` (the executable) only calls `Labctl.main()`.
public struct Labctl: AsyncParsableCommand {
    public static let version = "0.1.0"

    public static let configuration = CommandConfiguration(
        commandName: "labctl",
        abstract: "Build and run a VMware Workstation lab: two kubeadm clusters in one Istio mesh.",
        discussion: """
            labctl reads a declarative lab.json and turns the hand-written guide into a few commands.

            EXAMPLES:
              labctl validate lab.json          Check the lab file and its network plan
              labctl up                         Bring the lab up (safe to re-run)
              labctl plan                       Show what up would do now
              labctl snapshot restore snapshot#2  Back to the nodes' checkpoint
              labctl rebuild cluster2           Re-create one cluster, leave the rest running
              labctl net show                   Print the VMnet8 configuration the lab needs
              labctl version --verbose          Show labctl's version and its C libraries
            """,
        version: Labctl.version,
        groupedSubcommands: [
            CommandGroup(name: "Lab", subcommands: [Up.self, DoctorCommand.self, BaseCommand.self, Plan.self, Status.self, Logs.self, KubeconfigCommand.self, Validate.self, Schema.self, Destroy.self, Rebuild.self]),
            CommandGroup(name: "Snapshots", subcommands: [Snapshot.self]),
            CommandGroup(name: "Network", subcommands: [NetCommand.self]),
            CommandGroup(name: "Mesh", subcommands: [Verify.self, CA.self]),
            CommandGroup(name: "Nodes", subcommands: [SSHCommand.self, SSHConfigCommand.self]),
            CommandGroup(name: "Other", subcommands: [Cache.self, VersionCommand.self]),
        ]
    )

    public init() {}
}
