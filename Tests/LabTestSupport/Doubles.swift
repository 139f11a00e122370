import Foundation
import LabKit

/// A hypervisor that acts on nothing: by default no VM exists and queries answer "nothing there",
/// for tests that only build stage graphs or services. `power`, `exists` and `commands` set what
/// every VM looks like and which hand-run command a hint gets.
public struct NoHypervisor: Hypervisor {
    public var power: PowerState
    public var exists: Bool
    public var commands: @Sendable (ManualOperation, VMReference) -> [String]?

    public init(power: PowerState = .off, exists: Bool = false,
                commands: @escaping @Sendable (ManualOperation, VMReference) -> [String]? = { _, _ in nil }) {
        self.power = power
        self.exists = exists
        self.commands = commands
    }

    public func powerState(_ vm: VMReference) async throws -> PowerState { power }
    public func clone(_ source: VMReference, to destination: VMReference, kind: CloneKind, snapshot: String?, name: String?) async throws {}
    public func start(_ vm: VMReference) async throws {}
    public func stop(_ vm: VMReference, mode: StopMode) async throws {}
    public func snapshots(_ vm: VMReference) async throws -> SnapshotTree { SnapshotTree() }
    public func createSnapshot(_ vm: VMReference, name: String) async throws -> SnapshotInfo { SnapshotInfo(uid: 1, name: name) }
    public func revert(_ vm: VMReference, to snapshot: SnapshotSelector) async throws {}
    public func deleteSnapshot(_ vm: VMReference, _ snapshot: SnapshotSelector) async throws {}
    public func guestIPAddress(_ vm: VMReference, wait: Bool, subnet: IPv4Network?) async throws -> IPv4Address? { nil }
    public func delete(_ vm: VMReference) async throws {}
    public func vmExists(_ vm: VMReference) async -> Bool { exists }
    public func manualCommand(_ operation: ManualOperation, on vm: VMReference) -> [String]? { commands(operation, vm) }
}

/// VMs that are on, exist when their .vmx file does, and take snapshots with growing uids (the
/// checkpoint stages).
public actor SnapshotHypervisor: Hypervisor {
    public private(set) var trees: [String: [SnapshotInfo]] = [:]
    public init() {}
    public func powerState(_ vm: VMReference) async throws -> PowerState { .on }
    public func clone(_ source: VMReference, to destination: VMReference, kind: CloneKind, snapshot: String?, name: String?) async throws {}
    public func start(_ vm: VMReference) async throws {}
    public func stop(_ vm: VMReference, mode: StopMode) async throws {}
    public func snapshots(_ vm: VMReference) async throws -> SnapshotTree { SnapshotTree(snapshots: trees[vm.path] ?? []) }
    public func createSnapshot(_ vm: VMReference, name: String) async throws -> SnapshotInfo {
        let info = SnapshotInfo(uid: (trees[vm.path]?.count ?? 0) + 1, name: name)
        trees[vm.path, default: []].append(info)
        return info
    }
    public func revert(_ vm: VMReference, to snapshot: SnapshotSelector) async throws {}
    public func deleteSnapshot(_ vm: VMReference, _ snapshot: SnapshotSelector) async throws {}
    public func guestIPAddress(_ vm: VMReference, wait: Bool, subnet: IPv4Network?) async throws -> IPv4Address? { nil }
    public func delete(_ vm: VMReference) async throws {}
    public func vmExists(_ vm: VMReference) async -> Bool { FileManager.default.fileExists(atPath: vm.path) }
}

/// No guest answers; no pin, template or port is ever touched for real. `configured` is what
/// `isConfigured` answers.
public struct NoGuests: GuestConnector, HostKeyPinning, NodeVMConfigurator {
    public var configured: Bool
    public init(configured: Bool = false) { self.configured = configured }
    public func connect(_ endpoint: GuestEndpoint, deadline: Duration) async throws -> any GuestSession {
        throw LabError(.connection, "no guests in this test", location: .node(endpoint.node))
    }
    public func replacePin(for endpoint: GuestEndpoint, deadline: Duration) async throws -> String { "" }
    public func applyTemplate(to vm: VMReference, node: NodeSpec) async throws {}
    public func isConfigured(_ vm: VMReference, node: NodeSpec) async throws -> Bool { configured }
}

/// A `PortProbe` that answers from a fixed set of open `host:port` pairs and records every question.
public final class FixedPortProbe: PortProbe, @unchecked Sendable {
    private let lock = NSLock()
    private var open: Set<String>
    private var asked: [String] = []

    public init(open: Set<String> = []) { self.open = open }

    public func setOpen(_ host: String, _ port: Int, _ isOpen: Bool) {
        lock.withLock {
            if isOpen { open.insert("\(host):\(port)") } else { open.remove("\(host):\(port)") }
        }
    }

    /// Every `host:port` asked, in order.
    public var questions: [String] { lock.withLock { asked } }

    public func isOpen(host: String, port: Int, timeout: Duration) async -> Bool {
        lock.withLock {
            asked.append("\(host):\(port)")
            return open.contains("\(host):\(port)")
        }
    }
}
