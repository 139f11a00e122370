import ArgumentParser
import Foundation
import LabKit

extension Labctl {
    struct KubeconfigCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "kubeconfig",
            abstract: "Print the path of the lab's merged kubeconfig (both clusters' contexts).",
            discussion: """
                `labctl up` fetches both clusters' admin kubeconfigs, merges them into one file \
                with contexts named after the clusters (seed 11) and writes it to the lab's state \
                directory with mode 0600. This prints its path, or the shell line that selects it.

                EXAMPLES:
                  labctl kubeconfig                          /home/me/lab/.labctl/kubeconfig
                  eval "$(labctl kubeconfig --export)"       Use it in this shell
                  kubectl --kubeconfig "$(labctl kubeconfig)" --context cluster2 get nodes
                """
        )

        @OptionGroup var labOptions: LabOptions

        @Flag(name: .long, help: "Print `export KUBECONFIG=PATH` instead of the path.")
        var export = false

        func run() async throws {
            let loaded = try labOptions.load()
            let path = Self.absolute(loaded.paths.kubeconfig)
            guard FileManager.default.fileExists(atPath: path) else {
                throw LabError(.notFound, "the lab has no merged kubeconfig yet", location: .file(path),
                               hint: "run labctl up; the lab.kubeconfig stage writes it after both clusters are up")
            }
            print(export ? Self.exportLine(path) : path)
        }

        static func exportLine(_ path: String) -> String { "export KUBECONFIG=\(shellQuote(path))" }

        static func absolute(_ path: String) -> String {
            path.hasPrefix("/") ? path
                : ((FileManager.default.currentDirectoryPath as NSString).appendingPathComponent(path) as NSString).standardizingPath
        }
    }
}
