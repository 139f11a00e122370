import ArgumentParser
import Foundation
import LabKit
import LabStages

extension Labctl {
    struct SnapshotList: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "list",
            abstract: "List the lab snapshots: name, nodes, time, and the stage the lab had reached.",
            discussion: """
                Reads the manifests only (no VM is touched, no lock is taken). STATUS is `complete`, or \
                `pending`/`deleting` for a save or delete that was interrupted (run it again to finish).

                EXAMPLES:
                  labctl snapshot list
                  labctl snapshot ls --format json | jq -r '.[].name'
                """,
            aliases: ["ls"]
        )

        enum Format: String, ExpressibleByArgument, CaseIterable { case table, json }

        @OptionGroup var labOptions: LabOptions
        @Option(help: "Output format: table or json.") var format: Format = .table

        func run() async throws {
            let loaded = try labOptions.load()
            let manifests = try LabSnapshotStore(paths: loaded.paths).all()
            FileHandle.standardOutput.write(Data((format == .json ? Self.json(manifests) : Self.table(manifests)).utf8))
        }

        static func table(_ manifests: [LabSnapshotManifest]) -> String {
            guard !manifests.isEmpty else { return "no lab snapshots (labctl snapshot save NAME takes one)\n" }
            let header = ["NAME", "STATUS", "TAKEN", "NODES", "STAGE REACHED"]
            let rows = manifests.map { m in
                [m.name, m.status.rawValue, LabCommandSupport.time(m.taken), m.nodeNames.joined(separator: ","), m.stage ?? "-"]
            }
            return TextTable.render(header: header, rows: rows)
        }

        struct Row: Codable {
            var name: String
            var status: String
            var taken: String
            var nodes: [String]
            var stage: String?
            var journalPosition: UInt64
            var origin: String
            var snapshots: [String: Int]
        }

        static func json(_ manifests: [LabSnapshotManifest]) -> String {
            let rows = manifests.map { m in
                Row(name: m.name, status: m.status.rawValue, taken: LabCommandSupport.time(m.taken), nodes: m.nodeNames, stage: m.stage,
                    journalPosition: m.journalPosition, origin: m.origin,
                    snapshots: Dictionary(uniqueKeysWithValues: m.nodes.compactMap { n in n.snapshotUID.map { (n.node, $0) } }))
            }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            guard let data = try? encoder.encode(rows) else { return "[]\n" }
            return String(decoding: data, as: UTF8.self) + "\n"
        }
    }
}
