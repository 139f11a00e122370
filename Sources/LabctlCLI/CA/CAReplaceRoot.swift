import ArgumentParser
import Foundation
import LabKit
import LabPKI

extension Labctl {
    struct CAReplaceRoot: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "replace-root",
            abstract: "Replace the lab's Istio root CA (breaks the mesh until every cluster is redeployed).",
            discussion: """
                Without --yes, only says what would break. With --yes, keeps the old root in
                .labctl/pki/retired/, makes a new one and issues a new intermediate for every cluster
                that had one. Each cluster's cacerts secret, istiod and meshed workloads must then be
                redeployed (docs/pki.md, "Replacing the root").

                EXAMPLES:
                  labctl ca replace-root
                  labctl ca replace-root --yes
                """
        )

        @OptionGroup var labOptions: LabOptions
        @Flag(help: "Really replace the root.") var yes = false

        func run() async throws {
            let loaded = try labOptions.load()
            for line in try Self.perform(paths: loaded.paths, profile: try loaded.caProfile(), confirmed: yes) { print(line) }
        }

        /// Does the work and returns what to print; throws `.conflict` without confirmation.
        static func perform(paths: LabPaths, profile: CAProfile, confirmed: Bool, now: Date = Date()) throws -> [String] {
            let issued = try MeshCA.issuedClusters(in: paths)
            guard confirmed else {
                let who = issued.isEmpty ? "no cluster has an intermediate yet" : "the intermediates of \(issued.joined(separator: ", ")) stop chaining to the lab's root"
                throw LabError(.conflict, "replacing the Istio root CA breaks the mesh: \(who), and each cluster's cacerts secret, istiod and meshed workloads must be redeployed",
                               location: .file(paths.pki), hint: "rerun with --yes to replace it (docs/pki.md, \"Replacing the root\")")
            }
            let (ca, replacement) = try MeshCA.replaceRoot(in: paths, profile: profile, now: now)
            var lines = replacement.consequences
            for cluster in replacement.staleClusters {
                try ca.issueIntermediate(cluster: cluster, now: now)
                lines.append("Issued a new intermediate for \(cluster) in \(MeshCA.clusterDirectory(cluster, in: paths)).")
            }
            let report = try MeshCA.verifyTrust(in: paths, clusters: replacement.staleClusters, now: now)
            try report.check()
            return lines
        }
    }
}
