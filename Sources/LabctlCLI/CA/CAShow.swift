import ArgumentParser
import Foundation
import LabKit
import LabPKI
import X509

extension Labctl {
    struct CAShow: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "show",
            abstract: "Show the lab's Istio root CA and each cluster's intermediate.",
            discussion: """
                Checks that every cluster's root-cert.pem is the lab's root and that each intermediate
                chains to it (the corrected seed step 12.4). Exits non-zero when trust is broken.

                EXAMPLES:
                  labctl ca show
                  labctl ca show --format json --lab ~/labs/mesh/lab.json
                """
        )

        enum Format: String, ExpressibleByArgument, CaseIterable { case table, json }

        @OptionGroup var labOptions: LabOptions
        @Option(help: "Output format.") var format: Format = .table

        func run() async throws {
            let loaded = try labOptions.load()
            let status = try CAStatus.read(paths: loaded.paths, profile: try loaded.caProfile(),
                                           clusters: loaded.lab.clusters.map(\.name))
            switch format {
            case .json:
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                encoder.dateEncodingStrategy = .iso8601
                print(String(decoding: try encoder.encode(status), as: UTF8.self))
            case .table:
                for line in status.table() { print(line) }
            }
            if let error = status.failure { throw error }
        }
    }
}

/// What `labctl ca show` reports; computed without printing so tests can read it.
struct CAStatus: Codable, Equatable {
    struct Root: Codable, Equatable {
        var path: String
        var sha256: String
        var notAfter: Date
    }

    struct Cluster: Codable, Equatable {
        var name: String
        /// nil when the cluster has no intermediate yet.
        var sha256: String?
        var notAfter: Date?
        var trusted: Bool
        var problems: [String]
    }

    var root: Root?
    var clusters: [Cluster]

    static func read(paths: LabPaths, profile: CAProfile, clusters names: [String], now: Date = Date()) throws -> CAStatus {
        let ca: MeshCA
        do {
            ca = try MeshCA.load(in: paths, profile: profile, now: now)
        } catch let error as LabError where error.code == .notFound {
            return CAStatus(root: nil, clusters: names.map {
                Cluster(name: $0, sha256: nil, notAfter: nil, trusted: false, problems: [])
            })
        }
        let root = Root(path: ca.rootCertPath, sha256: try sha256Fingerprint(of: ca.root), notAfter: ca.root.notValidAfter)
        var clusters: [Cluster] = []
        for name in names {
            let report = try MeshCA.verifyTrust(in: paths, clusters: [name], now: now)
            let entry = report.clusters.first
            let notIssued = report.problems.contains { $0.code == .notFound } && entry == nil
            clusters.append(Cluster(name: name, sha256: entry?.intermediateFingerprint,
                                    notAfter: entry?.intermediateNotAfter, trusted: report.isTrusted,
                                    problems: notIssued ? [] : report.problems.map(\.message)))
        }
        return CAStatus(root: root, clusters: clusters)
    }

    /// The error `ca show` exits with: the first broken cluster (a missing intermediate is not broken).
    var failure: LabError? {
        guard let bad = clusters.first(where: { !$0.problems.isEmpty }) else { return nil }
        return LabError(.security, "the Istio trust of \(bad.name) is broken: \(bad.problems.joined(separator: "; "))",
                        hint: "re-issue the cluster's intermediate (`labctl rebuild \(bad.name)`), or see docs/pki.md")
    }

    func table() -> [String] {
        let day = { (d: Date) -> String in
            let f = DateFormatter()
            f.locale = Locale(identifier: "en_US_POSIX")
            f.timeZone = TimeZone(identifier: "UTC")
            f.dateFormat = "yyyy-MM-dd"
            return f.string(from: d)
        }
        guard let root else {
            return ["No Istio CA yet: `labctl up` creates it before the mesh stages."]
        }
        var lines = ["ROOT      \(root.path)", "  SHA-256 \(root.sha256)", "  valid until \(day(root.notAfter))", ""]
        let rows = [["CLUSTER", "VALID UNTIL", "TRUST", "INTERMEDIATE SHA-256"]] + clusters.map { c in
            [c.name, c.notAfter.map(day) ?? "-",
             c.sha256 == nil ? "not issued" : c.trusted ? "ok" : "BROKEN",
             c.sha256 ?? "-"]
        }
        lines += TextTable.lines(rows)
        for c in clusters where !c.problems.isEmpty {
            lines.append("")
            lines.append("\(c.name):")
            lines += c.problems.map { "  - \($0)" }
        }
        return lines
    }
}
