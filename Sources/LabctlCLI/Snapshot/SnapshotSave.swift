import ArgumentParser
import Foundation
import LabKit
import LabStages

extension Labctl {
    struct SnapshotSave: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "save",
            abstract: "Snapshot every node (or a selection) in parallel as one lab snapshot.",
            discussion: """
                Takes a VMware snapshot of each selected VM (running VMs keep running) and records them, \
                by uid, with the stage journal's position. Without NAME the next snapshot#N that no lab \
                snapshot, VM snapshot or lab.json checkpoint uses is taken. A name that exists is refused. \
                If a save was killed, saving the same name again first removes what it had made.

                EXAMPLES:
                  labctl snapshot save before-upgrade
                  labctl snapshot save                             Next free snapshot#N
                  labctl snapshot save c2-only --cluster cluster2
                  labctl snapshot save workers --nodes cluster1-worker-node01,cluster2-worker-node01
                """
        )

        @Argument(help: "The lab snapshot's name (default: the next free snapshot#N).")
        var name: String?

        @OptionGroup var selection: NodeSelectionOptions
        @OptionGroup var labOptions: LabOptions

        func run() async throws {
            let name = self.name
            let selection = self.selection.selection
            let (out, took) = try await LabCommandSupport.withSnapshots(labOptions) { try await $0.save(name: name, selection: selection) }
            let m = out.manifest
            print("saved lab snapshot \(m.name): \(m.nodes.count) node(s) in \(formatDuration(took)), journal position \(m.journalPosition)\(m.stage.map { ", after \($0)" } ?? "")")
        }
    }
}
