import Foundation
import GuestSSH
import LabHarness
import LabKit

/// A started sshd plus a lab state dir with the lab key installed on it.
final class SSHRig: @unchecked Sendable {
    let server: LocalSSHServer
    let paths: LabPaths
    let options: SSHOptions
    let key: String

    /// Each rig listens on its own 127.0.0.x address and a free port.
    init() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("labctl-ssh-test-\(UUID().uuidString.prefix(8))/.labctl").path
        paths = LabPaths(root: root)
        key = try SSHKeys.ensureLabKey(paths: paths)
        let pub = try SSHKeys.publicKeyLine(key)
        server = try LocalSSHServer(host: "127.0.0.\(Int.random(in: 2...250))", authorizedKeys: [pub])
        try server.start()
        options = SSHOptions(privateKey: key, knownHosts: paths.knownHosts, logDirectory: paths.logs, keepaliveInterval: 2)
    }

    var connector: SSHConnector { SSHConnector(options: options) }
    var endpoint: GuestEndpoint { GuestEndpoint(node: "node-a", host: server.host, port: server.port, user: server.user) }

    func open(deadline: Duration = .seconds(20)) async throws -> SSHSession {
        try await connector.open(endpoint, deadline: deadline)
    }

    deinit {
        server.stop()
        try? FileManager.default.removeItem(atPath: (paths.root as NSString).deletingLastPathComponent)
    }
}

/// Why the real-sshd tests cannot run here (printed by the skipped tests' condition comment).
let sshUnavailable = LocalSSHServer.unavailableReason
