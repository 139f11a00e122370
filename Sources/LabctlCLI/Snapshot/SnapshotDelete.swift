import ArgumentParser
import Foundation
import LabKit
import LabStages

extension Labctl {
    struct SnapshotDelete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "delete",
            abstract: "Delete a lab snapshot: every node's VMware snapshot, then its manifest.",
            discussion: """
                Refuses, before changing anything, a snapshot that linked clones depend on (naming them); \
                snapshots of the base VM are never deleted by labctl. Also finishes an interrupted save or \
                delete of that name.

                EXAMPLES:
                  labctl snapshot delete before-upgrade
                  labctl snapshot rm snapshot#7
                """,
            aliases: ["rm"]
        )

        @Argument(help: "The lab snapshot to delete.")
        var name: String

        @OptionGroup var labOptions: LabOptions

        func run() async throws {
            let env = try LabEnvironment.make(try labOptions.load())
            let snapshots = env.services.snapshots(progress: LabCommandSupport.progress)
            let name = self.name
            let m = try await LabCommandSupport.locked(env.paths) { try await snapshots.delete(name: name) }
            print("deleted lab snapshot \(name) (\(m.nodes.count) node snapshot(s))")
        }
    }
}
