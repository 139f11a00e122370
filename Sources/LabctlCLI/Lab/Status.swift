import ArgumentParser
import Foundation
import LabKit
import LabStages

extension Labctl {
    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "status",
            abstract: "Show the lab's nodes: power, SSH, last checkpoint and last stage done.",
            discussion: """
                One row per node: cluster, role, address, power state (or "absent" when its VM does \
                not exist), whether SSH answers on its address (a TCP check with a 1 s deadline, only for a running VM), its \
                newest snapshot and the last stage the journal records as done for it. Read-only.

                EXAMPLES:
                  labctl status                                A table for ./lab.json
                  labctl status --format json | jq '.[] | select(.ssh == false)'
                """
        )

        enum Format: String, ExpressibleByArgument, CaseIterable { case table, json }

        @OptionGroup var labOptions: LabOptions

        @Option(name: .long, help: "Output format: table or json.")
        var format: Format = .table

        struct Row: Codable, Sendable, Equatable {
            var node: String
            var cluster: String
            var role: String
            var address: String
            var power: String
            var ssh: Bool
            var checkpoint: String?
            var lastStage: String?
        }

        func run() async throws {
            let env = try LabEnvironment.make(try labOptions.load(), readOnly: true)
            let rows = try await Self.rows(env.services)
            let text = format == .json ? Self.json(rows) : Self.table(rows)
            FileHandle.standardOutput.write(Data(text.utf8))
        }

        static func rows(_ s: LabServices) async throws -> [Row] {
            let journal = try Journal.load(path: s.paths.journal)
            let lab = s.lab
            return await withTaskGroup(of: (Int, Row).self) { group in
                for (i, node) in lab.nodes.enumerated() {
                    group.addTask {
                        let vm = s.vm(node: node.name)
                        var power = "absent"
                        var checkpoint: String?
                        if await s.hypervisor.vmExists(vm) {
                            power = (try? await s.hypervisor.powerState(vm).rawValue) ?? "unknown"
                            if let tree = try? await s.hypervisor.snapshots(vm) {
                                checkpoint = tree.snapshots.max { $0.uid < $1.uid }?.name
                            }
                        }
                        // Only a running VM is asked: no packet goes to an address the lab does not use yet.
                        let ssh = power == "on" ? await s.portProbe.isOpen(host: node.address.description, port: lab.ssh.port, timeout: .seconds(1)) : false
                        let last = journal.entries.filter { $0.scope == .node(node.name) && $0.outcome == .done }
                            .max { $0.sequence < $1.sequence }?.stage
                        return (i, Row(node: node.name, cluster: lab.cluster(of: node)?.name ?? "", role: node.role.rawValue,
                                       address: node.address.description, power: power, ssh: ssh, checkpoint: checkpoint, lastStage: last))
                    }
                }
                var out: [(Int, Row)] = []
                for await r in group { out.append(r) }
                return out.sorted { $0.0 < $1.0 }.map(\.1)
            }
        }

        static func table(_ rows: [Row]) -> String {
            let header = ["NODE", "CLUSTER", "ROLE", "ADDRESS", "POWER", "SSH", "CHECKPOINT", "LAST STAGE"]
            let cells = rows.map { [$0.node, $0.cluster, $0.role, $0.address, $0.power, $0.ssh ? "yes" : "no", $0.checkpoint ?? "-", $0.lastStage ?? "-"] }
            return TextTable.render(header: header, rows: cells)
        }

        static func json(_ rows: [Row]) -> String {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            guard let data = try? encoder.encode(rows) else { return "[]\n" }
            return String(decoding: data, as: UTF8.self) + "\n"
        }
    }
}
