import Foundation
import GuestSSH
import LabKit
import LabStages

/// The lab's guest access over GuestSSH: the connector (lab key, the lab's own known_hosts, per-node
/// logs), the host-key pins and the key itself.
struct GuestAccess: Sendable {
    var connector: any GuestConnector
    var pins: any HostKeyPinning
    var privateKey: String
    var publicKey: String?

    /// `readOnly` (plan, status): never record a host key on first contact, so they change nothing.
    static func make(paths: LabPaths, lab: Lab, readOnly: Bool = false) throws -> GuestAccess {
        let options: SSHOptions
        if readOnly {
            // No key is created, no host key recorded, no log written: plan and status change nothing.
            options = SSHOptions(privateKey: lab.ssh.privateKey ?? paths.privateKey, knownHosts: paths.knownHosts,
                                 logDirectory: nil, trustOnFirstUse: false)
        } else {
            options = try SSHOptions.lab(paths, ssh: lab.ssh)
        }
        let connector = SSHConnector(options: options)
        return GuestAccess(connector: connector, pins: SSHHostKeyPins(connector: connector), privateKey: options.privateKey,
                           publicKey: try? SSHKeys.publicKeyLine(options.privateKey))
    }
}
