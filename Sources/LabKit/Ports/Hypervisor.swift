import Foundation

/// A VM, named by the absolute path of its configuration file (VMware's `.vmx`).
public struct VMReference: Sendable, Hashable, Codable, CustomStringConvertible {
    public var path: String
    public init(path: String) { self.path = path }
    public var description: String { path }
    /// The folder that holds the VM's files.
    public var directory: String { (path as NSString).deletingLastPathComponent }
}

public enum PowerState: String, Sendable, Codable {
    case off, on, suspended
}

public enum CloneKind: String, Sendable, Codable, CaseIterable {
    case linked, full
}

public enum StopMode: String, Sendable, Codable {
    case soft, hard
}

public enum ToolsState: String, Sendable, Codable {
    case unknown, installed, running
}

/// The namespaces `vmrun readVariable/writeVariable` knows.
public enum VariableScope: String, Sendable, Codable {
    case guestVar, runtimeConfig, guestEnv
}

/// One snapshot of a VM. VMware allows duplicate names, so `uid` is the identity.
public struct SnapshotInfo: Sendable, Hashable, Codable {
    public var uid: Int
    public var name: String
    public var parentUID: Int?
    public var createdAt: Date?
    public init(uid: Int, name: String, parentUID: Int? = nil, createdAt: Date? = nil) {
        self.uid = uid
        self.name = name
        self.parentUID = parentUID
        self.createdAt = createdAt
    }
}

/// A VM's snapshots as a tree (parents before children) and the one it runs from.
public struct SnapshotTree: Sendable, Hashable, Codable {
    public var snapshots: [SnapshotInfo]
    public var currentUID: Int?
    /// VMs that are linked clones of a snapshot, by snapshot uid.
    public var clones: [Int: [String]]

    public init(snapshots: [SnapshotInfo] = [], currentUID: Int? = nil, clones: [Int: [String]] = [:]) {
        self.snapshots = snapshots
        self.currentUID = currentUID
        self.clones = clones
    }

    public func named(_ name: String) -> [SnapshotInfo] { snapshots.filter { $0.name == name } }
    public func children(of uid: Int?) -> [SnapshotInfo] { snapshots.filter { $0.parentUID == uid } }
}

/// Which snapshot to act on: by name (must be unique) or by uid (always exact).
public enum SnapshotSelector: Sendable, Hashable, CustomStringConvertible {
    case name(String)
    case uid(Int)
    public var description: String {
        switch self {
        case .name(let n): return n
        case .uid(let u): return "uid \(u)"
        }
    }
}

/// What a backend can do. The engine reads this instead of asking which backend it has.
public struct HypervisorCapabilities: Sendable, Hashable, Codable {
    public var linkedClones: Bool
    public var snapshots: Bool
    public var guestVariables: Bool
    public init(linkedClones: Bool = true, snapshots: Bool = true, guestVariables: Bool = true) {
        self.linkedClones = linkedClones
        self.snapshots = snapshots
        self.guestVariables = guestVariables
    }
}

/// The operations the lab needs from a hypervisor.
///
/// As in apple/containerization, optional operations have default
/// implementations that throw `LabError.Code.unsupported`, so a backend
/// implements only what it can and the core never asks which backend it has.
public protocol Hypervisor: Sendable {
    var capabilities: HypervisorCapabilities { get }

    func runningVMs() async throws -> [VMReference]
    func powerState(_ vm: VMReference) async throws -> PowerState
    func clone(_ source: VMReference, to destination: VMReference, kind: CloneKind, snapshot: String?, name: String?) async throws
    /// Headless start; returns when the VM is powered on, not when the guest has booted. A VM that runs
    /// already is left as it is (no error), so callers need not ask `powerState` first.
    func start(_ vm: VMReference) async throws
    /// Starts a VM the caller has just made with `clone` in this process: a fresh clone is powered off
    /// (clone never powers it on), so no power-state query comes first. Default: `start`.
    func startNewClone(_ vm: VMReference) async throws
    /// Soft stop falls back to hard after its deadline.
    func stop(_ vm: VMReference, mode: StopMode) async throws
    func reset(_ vm: VMReference) async throws
    func snapshots(_ vm: VMReference) async throws -> SnapshotTree
    @discardableResult
    func createSnapshot(_ vm: VMReference, name: String) async throws -> SnapshotInfo
    func revert(_ vm: VMReference, to snapshot: SnapshotSelector) async throws
    func deleteSnapshot(_ vm: VMReference, _ snapshot: SnapshotSelector) async throws
    /// The guest's IPv4 address, filtered: addresses outside `subnet` or ending in .1 are rejected
    /// (see https://github.com/vmware/open-vm-tools/issues/93). `nil` when none is known yet.
    func guestIPAddress(_ vm: VMReference, wait: Bool, subnet: IPv4Network?) async throws -> IPv4Address?
    func toolsState(_ vm: VMReference) async throws -> ToolsState
    func readVariable(_ vm: VMReference, scope: VariableScope, name: String) async throws -> String?
    func writeVariable(_ vm: VMReference, scope: VariableScope, name: String, value: String) async throws
    /// Sets configuration keys of a powered-off VM (for VMware: VMX keys).
    func configure(_ vm: VMReference, settings: [(key: String, value: String)]) async throws
    /// Sets and removes configuration keys of a powered-off VM in one atomic edit
    /// (a vmx-template removes `ethernet0.generatedAddress` when it sets a static MAC).
    func configure(_ vm: VMReference, settings: [(key: String, value: String)], removing: [String]) async throws
    /// Deletes the VM and its files. Never called on a VM that is not the lab's.
    func delete(_ vm: VMReference) async throws
    /// Whether the VM exists (its configuration file is there). Default: the file exists.
    func vmExists(_ vm: VMReference) async -> Bool
}

extension Hypervisor {
    public var capabilities: HypervisorCapabilities { HypervisorCapabilities() }

    public func startNewClone(_ vm: VMReference) async throws { try await start(vm) }

    private func unsupported(_ what: String) -> LabError {
        LabError(.unsupported, "\(what) is not supported by this hypervisor backend")
    }

    public func reset(_ vm: VMReference) async throws { throw unsupported("reset") }
    public func readVariable(_ vm: VMReference, scope: VariableScope, name: String) async throws -> String? {
        throw unsupported("reading guest variables")
    }
    public func writeVariable(_ vm: VMReference, scope: VariableScope, name: String, value: String) async throws {
        throw unsupported("writing guest variables")
    }
    public func toolsState(_ vm: VMReference) async throws -> ToolsState { .unknown }
    public func vmExists(_ vm: VMReference) async -> Bool { FileManager.default.fileExists(atPath: vm.path) }
    public func configure(_ vm: VMReference, settings: [(key: String, value: String)], removing: [String]) async throws {
        guard removing.isEmpty else { throw unsupported("removing configuration keys") }
        try await configure(vm, settings: settings)
    }
}
