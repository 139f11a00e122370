import Foundation
import GuestSSH
import LabKit

/// The lab's SSH-reachable machines by name: every node, plus the base VM when it has a static address.
struct LabSSHTargets {
    let loaded: LoadedLab

    var endpoints: [GuestEndpoint] {
        let lab = loaded.lab
        var result: [GuestEndpoint] = []
        if let base = lab.base.address {
            result.append(GuestEndpoint(node: lab.base.name, host: base.description, port: lab.ssh.port, user: lab.ssh.user))
        }
        for node in lab.nodes {
            result.append(GuestEndpoint(node: node.name, host: node.address.description, port: lab.ssh.port, user: lab.ssh.user))
        }
        return result
    }

    func endpoint(named name: String) throws -> GuestEndpoint {
        if let e = endpoints.first(where: { $0.node == name }) { return e }
        let names = endpoints.map(\.node).joined(separator: ", ")
        throw LabError(.notFound, "there is no node named \(name) in the lab", location: .file(loaded.file),
                       hint: "the lab's nodes are: \(names.isEmpty ? "(none)" : names)")
    }
}
