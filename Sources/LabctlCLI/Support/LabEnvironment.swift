import Foundation
import LabKit
import LabStages
import GuestSSH
import LabCache
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
    /// `useCache`: the commands that run scripts (`base prepare`, `up`, `rebuild`) take files from the host cache.
    static func make(_ loaded: LoadedLab, printWarnings: Bool = true, readOnly: Bool = false, useCache: Bool = false,
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
        var services = try LabServices(
            lab: lab, paths: loaded.paths, labDirectory: labDirectory, hypervisor: hypervisor, connector: guest.connector,
            vmConfigurator: VMwareNodeConfigurator(hypervisor: hypervisor, lab: lab, labDirectory: labDirectory),
            hostKeys: guest.pins, portProbe: TCPPortProbe(), labKey: guest.privateKey, publicKey: guest.publicKey)
        if useCache { services.cache = try hostCache(environment: environment) }
        return LabEnvironment(loaded: loaded, services: services)
    }

    /// The host cache (docs/cache.md), used by `base prepare`, `up` and `rebuild` when `labctl cache fill`
    /// has put something in it.
    static func hostCache(environment: [String: String]) throws -> CachedReleaseFiles? {
        let store = CacheStore(root: try CacheLocation.resolve(environment: environment, macOS: HostPlatform.current.kind == .macos))
        return try store.entries().isEmpty ? nil : CachedReleaseFiles(store: store)
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
