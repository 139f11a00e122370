import Foundation
import LabKit

/// An in-memory `Hypervisor` for unit tests of lab-level orchestration (snapshots, destroy,
/// rebuild). It behaves like the testbed's fake vmrun where it matters: snapshot names are unique
/// per VM (the driver refuses duplicates), uids only grow, a revert powers the VM off (snapshots
/// without memory), a snapshot with live linked clones cannot be deleted, and every VM has a
/// `disk` (a string) that snapshots capture and reverts restore, so tests can see state come back.
public actor FakeHypervisor: Hypervisor {
    public init() {}

    public struct VM: Sendable {
        public var power: PowerState = .off
        public var disk: String = ""
        public var snapshots: [SnapshotInfo] = []
        var saved: [Int: String] = [:]
        var lastUID = 0
        var current: Int?
        var clones: [Int: [String]] = [:]
    }

    public enum Operation: String, Sendable {
        case create, revert, deleteSnapshot, start, stop, delete, snapshots
    }

    public private(set) var vms: [String: VM] = [:]
    /// Every mutating call, as `op path` (for asserting order and what was not touched).
    public private(set) var calls: [String] = []
    /// Fail `op` on VMs whose path contains the key, this many times (nil: always).
    private var failures: [String: (Operation, Int?)] = [:]
    /// Delays per operation (to measure parallelism).
    private var delay: Duration = .zero
    private var inFlight = 0
    public private(set) var maxInFlight = 0

    public func add(_ path: String, power: PowerState = .off, disk: String = "") {
        vms[path] = VM(power: power, disk: disk)
    }

    public func exists(_ path: String) -> Bool { vms[path] != nil }
    public func setDisk(_ path: String, _ disk: String) { vms[path]?.disk = disk }
    public func disk(_ path: String) -> String? { vms[path]?.disk }
    public func power(_ path: String) -> PowerState? { vms[path]?.power }
    public func setPower(_ path: String, _ state: PowerState) { vms[path]?.power = state }
    public func tree(_ path: String) -> [SnapshotInfo] { vms[path]?.snapshots ?? [] }
    public func addClone(_ path: String, uid: Int, clone: String) { vms[path]?.clones[uid, default: []].append(clone) }
    public func fail(_ op: Operation, vmContaining key: String, times: Int? = nil) { failures[key] = (op, times) }
    public func clearFailures() { failures = [:] }
    public func setDelay(_ d: Duration) { delay = d }
    public func resetCalls() { calls = [] }

    private func check(_ op: Operation, _ vm: VMReference) throws {
        for (key, (fop, times)) in failures where fop == op && vm.path.contains(key) {
            if let times {
                if times <= 0 { continue }
                failures[key] = (fop, times - 1)
            }
            throw LabError(.commandFailed, "injected \(op.rawValue) failure", location: .command(["vmrun", op.rawValue, vm.path]))
        }
    }

    private func existing(_ vm: VMReference) throws -> VM {
        guard let v = vms[vm.path] else {
            throw LabError(.notFound, "Cannot open VM: \(vm.path), The virtual machine cannot be found", location: .file(vm.path))
        }
        return v
    }

    private func work(_ op: Operation, _ vm: VMReference) async throws {
        calls.append("\(op.rawValue) \(vm.path)")
        try check(op, vm)
        inFlight += 1
        maxInFlight = max(maxInFlight, inFlight)
        if delay > .zero { try? await Task.sleep(for: delay) }
        inFlight -= 1
    }

    // MARK: Hypervisor

    public func vmExists(_ vm: VMReference) async -> Bool { vms[vm.path] != nil }
    public func powerState(_ vm: VMReference) async throws -> PowerState { try existing(vm).power }

    public func clone(_ source: VMReference, to destination: VMReference, kind: CloneKind, snapshot: String?, name: String?) async throws {
        let src = try existing(source)
        guard vms[destination.path] == nil else { throw LabError(.conflict, "The file already exists", location: .file(destination.path)) }
        calls.append("clone \(destination.path)")
        vms[destination.path] = VM(disk: src.disk)
    }

    public func start(_ vm: VMReference) async throws {
        _ = try existing(vm)
        try await work(.start, vm)
        vms[vm.path]?.power = .on
    }

    public func stop(_ vm: VMReference, mode: StopMode) async throws {
        _ = try existing(vm)
        try await work(.stop, vm)
        vms[vm.path]?.power = .off
    }

    public func snapshots(_ vm: VMReference) async throws -> SnapshotTree {
        let v = try existing(vm)
        try check(.snapshots, vm)
        return SnapshotTree(snapshots: v.snapshots, currentUID: v.current, clones: v.clones)
    }

    public func createSnapshot(_ vm: VMReference, name: String) async throws -> SnapshotInfo {
        _ = try existing(vm)
        try await work(.create, vm)
        guard var v = vms[vm.path] else { throw LabError(.notFound, "gone", location: .file(vm.path)) }
        guard !v.snapshots.contains(where: { $0.name == name }) else {
            throw LabError(.conflict, "a snapshot named \(name) exists", location: .file(vm.path))
        }
        v.lastUID += 1
        let info = SnapshotInfo(uid: v.lastUID, name: name, parentUID: v.current, createdAt: Date())
        v.snapshots.append(info)
        v.saved[info.uid] = v.disk
        v.current = info.uid
        vms[vm.path] = v
        return info
    }

    public func revert(_ vm: VMReference, to snapshot: SnapshotSelector) async throws {
        _ = try existing(vm)
        try await work(.revert, vm)
        guard var v = vms[vm.path], let info = resolve(v, snapshot) else {
            throw LabError(.notFound, "Invalid snapshot name", location: .file(vm.path))
        }
        v.disk = v.saved[info.uid] ?? ""
        v.power = .off
        v.current = info.uid
        vms[vm.path] = v
    }

    public func deleteSnapshot(_ vm: VMReference, _ snapshot: SnapshotSelector) async throws {
        _ = try existing(vm)
        try await work(.deleteSnapshot, vm)
        guard var v = vms[vm.path], let info = resolve(v, snapshot) else {
            throw LabError(.notFound, "Invalid snapshot name", location: .file(vm.path))
        }
        if let clones = v.clones[info.uid], !clones.isEmpty {
            throw LabError(.conflict, "The snapshot has linked clones and cannot be deleted", location: .file(vm.path))
        }
        v.snapshots.removeAll { $0.uid == info.uid }
        for i in v.snapshots.indices where v.snapshots[i].parentUID == info.uid { v.snapshots[i].parentUID = info.parentUID }
        if v.current == info.uid { v.current = info.parentUID }
        v.saved[info.uid] = nil
        vms[vm.path] = v
    }

    private func resolve(_ v: VM, _ s: SnapshotSelector) -> SnapshotInfo? {
        switch s {
        case .uid(let u): return v.snapshots.first { $0.uid == u }
        case .name(let n):
            let named = v.snapshots.filter { $0.name == n }
            return named.count == 1 ? named.first : nil
        }
    }

    public func guestIPAddress(_ vm: VMReference, wait: Bool, subnet: IPv4Network?) async throws -> IPv4Address? { nil }

    public func delete(_ vm: VMReference) async throws {
        let v = try existing(vm)
        try await work(.delete, vm)
        guard v.power == .off else { throw LabError(.conflict, "The virtual machine is powered on", location: .file(vm.path)) }
        if v.clones.values.contains(where: { !$0.isEmpty }) {
            throw LabError(.conflict, "The snapshot has linked clones and cannot be deleted", location: .file(vm.path))
        }
        vms[vm.path] = nil
    }
}

