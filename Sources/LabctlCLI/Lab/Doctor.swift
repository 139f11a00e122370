import ArgumentParser
import Foundation
import LabKit
import VMwareDriver

extension Labctl {
    struct DoctorCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "doctor",
            abstract: "Check this host before `labctl up`: vmrun, the base VM, VMnet8, the route to the lab, disk, memory, SSH key.",
            discussion: """
                Runs the preflight checks on this host (Linux, macOS with Fusion, or WSL2 driving \
                VMware Workstation on Windows) and says, for every check that does not pass, what to \
                do. Sends no packet and changes nothing. Each check has its own deadline. `labctl up` \
                runs the same checks first and stops when one fails (`up --skip-doctor` starts anyway).

                Checks: vmrun found and its version; the product (-T ws/fusion/player) fits the host; \
                the base VM exists with both checkpoints (base.workerCheckpoint, \
                base.controlPlaneCheckpoint); the host's VMware DHCP and NAT files match the lab's \
                network (labctl net show); this host has the lab's host address (network.hostAddress), \
                so it can reach the guests; free disk in vmware.vmFolder; memory for the nodes' memoryMiB; \
                the SSH key (ed25519, mode 0600).

                Exit status: 0 when no check failed (warnings allowed), 1 otherwise.

                EXAMPLES:
                  labctl doctor                                Check this host for ./lab.json
                  labctl doctor --lab labs/home.json
                  labctl doctor --format json | jq '.results[] | select(.status == "fail")'
                """
        )

        enum Format: String, ExpressibleByArgument, CaseIterable { case table, json }

        @OptionGroup var labOptions: LabOptions

        @Option(name: .long, help: "Output format: table or json.")
        var format: Format = .table

        func run() async throws {
            let report = try await Self.report(try labOptions.load())
            let text = format == .json ? try Self.json(report) : Self.table(report)
            FileHandle.standardOutput.write(Data(text.utf8))
            if !report.passed { throw ExitCode(1) }
        }

        static func report(_ loaded: LoadedLab, environment: [String: String] = ProcessInfo.processInfo.environment) async throws -> DoctorReport {
            let doctor = VMwareDoctor(lab: loaded.lab, environment: environment)
            return await doctor.run(sshKeyPath: loaded.lab.ssh.privateKey ?? loaded.paths.privateKey)
        }

        static func table(_ report: DoctorReport) -> String {
            var out = "Host: \(report.host)\n"
            for r in report.results {
                out += "\(r.status.rawValue.uppercased().padding(toLength: 12, withPad: " ", startingAt: 0))\(r.title): \(r.detail)\n"
                if let hint = r.hint, r.status != .pass { out += "            -> \(hint)\n" }
            }
            let fails = report.failures.count
            out += fails == 0 ? "No check failed.\n" : "\(fails) check\(fails == 1 ? "" : "s") failed.\n"
            return out
        }

        static func json(_ report: DoctorReport) throws -> String {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            return String(decoding: try encoder.encode(report), as: UTF8.self) + "\n"
        }
    }
}
