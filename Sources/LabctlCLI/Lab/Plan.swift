import ArgumentParser
import Foundation
import LabKit
import LabStages

extension Labctl {
    struct Plan: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "plan",
            abstract: "Show what `labctl up` would do now, without doing it.",
            discussion: """
                Reads the journal and observes the lab (VMs present and powered, snapshots, nodes \
                that answer) to show, for every stage and node, "done", "will run" (and why) or \
                "blocked by" the stages that must run first. Changes nothing: no VM, no journal, no lock.

                EXAMPLES:
                  labctl plan                                  The plan for ./lab.json
                  labctl plan --from node.identity             What `up --from node.identity` would run
                  labctl plan --format json | jq '.[] | select(.status != "done")'
                """
        )

        enum Format: String, ExpressibleByArgument, CaseIterable { case table, json }

        @OptionGroup var labOptions: LabOptions

        @Option(name: .long, help: "Output format: table or json.")
        var format: Format = .table

        @Option(name: .long, help: ArgumentHelp("Plan `up --from STAGE[@SCOPE]`.", valueName: "stage"))
        var from: String?

        @Option(name: .long, help: ArgumentHelp("Plan `up --only STAGE[@SCOPE]`.", valueName: "stage"))
        var only: String?

        func run() async throws {
            let env = try LabEnvironment.make(try labOptions.load(), readOnly: true)
            let stages = StageCatalog.stages(env.services)
            let selection = try StageSelectionParsing.selection(from: from, only: only, stages: stages, topology: env.topology)
            let graph = try StageGraph(stages: stages, topology: env.topology)
            let journal = try Journal.load(path: env.paths.journal)
            let entries = try await Planner.plan(graph: graph, journal: journal, selection: selection)
            await env.services.sessions.closeAll()
            let text = format == .json ? PlanRendering.json(entries) : PlanRendering.table(entries)
            FileHandle.standardOutput.write(Data(text.utf8))
        }
    }
}
