import ArgumentParser
import Foundation
import LabKit
import LabStages

extension Labctl {
    struct Rebuild: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rebuild",
            abstract: "Destroy a node or cluster and build it again from cloning onward.",
            discussion: """
                Destroys the scope's VMs (as `labctl destroy`), forgets the scope's journal entries, then \
                runs the stages: exactly that scope's stages run again, plus the lab-scope stages that \
                depend on it (their inputs are newer); every other node and cluster is skipped and its \
                VMs keep running untouched. The mesh's CA root is kept: the rebuilt cluster gets a new \
                intermediate from the same root. If interrupted, `labctl up` (or the same rebuild) \
                completes it. See docs/snapshots.md.

                EXAMPLES:
                  labctl rebuild cluster2
                  labctl rebuild cluster1-worker-node01 --progress plain
                  labctl rebuild cluster2 --to node.checkpoint  Only as far as the nodes' checkpoint
                """
        )

        @Argument(help: ArgumentHelp("The node or cluster to rebuild.", valueName: "node|cluster"))
        var target: String

        @OptionGroup var labOptions: LabOptions
        @OptionGroup var progressOptions: ProgressOptions

        @Option(name: .long, help: ArgumentHelp("Stop after this stage (optionally @SCOPE), as `labctl up --to` does.", valueName: "stage"))
        var to: String?

        func run() async throws {
            let env = try LabEnvironment.make(try labOptions.load(), useCache: true)
            let scope = try env.services.machines.scope(named: target)
            let stages = StageCatalog.stages(env.services)
            let topology = env.topology
            let selection = try StageSelectionParsing.selection(from: nil, only: nil, to: to, stages: stages, topology: topology)
            let paths = env.paths
            let destroy = Destroy.destroyer(env)
            try await StageRunSupport.run(progress: progressOptions, sessions: env.services.sessions,
                                          resumeCommand: LabEnvironment.resumeCommand(labFile: labOptions.lab)) { onEvent in
                try await LabRun.rebuild(scope: scope, stages: stages, topology: topology, paths: paths, selection: selection, prepare: {
                    var d = destroy
                    d.progress = { node, line in onEvent(.log(.node(node), line: "destroy: \(line)")) }
                    try await d.run(scope)
                }, onEvent: onEvent)
            }
        }
    }
}