/// A `GuestConnector` that answers for nodes whose VM is on (per a closure) and records who asked.
public final class FakeConnector: GuestConnector, @unchecked Sendable {
    private let lock = NSLock()
    private var asked: [String] = []
    public let answers: @Sendable (GuestEndpoint) async -> Bool

    public init(answers: @escaping @Sendable (GuestEndpoint) async -> Bool) { self.answers = answers }

    public var connected: [String] {
        lock.lock()
        defer { lock.unlock() }
        return asked
    }

    public func connect(_ endpoint: GuestEndpoint, deadline: Duration) async throws -> any GuestSession {
        lock.withLock { asked.append(endpoint.node) }
        guard await answers(endpoint) else {
            throw LabError(.connection, "connection refused by \(endpoint.host):\(endpoint.port)", location: .node(endpoint.node))
        }
        return FakeSession(endpoint: endpoint)
    }
}

public struct FakeSession: GuestSession {
    public var endpoint: GuestEndpoint
    public init(endpoint: GuestEndpoint) { self.endpoint = endpoint }
    public func run(_ command: Command) async throws -> CommandResult {
        CommandResult(exitStatus: 0, exitSignal: nil, stdout: Data(), stderr: Data(), duration: .zero)
    }
    public func upload(_ data: Data, to path: String, mode: Int32) async throws {}
    public func download(_ path: String) async throws -> Data { Data() }
    public func close() async {}
}
