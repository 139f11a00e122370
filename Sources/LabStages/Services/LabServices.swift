import Foundation
import LabKit

/// Everything a stage needs to act on the real lab, in one `Sendable` bundle.
///
/// The CLI builds it from the ports' adapters (`LabEnvironment` in LabctlCLI: `VMwareHypervisor`,
/// `SSHConnector`), tests from the doubles in LabTestSupport. Stages never construct drivers themselves, so LabStages depends on LabKit only.
public struct LabServices: Sendable {
    /// The effective lab (every default filled in).
    public var lab: Lab
    public var paths: LabPaths
    /// The folder that holds lab.json: relative `vmware.vmFolder` paths and `vmx-templates/` resolve against it.
    public var labDirectory: String
    public var hypervisor: any Hypervisor
    public var connector: any GuestConnector
    /// One session per node, reused by every stage of that node.
    public var sessions: SessionPool
    /// Applies and checks the node's vmx-template (VMware specifics stay in VMwareDriver).
    public var vmConfigurator: any NodeVMConfigurator
    /// Replaces a node's known_hosts pin after labctl itself changed its host keys.
    public var hostKeys: any HostKeyPinning
    /// Whether a node's port answers (SSH up, node moved), without opening a session.
    public var portProbe: any PortProbe
    /// The lab's private key (path) and its public line.
    public var labKey: String
    public var publicKey: String?
    /// The rendered-script factory for this lab (`StageScripts(lab:publicKey:)`).
    public var scripts: StageScripts
    /// Facts recorded about nodes across runs (base machine-id and host key, verified identities).
    public var facts: NodeFactsStore
    public var timeouts: NodeTimeouts
    /// The host's artifact cache when it has entries (docs/cache.md): the files a script downloads are
    /// uploaded instead (`runScript`). nil: every script downloads as without labctl's cache.
    public var cache: CachedReleaseFiles?

    public init(lab: Lab, paths: LabPaths, labDirectory: String, hypervisor: any Hypervisor, connector: any GuestConnector,
                vmConfigurator: any NodeVMConfigurator, hostKeys: any HostKeyPinning, portProbe: any PortProbe, labKey: String,
                publicKey: String? = nil, timeouts: NodeTimeouts? = nil) throws {
        self.lab = lab
        self.paths = paths
        self.labDirectory = labDirectory
        self.hypervisor = hypervisor
        self.connector = connector
        self.vmConfigurator = vmConfigurator
        self.hostKeys = hostKeys
        self.portProbe = portProbe
        self.labKey = labKey
        self.publicKey = publicKey
        self.scripts = try StageScripts(lab: lab, publicKey: publicKey)
        let t = timeouts ?? NodeTimeouts(lab: lab)
        self.timeouts = t
        self.sessions = SessionPool(lab: lab, connector: connector, connectDeadline: t.connect)
        self.facts = NodeFactsStore(directory: (paths.root as NSString).appendingPathComponent("nodes"))
    }

    // MARK: Conventions

    /// The folder all node VMs live in: `vmware.vmFolder`, `~` expanded, relative paths against the lab directory.
    public var vmFolder: String { Self.resolve(lab.vmware.vmFolder, against: labDirectory) }

    /// A node's VM: `<vmFolder>/<node>/<node>.vmx`.
    public func vm(node: String) -> VMReference {
        VMReference(path: LabMachines.conventionalVMPath(folder: vmFolder, node: node))
    }

    public var baseVM: VMReference { VMReference(path: Self.resolve(lab.base.vmx, against: labDirectory)) }

    /// The node's spec, or an internal error naming it (a stage instance always names a lab node).
    public func node(_ name: String) throws -> NodeSpec {
        guard let node = lab.node(named: name) else {
            throw LabError(.internalError, "no node named \(name) in the lab", location: .file("lab.json"))
        }
        return node
    }

    /// The checkpoint a node is cloned from: workers from `base.workerCheckpoint` (seed 4.3),
    /// control planes from `base.controlPlaneCheckpoint` (seed 6.2).
    public func baseCheckpoint(for node: NodeSpec) -> String {
        node.role == .controlPlane ? lab.base.controlPlaneCheckpoint : lab.base.workerCheckpoint
    }

    /// The node's own (lab.json) SSH endpoint.
    public func endpoint(node: NodeSpec, host: String? = nil) -> GuestEndpoint {
        GuestEndpoint(node: node.name, host: host ?? node.address.description, port: lab.ssh.port, user: lab.ssh.user)
    }

    static func resolve(_ path: String, against directory: String) -> String {
        var p = path
        if p == "~" || p.hasPrefix("~/") {
            p = NSHomeDirectory() + p.dropFirst()
        }
        if !p.hasPrefix("/") {
            p = (directory as NSString).appendingPathComponent(p)
        }
        return (p as NSString).standardizingPath
    }
}

/// Deadlines of the node stages, derived from lab.json `vmware.timeouts` so a test lab can shorten them.
public struct NodeTimeouts: Sendable, Hashable {
    /// One SSH connect, retried inside until this passes.
    public var connect: Duration
    /// From power-on until the node answers SSH (first contact).
    public var firstContact: Duration
    /// A vmrun call (clone, snapshot, configure).
    public var vmrun: Duration
    /// Power-on.
    public var start: Duration

    public init(connect: Duration, firstContact: Duration, vmrun: Duration, start: Duration) {
        self.connect = connect
        self.firstContact = firstContact
        self.vmrun = vmrun
        self.start = start
    }

    public init(lab: Lab) {
        let t = lab.vmware.timeouts
        self.init(connect: .seconds(max(10, t.defaultSeconds / 2)), firstContact: .seconds(t.startSeconds),
                  vmrun: .seconds(t.defaultSeconds), start: .seconds(t.startSeconds))
    }

    /// A stage that runs these scripts: their own deadlines (`StageScript.Declaration.deadline`) plus a connect.
    func scripted(_ scripts: StageScript...) -> Duration {
        scripts.reduce(connect * 2) { $0 + $1.deadline }
    }
}
