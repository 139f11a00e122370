import ArgumentParser
import LabKit

extension Labctl {
    struct Schema: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "schema",
            abstract: "Print the JSON Schema of lab.json.",
            discussion: """
                The schema (draft 2020-12) describes every field of the lab file with its \
                type, default and meaning. Point your editor at it for completion and checks; \
                `labctl validate` checks the network plan beyond what a schema can say.

                EXAMPLES:
                  labctl schema > lab.schema.json
                  labctl schema | python3 -m json.tool
                """
        )

        func run() {
            print(LabSchema.json)
        }
    }
}
