import Foundation
import LabKit

/// LabKit's `HostKeyPinning` over `SSHConnector`'s known_hosts.
public struct SSHHostKeyPins: HostKeyPinning {
    public var connector: SSHConnector

    public init(connector: SSHConnector) { self.connector = connector }

    public func replacePin(for endpoint: GuestEndpoint, deadline: Duration) async throws -> String {
        try await connector.replacePin(for: endpoint, deadline: deadline)
    }

    /// Only when the lab's connector records unknown keys (not for plan/status, which are read-only).
    public func forgetPin(for endpoint: GuestEndpoint) throws -> Bool {
        guard connector.options.trustOnFirstUse else { return false }
        try connector.forget(endpoint)
        return true
    }
}
