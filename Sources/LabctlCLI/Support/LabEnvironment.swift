import Foundation
import LabKit
import LabStages
import GuestSSH
import VMwareDriver

/// The concrete services for a loaded lab: the VMware driver, the SSH connector, the session pool,
/// the rendered scripts. Commands that act on a lab (`up`, `plan`, `status`) start here.
///
/// ```swift
/// let env = try LabEnvironment.make(try labOptions.load())
/// let stages = StageCatalog.stages(env.services)
/// ```
struct LabEnvironment: Sendable {
    var loaded: LoadedLab
    var services: LabServices

    var lab: Lab { loaded.lab }
    var paths: LabPaths { loaded.paths }
    var topology: LabTopology { LabTopology(lab: loaded.lab) }

    /// Builds the services; prints lab.json's warnings once (to stderr, so JSON on stdout stays clean).
    static func make(_ loaded: LoadedLab, printWarnings: Bool = true, readOnly: Bool = false,
                     environment: [String: String] = ProcessInfo.processInfo.environment) throws -> LabEnvironment {
        if printWarnings {
            for w in loaded.warnings {
                FileHandle.standardError.write(Data("warning: \(w.message)\(w.location.map { " (\($0))" } ?? "")\n".utf8))
            }
        }
        let lab = loaded.lab
        let labDirectory = Self.directory(of: loaded.file)
        let hypervisor = try VMwareHypervisor(lab: lab, environment: environment)
        let guest = try GuestAccess.make(paths: loaded.paths, lab: lab, readOnly: readOnly)
        let services = try LabServices(
            lab: lab, paths: loaded.paths, labDirectory: labDirectory, hypervisor: hypervisor, connector: guest.connector,
            vmConfigurator: VMwareNodeConfigurator(hypervisor: hypervisor, lab: lab, labDirectory: labDirectory),
            hostKeys: guest.pins, portProbe: TCPPortProbe(), labKey: guest.privateKey, publicKey: guest.publicKey)
        return LabEnvironment(loaded: loaded, services: services)
    }

    static func directory(of file: String) -> String {
        let dir = (file as NSString).deletingLastPathComponent
        let absolute = dir.isEmpty ? FileManager.default.currentDirectoryPath
            : (dir.hasPrefix("/") ? dir : (FileManager.default.currentDirectoryPath as NSString).appendingPathComponent(dir))
        return (absolute as NSString).standardizingPath
    }

    /// The command that resumes `up` for this lab.
    static func resumeCommand(labFile: String) -> String {
        labFile == "lab.json" ? "labctl up" : "labctl up --lab \(labFile)"
    }
}
