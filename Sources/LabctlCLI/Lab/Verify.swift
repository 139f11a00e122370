import ArgumentParser
import Foundation
import LabKit
import LabStages
import LabXML

extension Labctl {
    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "verify",
            abstract: "Check the mesh now: call helloworld from every cluster until both versions answered.",
            discussion: """
                Re-runs the cross-cluster check of seed 14 at any time (the same check `labctl up` \
                ends with): from the client pod in each cluster's sample namespace, call \
                helloworld.sample:5000/hello until every version (v1 from the first cluster, v2 from \
                the second) has answered, at most 30 times per cluster. Prints, per cluster, which \
                versions answered and after how many tries. Exits non-zero when a version never \
                answered from some side. Changes nothing in the lab.

                --junit FILE writes the same as a JUnit XML report (one test case per direction), \
                written atomically, for CI systems.

                EXAMPLES:
                  labctl verify                                 A table for ./lab.json
                  labctl verify --junit reports/mesh.xml        Also write a JUnit report
                  labctl verify --format json | jq '.[] | select(.ok | not)'
                """
        )

        enum Format: String, ExpressibleByArgument, CaseIterable { case table, json }

        @OptionGroup var labOptions: LabOptions

        @Option(name: .long, help: "Output format: table or json.")
        var format: Format = .table

        @Option(name: .long, help: ArgumentHelp("Also write a JUnit XML report to this file.", valueName: "file"),
                completion: .file(extensions: ["xml"]))
        var junit: String?

        func run() async throws {
            let env = try LabEnvironment.make(try labOptions.load(), readOnly: true)
            let started = Date()
            let results: [MeshVerifyResult]
            do {
                results = try await MeshVerifier(services: env.services).run()
                await env.services.sessions.closeAll()
            } catch {
                await env.services.sessions.closeAll()
                throw error
            }
            if let junit {
                try Self.writeJUnit(results, to: junit, lab: env.lab.name, started: started)
            }
            let text = format == .json ? Self.json(results) : Self.table(results)
            FileHandle.standardOutput.write(Data(text.utf8))
            let failed = results.filter { !$0.ok }
            if failed.count == 1, let only = failed.first { throw only.error }
            if !failed.isEmpty { throw LabErrors(failed.map(\.error)) }
        }

        // MARK: Rendering (pure, tested in VerifyTests)

        static func table(_ results: [MeshVerifyResult]) -> String {
            let header = ["FROM", "ANSWERED", "EXPECTED", "TRIES", "RESULT"]
            let cells = results.map { r in
                [r.cluster, r.answered.isEmpty ? "-" : r.answered.joined(separator: ","), r.expected.joined(separator: ","),
                 "\(r.tries)/\(r.maxTries)",
                 r.ok ? "ok" : (r.missing.isEmpty ? "FAILED: \(r.failure ?? "see log")" : "FAILED: \(r.missing.joined(separator: ",")) never answered")]
            }
            return TextTable.render(header: header, rows: cells)
        }

        struct JSONRow: Codable, Equatable {
            var from: String
            var answered: [String]
            var expected: [String]
            var missing: [String]
            var tries: Int
            var maxTries: Int
            var ok: Bool
            var seconds: Double
            var failure: String?
        }

        static func json(_ results: [MeshVerifyResult]) -> String {
            let rows = results.map {
                JSONRow(from: $0.cluster, answered: $0.answered, expected: $0.expected, missing: $0.missing, tries: $0.tries,
                        maxTries: $0.maxTries, ok: $0.ok, seconds: ($0.seconds * 1000).rounded() / 1000, failure: $0.failure)
            }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            guard let data = try? encoder.encode(rows) else { return "[]\n" }
            return String(decoding: data, as: UTF8.self) + "\n"
        }

        /// One suite (`mesh`), one test case per direction: `cluster1 -> helloworld` is the call
        /// from cluster1, which must reach the versions of every cluster.
        static func junitReport(_ results: [MeshVerifyResult], lab: String, started: Date) -> JUnitReport {
            let formatter = DateFormatter()
            formatter.locale = Locale(identifier: "en_US_POSIX")
            formatter.timeZone = TimeZone(identifier: "UTC")
            formatter.dateFormat = "yyyy-MM-dd'T'HH:mm:ss"
            let cases = results.map { r -> JUnitReport.Case in
                let failure = r.ok ? nil : JUnitReport.Failure(
                    message: r.error.message, type: "MeshVerification",
                    text: "answered: \(r.answered.isEmpty ? "none" : r.answered.joined(separator: ","))\n"
                        + "expected: \(r.expected.joined(separator: ","))\ntries: \(r.tries) of \(r.maxTries)\n"
                        + (r.error.hint.map { "hint: \($0)\n" } ?? ""))
                let out = (["from \(r.cluster): answered \(r.answered.joined(separator: ",")) in \(r.tries) tries"] + r.log)
                    .joined(separator: "\n")
                return JUnitReport.Case(name: "\(r.cluster) -> helloworld", classname: "labctl.verify.\(r.cluster)", time: r.seconds,
                                        failure: failure, systemOut: out)
            }
            return JUnitReport(name: "labctl verify", suites: [
                JUnitReport.Suite(name: "mesh \(lab)", timestamp: formatter.string(from: started),
                                  hostname: ProcessInfo.processInfo.hostName, cases: cases),
            ])
        }

        static func writeJUnit(_ results: [MeshVerifyResult], to path: String, lab: String, started: Date) throws {
            let xml: String
            do {
                xml = try JUnitXML.write(junitReport(results, lab: lab, started: started))
            } catch {
                throw LabError(.internalError, "could not write the JUnit report", location: .file(path), cause: error)
            }
            // AtomicFile creates the report's folder, and its errors name the file and a full disk.
            try AtomicFile.write(Data(xml.utf8), to: path)
        }
    }
}
