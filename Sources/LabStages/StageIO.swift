import Foundation
import LabKit

/// Builds the secret inputs scripts read after their text on standard input.
public enum StageInputs {
    /// The four files of a cluster's Istio CA (`<pki>/<cluster>/…`), as `name base64` lines.
    public static let caFiles = ["ca-cert.pem", "ca-key.pem", "root-cert.pem", "cert-chain.pem"]

    public static func caCertificates(directory: String) throws -> String {
        try caFiles.map { file in
            let path = (directory as NSString).appendingPathComponent(file)
            guard let data = FileManager.default.contents(atPath: path) else {
                throw LabError(.notFound, "the Istio CA file \(file) is missing", location: .file(path),
                               hint: "labctl creates it with the CA stage; re-run labctl up")
            }
            return "\(file) \(data.base64EncodedString())"
        }.joined(separator: "\n")
    }

    /// The merged kubeconfig, base64 on one line.
    public static func kubeconfig(_ text: String) -> String {
        Data(text.utf8).base64EncodedString()
    }
}

/// Reads the `key=value` lines scripts print on standard output (logs go to stderr).
public enum StageOutput {
    public static func parse(_ stdout: String) -> [String: String] {
        var values: [String: String] = [:]
        for line in stdout.split(separator: "\n") {
            guard let eq = line.firstIndex(of: "="), eq != line.startIndex else { continue }
            let key = String(line[..<eq])
            guard !key.contains(" ") else { continue }
            values[key] = String(line[line.index(after: eq)...])
        }
        return values
    }
}

/// Compares `node-verify`'s output with what lab.json says the node should be (seed 7.5).
public enum NodeVerification {
    public static func problems(_ output: [String: String], lab: Lab, node: NodeSpec) -> [LabError] {
        var problems: [LabError] = []
        func expect(_ key: String, _ want: String, _ what: String) {
            let have = output[key] ?? ""
            if have != want {
                problems.append(LabError(.commandFailed, "\(what) is '\(have)', expected '\(want)'", location: .node(node.name),
                                         hint: "re-run the node-identity stage: labctl up"))
            }
        }
        expect("hostname", node.name, "the hostname")
        expect("address", "\(node.address)/\(lab.network.subnet.prefixLength)", "the address on \(lab.base.interface)")
        expect("gateway", lab.network.gateway.description, "the default gateway")
        expect("dns", lab.network.dns.map(\.description).joined(separator: ","), "the DNS servers")
        expect("hostsEntry", node.address.description, "the /etc/hosts entry for the hostname")
        // The node is a clone of the base: a base of another architecture than lab.json's base.arch would
        // get downloads it cannot run (issue 15.3). The base is powered off in base.check, so this is the first look.
        let machine = output["machine"] ?? ""
        if machine != lab.base.arch.unameMachine {
            problems.append(LabError(.invalidInput,
                                     "the node runs \(machine.isEmpty ? "an unknown architecture" : machine) (uname -m), but lab.json base.arch is \(lab.base.arch.rawValue) (\(lab.base.arch.unameMachine))",
                                     location: .other("node \(node.name), cloned from the base VM \(lab.base.name)"),
                                     hint: "set base.arch in lab.json to the base image's architecture (amd64 for x86_64, arm64 for aarch64), or point base.vmx at a \(lab.base.arch.rawValue) base"))
        }
        if (output["machineId"] ?? "").count != 32 {
            problems.append(LabError(.commandFailed, "the machine-id is missing or malformed", location: .node(node.name)))
        }
        return problems
    }
}
