import ArgumentParser
import Foundation
import LabKit
import LabStages

extension Labctl {
    struct SnapshotRestore: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "restore",
            abstract: "Revert every node (or a selection) to a lab snapshot and wait until each answers SSH.",
            discussion: """
                Rewinds the stage journal to the snapshot's position (so `labctl up` continues from there), \
                then reverts each VM to its recorded snapshot (by uid) in parallel, powers on the VMs that \
                were running, and waits until each answers SSH with its pinned host key. A snapshot that \
                lacks some of the selected nodes is refused, naming them. A node that does not come back is \
                named with the command that shows its log. Re-running a killed restore completes it.

                EXAMPLES:
                  labctl snapshot restore snapshot#2              Then `labctl up` re-runs what came after it
                  labctl snapshot restore before-upgrade --cluster cluster2
                """
        )

        @Argument(help: "The lab snapshot to restore.")
        var name: String

        @OptionGroup var selection: NodeSelectionOptions
        @OptionGroup var labOptions: LabOptions

        func run() async throws {
            let name = self.name
            let selection = self.selection.selection
            let (out, took) = try await LabCommandSupport.withSnapshots(labOptions) { try await $0.restore(name: name, selection: selection) }
            print("restored \(name) on \(out.nodes.count) node(s) in \(formatDuration(took)); "
                  + "journal rewound to position \(out.manifest.journalPosition) (\(out.rewound.count) stage record(s) dropped)")
            print("next: \(LabEnvironment.resumeCommand(labFile: labOptions.lab)) continues from there")
        }
    }
}
