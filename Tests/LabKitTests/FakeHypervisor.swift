import Foundation
import LabKit

/// An in-memory `Hypervisor` for unit tests of lab-level orchestration (snapshots, destroy,
/// rebuild). It behaves like the testbed's fake vmrun where it matters: snapshot names are unique
/// per VM (the driver refuses duplicates), uids only grow, a revert powers the VM off (snapshots
/// without memory), a snapshot with live linked clones cannot be deleted, and every VM has a
/// `disk` (a string) that snapshots capture and reverts restore, so tests can see state come back.
actor FakeHypervisor: Hypervisor {
    struct VM: Sendable {
        var power: PowerState = .off
        var disk: String = ""
        var snapshots: [SnapshotInfo] = []
        var saved: [Int: String] = [:]
        var lastUID = 0
        var current: Int?
        var clones: [Int: [String]] = [:]
    }

    enum Operation: String, Sendable {
        case create, revert, deleteSnapshot, start, stop, delete, snapshots
    }

    private(set) var vms: [String: VM] = [:]
    /// Every mutating call, as `op path` (for asserting order and what was not touched).
    private(set) var calls: [String] = []
    /// Fail `op` on VMs whose path contains the key, this many times (nil: always).
    private var failures: [String: (Operation, Int?)] = [:]
    /// Delays per operation (to measure parallelism).
    private var delay: Duration = .zero
    private var inFlight = 0
    private(set) var maxInFlight = 0

    func add(_ path: String, power: PowerState = .off, disk: String = "") {
        vms[path] = VM(power: power, disk: disk)
    }

    func exists(_ path: String) -> Bool { vms[path] != nil }
    func setDisk(_ path: String, _ disk: String) { vms[path]?.disk = disk }
    func disk(_ path: String) -> String? { vms[path]?.disk }
    func power(_ path: String) -> PowerState? { vms[path]?.power }
    func setPower(_ path: String, _ state: PowerState) { vms[path]?.power = state }
    func tree(_ path: String) -> [SnapshotInfo] { vms[path]?.snapshots ?? [] }
    func addClone(_ path: String, uid: Int, clone: String) { vms[path]?.clones[uid, default: []].append(clone) }
    func fail(_ op: Operation, vmContaining key: String, times: Int? = nil) { failures[key] = (op, times) }
    func clearFailures() { failures = [:] }
    func setDelay(_ d: Duration) { delay = d }
    func resetCalls() { calls = [] }

    private func check(_ op: Operation, _ vm: VMReference) throws {
        for (key, (fop, times)) in failures where fop == op && vm.path.contains(key) {
            if let times {
                if times <= 0 { continue }
                failures[key] = (fop, times - 1)
            }
            throw LabError(.commandFailed, "injected \(op.rawValue) failure", location: "vmrun \(op.rawValue) \(vm.path)")
        }
    }

    private func existing(_ vm: VMReference) throws -> VM {
        guard let v = vms[vm.path] else {
            throw LabError(.notFound, "Cannot open VM: \(vm.path), The virtual machine cannot be found", location: vm.path)
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

    func vmExists(_ vm: VMReference) async -> Bool { vms[vm.path] != nil }
    func runningVMs() async throws -> [VMReference] { vms.filter { $0.value.power == .on }.keys.sorted().map(VMReference.init) }
    func powerState(_ vm: VMReference) async throws -> PowerState { try existing(vm).power }

    func clone(_ source: VMReference, to destination: VMReference, kind: CloneKind, snapshot: String?, name: String?) async throws {
        let src = try existing(source)
        guard vms[destination.path] == nil else { throw LabError(.conflict, "The file already exists", location: destination.path) }
        calls.append("clone \(destination.path)")
        vms[destination.path] = VM(disk: src.disk)
    }

    func start(_ vm: VMReference) async throws {
        _ = try existing(vm)
        try await work(.start, vm)
        vms[vm.path]?.power = .on
    }

    func stop(_ vm: VMReference, mode: StopMode) async throws {
        _ = try existing(vm)
        try await work(.stop, vm)
        vms[vm.path]?.power = .off
    }

    func snapshots(_ vm: VMReference) async throws -> SnapshotTree {
        let v = try existing(vm)
        try check(.snapshots, vm)
        return SnapshotTree(snapshots: v.snapshots, currentUID: v.current, clones: v.clones)
    }

    func createSnapshot(_ vm: VMReference, name: String) async throws -> SnapshotInfo {
        _ = try existing(vm)
        try await work(.create, vm)
        guard var v = vms[vm.path] else { throw LabError(.notFound, "gone", location: vm.path) }
        guard !v.snapshots.contains(where: { $0.name == name }) else {
            throw LabError(.conflict, "a snapshot named \(name) exists", location: vm.path)
        }
        v.lastUID += 1
        let info = SnapshotInfo(uid: v.lastUID, name: name, parentUID: v.current, createdAt: Date())
        v.snapshots.append(info)
        v.saved[info.uid] = v.disk
        v.current = info.uid
        vms[vm.path] = v
        return info
    }

    func revert(_ vm: VMReference, to snapshot: SnapshotSelector) async throws {
        _ = try existing(vm)
        try await work(.revert, vm)
        guard var v = vms[vm.path], let info = resolve(v, snapshot) else {
            throw LabError(.notFound, "Invalid snapshot name", location: vm.path)
        }
        v.disk = v.saved[info.uid] ?? ""
        v.power = .off
        v.current = info.uid
        vms[vm.path] = v
    }

    func deleteSnapshot(_ vm: VMReference, _ snapshot: SnapshotSelector) async throws {
        _ = try existing(vm)
        try await work(.deleteSnapshot, vm)
        guard var v = vms[vm.path], let info = resolve(v, snapshot) else {
            throw LabError(.notFound, "Invalid snapshot name", location: vm.path)
        }
        if let clones = v.clones[info.uid], !clones.isEmpty {
            throw LabError(.conflict, "The snapshot has linked clones and cannot be deleted", location: vm.path)
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

    func guestIPAddress(_ vm: VMReference, wait: Bool, subnet: IPv4Network?) async throws -> IPv4Address? { nil }
    func configure(_ vm: VMReference, settings: [(key: String, value: String)]) async throws { _ = try existing(vm) }

    func delete(_ vm: VMReference) async throws {
        let v = try existing(vm)
        try await work(.delete, vm)
        guard v.power == .off else { throw LabError(.conflict, "The virtual machine is powered on", location: vm.path) }
        if v.clones.values.contains(where: { !$0.isEmpty }) {
            throw LabError(.conflict, "The snapshot has linked clones and cannot be deleted", location: vm.path)
        }
        vms[vm.path] = nil
    }
}

/// A `GuestConnector` that answers for nodes whose VM is on (per a closure) and records who asked.
final class FakeConnector: GuestConnector, @unchecked Sendable {
    private let lock = NSLock()
    private var asked: [String] = []
    let answers: @Sendable (GuestEndpoint) async -> Bool

    init(answers: @escaping @Sendable (GuestEndpoint) async -> Bool) { self.answers = answers }

    var connected: [String] {
        lock.lock()
        defer { lock.unlock() }
        return asked
    }

    func connect(_ endpoint: GuestEndpoint, deadline: Duration) async throws -> any GuestSession {
        lock.withLock { asked.append(endpoint.node) }
        guard await answers(endpoint) else {
            throw LabError(.connection, "connection refused by \(endpoint.host):\(endpoint.port)", location: "node \(endpoint.node)")
        }
        return FakeSession(endpoint: endpoint)
    }
}

struct FakeSession: GuestSession {
    var endpoint: GuestEndpoint
    func run(_ command: Command) async throws -> CommandResult {
        CommandResult(exitStatus: 0, exitSignal: nil, stdout: Data(), stderr: Data(), duration: .zero)
    }
    func upload(_ data: Data, to path: String, mode: Int32) async throws {}
    func download(_ path: String) async throws -> Data { Data() }
    func close() async {}
}
