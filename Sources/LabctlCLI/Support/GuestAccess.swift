import Foundation
import LabKit
import LabStages

/// The lab's guest access: connector, host-key pins and key.
///
/// Interim: GuestSSH's `SSHConnector` is being finished on branch `ssh`; until it is merged this
/// reports that guest access is not available yet. Replaced by the SSHConnector wiring on merge.
struct GuestAccess: Sendable {
    var connector: any GuestConnector
    var pins: any HostKeyPinning
    var privateKey: String
    var publicKey: String?

    static func make(paths: LabPaths, lab: Lab) throws -> GuestAccess {
        let unavailable = UnavailableGuestAccess()
        return GuestAccess(connector: unavailable, pins: unavailable, privateKey: lab.ssh.privateKey ?? paths.privateKey, publicKey: nil)
    }
}

private struct UnavailableGuestAccess: GuestConnector, HostKeyPinning {
    private var error: LabError {
        LabError(.unsupported, "guest access (SSH) is not built into this labctl yet", hint: "build labctl from a branch that includes GuestSSH")
    }
    func connect(_ endpoint: GuestEndpoint, deadline: Duration) async throws -> any GuestSession { throw error }
    func replacePin(for endpoint: GuestEndpoint, deadline: Duration) async throws -> String { throw error }
}
