import ArgumentParser
import Foundation
import LabKit

extension Labctl {
    struct Validate: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "validate",
            abstract: "Check the lab file and its network plan.",
            discussion: """
                Reads lab.json strictly (unknown keys, wrong types, malformed JSON) and checks \
                the network plan: addresses inside the subnet and outside DHCP, unique names, \
                addresses and MACs, MetalLB pools, pod and service CIDRs, one control plane per \
                cluster. Every problem is reported at once, with its lab.json path. Nothing is \
                touched: no VM, no network.

                Exit status: 0 when the lab is valid (warnings included), 2 when it is not, \
                3 when the file does not exist.

                EXAMPLES:
                  labctl validate                       Check ./lab.json
                  labctl validate labs/three.json       Check another lab file
                  labctl validate --effective           Print the lab with all defaults
                  labctl validate --format json         Machine-readable result
                """
        )

        enum Format: String, ExpressibleByArgument, CaseIterable {
            case text, json
        }

        @Argument(help: ArgumentHelp("The lab file (default: lab.json).", valueName: "file"),
                  completion: .file(extensions: ["json"]))
        var file: String?

        @Option(name: .long, help: ArgumentHelp("The lab file (same as the positional FILE).", valueName: "file"),
                completion: .file(extensions: ["json"]))
        var lab: String?

        @Flag(name: .long, help: "Print the effective lab (every default filled in) as JSON.")
        var effective = false

        @Option(name: .long, help: "Output format: text or json.")
        var format: Format = .text

        func validate() throws {
            if let file, let lab, file != lab {
                throw ValidationError("give the lab file once: either FILE or --lab, not both")
            }
        }

        var path: String { file ?? lab ?? "lab.json" }

        /// What the command prints and its exit status, so tests can run it in-process.
        struct Output: Equatable {
            var stdout: String = ""
            var stderr: String = ""
            var exitCode: Int32 = 0
        }

        func run() throws {
            let out = execute()
            // Warnings and errors first, so they are not lost above a long summary.
            if !out.stderr.isEmpty { Terminal.printError(String(out.stderr.dropLast(out.stderr.hasSuffix("\n") ? 1 : 0))) }
            if !out.stdout.isEmpty { print(out.stdout, terminator: "") }
            if out.exitCode != 0 { throw ExitCode(out.exitCode) }
        }

        func execute() -> Output {
            var out = Output()
            let loaded: LoadedLab
            do {
                loaded = try LabLoader.load(path: path)
            } catch let error as LabError {
                return failure([error], out: &out)
            } catch let errors as LabErrors {
                return failure(errors.errors, out: &out)
            } catch {
                return failure([LabError(.internalError, "unexpected error", location: .file(path), cause: error)], out: &out)
            }
            switch format {
            case .json:
                out.stdout = Self.json(valid: true, errors: [], warnings: loaded.warnings, lab: effective ? loaded.lab : nil)
            case .text:
                out.stderr = loaded.warnings.map { Labctl.render($0, kind: "warning") + "\n" }.joined()
                out.stdout = effective ? Self.effectiveJSON(loaded.lab) : Self.summary(loaded)
            }
            return out
        }

        private func failure(_ errors: [LabError], out: inout Output) -> Output {
            out.exitCode = errors.map(\.exitCode).max() ?? 2
            switch format {
            case .json:
                out.stdout = Self.json(valid: false, errors: errors, warnings: [], lab: nil)
            case .text:
                var text = errors.map { Labctl.render($0, kind: "error") + "\n" }.joined()
                if errors.count > 1 { text += "\(errors.count) errors in \(path)\n" }
                out.stderr = text
            }
            return out
        }

        /// The effective lab as pretty JSON with sorted keys; decoding it again gives the same lab.
        static func effectiveJSON(_ lab: Lab) -> String {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            guard let data = try? encoder.encode(lab) else { return "{}\n" }
            return String(decoding: data, as: UTF8.self) + "\n"
        }

        struct Problem: Encodable {
            var code: String
            var message: String
            var location: String?
            var hint: String?
            init(_ e: LabError) {
                code = e.code.rawValue
                message = e.message
                location = e.location?.description
                hint = e.hint
            }
        }

        struct Result: Encodable {
            var valid: Bool
            var errors: [Problem]
            var warnings: [Problem]
            var lab: Lab?
        }

        static func json(valid: Bool, errors: [LabError], warnings: [LabError], lab: Lab?) -> String {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            let result = Result(valid: valid, errors: errors.map(Problem.init), warnings: warnings.map(Problem.init), lab: lab)
            guard let data = try? encoder.encode(result) else { return "{\"valid\": false}\n" }
            return String(decoding: data, as: UTF8.self) + "\n"
        }

        /// A short human summary of a valid lab.
        static func summary(_ loaded: LoadedLab) -> String {
            let lab = loaded.lab
            let n = lab.network
            var lines = ["\(loaded.file) is valid" + (loaded.warnings.isEmpty ? "" : " (\(loaded.warnings.count) warning\(loaded.warnings.count == 1 ? "" : "s"))"), ""]
            lines.append("lab      \(lab.name)  profile \(lab.profile)  mesh \(lab.mesh.id)")
            lines.append("network  \(n.vmnet) \(n.subnet)  gateway \(n.gateway)  host \(n.hostAddress)  dhcp \(n.dhcp)  dns \(n.dns.map(\.description).joined(separator: ","))")
            lines.append("base     \(lab.base.name)  \(lab.base.address?.description ?? "dhcp")")
            let rows = lab.clusters.flatMap { c in c.nodes.map { (c.name, $0) } }
            let nameWidth = max(4, rows.map(\.1.name.count).max() ?? 0)
            for c in lab.clusters {
                lines.append("")
                lines.append("cluster  \(c.name)  network \(c.network)  pods \(c.podSubnet)  services \(c.serviceSubnet)  metallb \(c.metallb.map(\.description).joined(separator: ","))")
                for node in c.nodes {
                    let name = node.name.padding(toLength: nameWidth, withPad: " ", startingAt: 0)
                    let role = node.role.rawValue.padding(toLength: 13, withPad: " ", startingAt: 0)
                    let addr = node.address.description.padding(toLength: 15, withPad: " ", startingAt: 0)
                    lines.append("  \(name)  \(role)  \(addr)  \(node.mac)  \(node.cpus) cpu  \(node.memoryMiB) MiB")
                }
            }
            return lines.joined(separator: "\n") + "\n"
        }
    }
}
