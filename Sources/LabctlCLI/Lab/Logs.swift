import ArgumentParser
import Foundation
import LabKit

extension Labctl {
    struct Logs: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "logs",
            abstract: "Print (or follow) a node's log.",
            discussion: """
                Every stage that works on a node appends to its log in the lab's state directory \
                (.labctl/logs/NODE.log): commands, script output (secrets redacted), waits and \
                errors. `host` is the log of lab-wide stages. With --follow, new lines are printed \
                as they arrive until Ctrl-C.

                EXAMPLES:
                  labctl logs cluster1-ctrl-plane              The whole log
                  labctl logs cluster1-ctrl-plane --tail 50    The last 50 lines
                  labctl logs cluster2-worker-node01 --follow  Follow it while `labctl up` runs
                """
        )

        @OptionGroup var labOptions: LabOptions

        @Argument(help: ArgumentHelp("A node of the lab, or `host`.", valueName: "node"))
        var node: String

        @Flag(name: [.short, .long], help: "Keep printing new lines until Ctrl-C.")
        var follow = false

        @Option(name: .long, help: ArgumentHelp("Print only the last N lines first.", valueName: "n"))
        var tail: Int?

        func run() async throws {
            let loaded = try labOptions.load()
            guard node == "host" || loaded.lab.node(named: node) != nil else {
                throw LabError(.invalidInput, "no node named \(node) in the lab", location: .file(labOptions.lab),
                               hint: "nodes: \(loaded.lab.nodes.map(\.name).joined(separator: ", ")), or host")
            }
            let path = node == "host" ? (loaded.paths.logs as NSString).appendingPathComponent("host.log") : loaded.paths.log(node: node)
            if !FileManager.default.fileExists(atPath: path) && !follow {
                throw LabError(.notFound, "no log for \(node) yet", location: .file(path), hint: "logs appear once `labctl up` works on the node")
            }
            var offset: UInt64 = 0
            if let data = FileManager.default.contents(atPath: path) {
                var text = String(decoding: data, as: UTF8.self)
                if let tail {
                    let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
                    let trimmed = lines.last == "" ? lines.dropLast() : lines[...]
                    text = trimmed.suffix(max(0, tail)).joined(separator: "\n") + (trimmed.isEmpty ? "" : "\n")
                }
                FileHandle.standardOutput.write(Data(text.utf8))
                offset = UInt64(data.count)
            }
            guard follow else { return }
            // Bounded by the user: Ctrl-C (SIGINT's default action) ends it; each poll is short.
            while !Task.isCancelled {
                try await Task.sleep(for: .milliseconds(300))
                guard let handle = FileHandle(forReadingAtPath: path) else { continue }
                defer { try? handle.close() }
                let size = (try? handle.seekToEnd()) ?? 0
                if size < offset { offset = 0 } // truncated or replaced: start over
                guard size > offset else { continue }
                try handle.seek(toOffset: offset)
                let data = handle.readData(ofLength: Int(size - offset))
                offset += UInt64(data.count)
                FileHandle.standardOutput.write(data)
            }
        }
    }
}
