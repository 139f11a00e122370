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

/// Something a hint asks the user to do by hand.
public enum ManualOperation: Sendable, Hashable {
    case stop(StopMode)
    case snapshot(name: String)
}

/// The operations the lab needs from a hypervisor, and nothing more.
///
/// Sized to its callers (LabStages, LabKit's snapshots and machines): what only a backend needs
/// (vmrun's `list`, `checkToolsState`, VMX edits) stays inside that backend. As in
/// apple/containerization, a backend that cannot do an operation throws `LabError` with code
/// `.unsupported` and a hint (Workstation Player has no snapshots or linked clones) instead of
/// publishing a capability set nobody reads.
public protocol Hypervisor: Sendable {
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
    func snapshots(_ vm: VMReference) async throws -> SnapshotTree
    @discardableResult
    func createSnapshot(_ vm: VMReference, name: String) async throws -> SnapshotInfo
    func revert(_ vm: VMReference, to snapshot: SnapshotSelector) async throws
    func deleteSnapshot(_ vm: VMReference, _ snapshot: SnapshotSelector) async throws
    /// The guest's IPv4 address, filtered: addresses outside `subnet` or ending in .1 are rejected
    /// (see https://github.com/vmware/open-vm-tools/issues/93). `nil` when none is known yet.
    func guestIPAddress(_ vm: VMReference, wait: Bool, subnet: IPv4Network?) async throws -> IPv4Address?
    /// Deletes the VM and its files. Never called on a VM that is not the lab's.
    func delete(_ vm: VMReference) async throws
    /// Whether the VM exists (for VMware: its configuration file is there).
    func vmExists(_ vm: VMReference) async -> Bool
    /// The command a user can paste to do `operation` on `vm` by hand, as argv, built the way this
    /// backend runs it (for VMware: the real vmrun path, `-T <product>`, the host's form of the path).
    /// `nil` when the backend has no such command.
    func manualCommand(_ operation: ManualOperation, on vm: VMReference) -> [String]?
}

extension Hypervisor {
    public func startNewClone(_ vm: VMReference) async throws { try await start(vm) }
    public func manualCommand(_ operation: ManualOperation, on vm: VMReference) -> [String]? { nil }

    /// `manualCommand` as one shell line in parentheses for a hint, or empty when there is none.
    public func manualCommandHint(_ operation: ManualOperation, on vm: VMReference) -> String {
        manualCommand(operation, on: vm).map { " (" + $0.map(shellQuote).joined(separator: " ") + ")" } ?? ""
    }
}
