import Foundation
import LabKit

/// One guest session per node, opened on first use and reused by every stage of that node.
///
/// A node's address changes once (first-contact address → its own, after `node-identity`):
/// `reconnect(node:at:)` closes the old session and opens one at the new address. `closeAll()`
/// ends every session at the end of a run.
public actor SessionPool {
    private let lab: Lab
    private let connector: any GuestConnector
    private let connectDeadline: Duration
    private var sessions: [String: any GuestSession] = [:]
    /// Where each node is reached now; its lab.json address unless `reconnect` moved it.
    private var hosts: [String: String] = [:]

    public init(lab: Lab, connector: any GuestConnector, connectDeadline: Duration) {
        self.lab = lab
        self.connector = connector
        self.connectDeadline = connectDeadline
    }

    private func endpoint(_ node: String, host: String) -> GuestEndpoint {
        GuestEndpoint(node: node, host: host, port: lab.ssh.port, user: lab.ssh.user)
    }

    private func ownAddress(_ node: String) -> String {
        lab.node(named: node)?.address.description ?? node
    }

    /// The node's session, opened at its current address if there is none yet.
    public func session(for node: String, deadline: Duration? = nil) async throws -> any GuestSession {
        if let s = sessions[node] { return s }
        let host = hosts[node] ?? ownAddress(node)
        let s = try await connector.connect(endpoint(node, host: host), deadline: deadline ?? connectDeadline)
        // Another task may have connected meanwhile: keep one, close the other.
        if let existing = sessions[node] {
            await s.close()
            return existing
        }
        sessions[node] = s
        return s
    }

    /// Closes the node's session and opens a new one at `host` (nil: its lab.json address).
    @discardableResult
    public func reconnect(node: String, at host: String? = nil, deadline: Duration? = nil) async throws -> any GuestSession {
        await drop(node: node)
        hosts[node] = host ?? ownAddress(node)
        return try await session(for: node, deadline: deadline)
    }

    /// Like `reconnect`, for when labctl itself changed the node's host keys or found a fresh clone: drops
    /// the pin at `host` and records the key the node offers on the connection that becomes the node's
    /// session. One SSH handshake where `HostKeyPinning.replacePin` and `reconnect` take two (each costs
    /// CPU on both ends: key exchange, sshd's re-exec; docs/benchmarks.md). Returns the session and the
    /// new key's fingerprint ("" when the session cannot tell).
    @discardableResult
    public func reconnectReplacingPin(node: String, at host: String? = nil, pins: any HostKeyPinning,
                                      deadline: Duration? = nil) async throws -> (session: any GuestSession, fingerprint: String) {
        let target = host ?? ownAddress(node)
        let ep = endpoint(node, host: target)
        guard try pins.forgetPin(for: ep) else {
            // The pinning cannot forget on its own: replace the pin on a connection of its own, then connect.
            let fp = try await pins.replacePin(for: ep, deadline: deadline ?? connectDeadline)
            return (try await reconnect(node: node, at: target, deadline: deadline), fp)
        }
        let session = try await reconnect(node: node, at: target, deadline: deadline)
        let fp = await (session as? any HostKeyReporting)?.hostKeyFingerprint ?? ""
        return (session, fp)
    }

    /// The address of the node's open session, if it has one (nil when no session is open).
    public func connectedHost(of node: String) -> String? {
        sessions[node] == nil ? nil : host(of: node)
    }

    /// Forgets the node's session (closing it), e.g. after its connection broke.
    public func drop(node: String) async {
        if let s = sessions.removeValue(forKey: node) { await s.close() }
    }

    /// The address the pool reaches the node at.
    public func host(of node: String) -> String { hosts[node] ?? ownAddress(node) }

    public func closeAll() async {
        let all = sessions
        sessions = [:]
        for (_, s) in all { await s.close() }
    }
}
