import Foundation
import LabKit

/// `vmrun checkToolsState`: `unknown`, `installed` or `running`.
public enum ToolsState: String, Sendable, Codable {
    case unknown, installed, running
}

/// The namespaces `vmrun readVariable/writeVariable` knows.
public enum VariableScope: String, Sendable, Codable {
    case guestVar, runtimeConfig, guestEnv
}

/// LabKit's `Hypervisor` over vmrun and the VM's own files.
///
/// Every vmrun quirk stays here: deadlines, retries, serialisation, the error
/// catalogue, duplicate snapshot names, linked-clone bookkeeping, the
/// power/lock checks before touching files (docs/vmware-driver.md).
public struct VMwareHypervisor: Hypervisor {
    public var vmrun: Vmrun
    /// Lease files to fall back on when Tools report no usable address.
    public var leaseFiles: [String]
    /// How long `stop` polls `vmrun list` for the VM to go away.
    public var stopPollDeadline: Duration
    public var now: @Sendable () -> Date

    public init(vmrun: Vmrun, leaseFiles: [String] = LeaseFile.defaultPaths(), stopPollDeadline: Duration = .seconds(10),
                now: @escaping @Sendable () -> Date = { Date() }) {
        self.vmrun = vmrun
        self.leaseFiles = leaseFiles
        self.stopPollDeadline = stopPollDeadline
        self.now = now
    }

    /// Workstation Player's vmrun has no linked clones or snapshots (GOVIX, VVD, GNS3; docs/vmware-driver.md, "How vmrun is found"):
    /// those operations throw `.unsupported` before vmrun runs.
    private func requireNotPlayer(_ what: String) throws {
        if vmrun.product == .player {
            throw LabError(.unsupported, "\(what) is not available with VMware Workstation Player (vmrun -T player)",
                           location: .lab("vmware.product"),
                           hint: "use Workstation Pro (set vmware.product to \"ws\"; Workstation 17.6.2+ needs no licence), or set vmware.cloneKind to \"full\" and skip checkpoints")
        }
    }

    /// Runs vmrun and turns its typed errors into the user's `LabError`.
    @discardableResult
    private func vm(_ command: String, _ vmx: String?, _ args: [String] = [], deadline: Vmrun.DeadlineClass = .standard,
                    idempotent: Bool) async throws -> VmrunOutput {
        do {
            return try await vmrun.run(command, vmx: vmx, args, deadline: deadline, idempotent: idempotent)
        } catch let e as VmrunError {
            throw e.labError
        }
    }

    // MARK: State

    func runningVMs() async throws -> [VMReference] {
        let out = try await vm("list", nil, idempotent: true)
        // On WSL2 `list` prints Windows paths (C:\...); labctl works with their /mnt/c/... form.
        return try out.runningVMs(command: vmrun.argv("list", []))
            .map { VMReference(path: try vmrun.platform.localPath($0)) }
    }

    private func isRunning(_ ref: VMReference) async throws -> Bool {
        let target = vmrun.lockKey(Vmrun.absolute(ref.path))
        return try await runningVMs().contains { vmrun.lockKey(Self.normalise($0.path)) == target }
    }

    /// `list` prints Windows paths with backslashes; compare with forward slashes (VVD read_state).
    static func normalise(_ path: String) -> String {
        Vmrun.absolute(path.replacingOccurrences(of: "\\", with: "/"))
    }

    public func powerState(_ ref: VMReference) async throws -> PowerState {
        if try await isRunning(ref) { return .on }
        // A suspended VM leaves a *.vmss next to the VMX (VVD read_state).
        let dir = ref.directory
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
        return names.contains { $0.hasSuffix(".vmss") } ? .suspended : .off
    }

    /// Before editing a VMX or cloning: not running, not suspended (when asked), no live or stale `.lck` (docs/vmware-driver.md, "Checks before touching a VM's files").
    private func requireIdle(_ ref: VMReference, action: String, allowSuspended: Bool = false) async throws {
        let path = Vmrun.absolute(ref.path)
        guard FileManager.default.fileExists(atPath: path) else {
            throw LabError(.notFound, "cannot \(action): the VM does not exist", location: .file(path))
        }
        let state = try await powerState(ref)
        if state == .on {
            throw LabError(.conflict, "cannot \(action): the VM is running", location: .file(path), hint: "shut it down first, in the guest or in VMware (labctl never powers off a running VM here)")
        }
        if state == .suspended && !allowSuspended {
            throw LabError(.conflict, "cannot \(action): the VM is suspended", location: .file(path),
                           hint: "resume and shut it down, or discard its suspended state in VMware")
        }
        try VMwareLocks.requireUnlocked(vmx: path, action: action)
    }

    // MARK: Clone

    public func clone(_ source: VMReference, to destination: VMReference, kind: CloneKind, snapshot: String?, name: String?) async throws {
        let src = Vmrun.absolute(source.path)
        let dst = Vmrun.absolute(destination.path)
        if kind == .linked { try requireNotPlayer("a linked clone") }
        if FileManager.default.fileExists(atPath: dst) {
            throw LabError(.conflict, "cannot clone: the destination VM exists already", location: .file(dst),
                           hint: "delete it first (labctl destroy NODE for a lab node) or choose another VM folder")
        }
        try await vmrun.operationLocks.withLock(vmrun.lockKey(src)) {
            // Full clones need the source off; linked clones need it not running and not suspended (GOVIX Clone).
            try await requireIdle(source, action: "clone \(src)")
            var args = [try vmrun.platform.vmrunPath(dst), kind.rawValue]
            if let snapshot {
                // vmrun addresses the snapshot by name: make sure the name means one snapshot (docs/vmware-driver.md, "Snapshots").
                let tree = try VMSD.load(forVMX: src).tree
                let chosen = try tree.resolve(.name(snapshot), vm: src)
                args.append("-snapshot=\(try tree.vmrunName(for: chosen, vm: src))")
            } else if kind == .linked {
                // Without -snapshot, Fusion 8.1 fails and other versions create a "Clone" snapshot each time (vagrant#6710, PR#43).
                throw LabError(.invalidInput, "a linked clone needs a snapshot of the source VM", location: .file(src),
                               hint: "name the base snapshot in lab.json (base.workerCheckpoint / base.controlPlaneCheckpoint)")
            }
            if let name { args.append("-cloneName=\(name)") } // one argv element with `=` (vmrun help, VVD, GNS3)
            try FileManager.default.createDirectory(atPath: (dst as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try await vm("clone", src, args, idempotent: false)
            // VVD deletes lock files copied into a fresh clone ("file already in use", VVD CHANGELOG);
            // this is a VM we just created, so nothing else can own them.
            for lock in VMwareLocks.scan(directory: (dst as NSString).deletingLastPathComponent) {
                try? FileManager.default.removeItem(atPath: lock.path)
            }
        }
    }

    // MARK: Power

    public func start(_ ref: VMReference) async throws {
        // What vmrun does for an already-running VM is unverified (docs/vmware-driver.md, "Known gaps"): do not ask it.
        if try await isRunning(ref) { return }
        try await startNewClone(ref)
    }

    /// `vmrun clone` leaves the new VM powered off, so `start` needs no `list` first: one vmrun call per node less.
    public func startNewClone(_ ref: VMReference) async throws {
        // `start` blocks until power-on, not boot; Vagrant retries it with a 300 s deadline (docs/vmware-driver.md, "Deadlines, retries and serialisation").
        try await vm("start", ref.path, ["nogui"], deadline: .start, idempotent: true)
    }

    public func stop(_ ref: VMReference, mode: StopMode) async throws {
        if mode == .soft {
            do {
                try await vm("stop", ref.path, ["soft"], deadline: .softStop, idempotent: false)
                try await waitUntilStopped(ref)
                return
            } catch let e as LabError where e.code == .cancelled {
                throw e
            } catch is CancellationError {
                throw LabError(.cancelled, "stopping the VM was cancelled", location: .file(Vmrun.absolute(ref.path)))
            } catch {
                // Soft stop needs Tools and may hang or fail; fall back to hard, as Vagrant does (VVD base.rb#stop).
                if try await !isRunning(ref) { return }
            }
        }
        do {
            try await vm("stop", ref.path, ["hard"], idempotent: true)
        } catch let e as LabError where e.code != .cancelled {
            // Packer: a failed stop is fine when `list` no longer shows the VM (PKR driver_workstation.go#Stop).
            if try await isRunning(ref) { throw e }
            return
        }
        try await waitUntilStopped(ref)
    }

    /// Polls `list` until the VM is gone (Packer polls IsRunning after shutdown, PKR step_shutdown.go).
    private func waitUntilStopped(_ ref: VMReference) async throws {
        let clock = ContinuousClock()
        let end = clock.now + stopPollDeadline
        while try await isRunning(ref) {
            if clock.now >= end {
                throw LabError(.timeout, "the VM is still running after vmrun stop", location: .file(Vmrun.absolute(ref.path)),
                               hint: "check the VM in the VMware UI and power it off there")
            }
            try await Task.sleep(for: .milliseconds(250))
        }
    }

    func reset(_ ref: VMReference) async throws {
        try await vm("reset", ref.path, ["hard"], idempotent: false)
    }

    // MARK: Snapshots

    public func snapshots(_ ref: VMReference) async throws -> SnapshotTree {
        // The .vmsd has the uids and the tree; `listSnapshots` has only names (docs/vmware-driver.md, "Snapshots").
        try VMSD.load(forVMX: Vmrun.absolute(ref.path)).tree
    }

    public func createSnapshot(_ ref: VMReference, name: String) async throws -> SnapshotInfo {
        try requireNotPlayer("a snapshot")
        let path = Vmrun.absolute(ref.path)
        try validateSnapshotName(name, vm: path)
        return try await vmrun.operationLocks.withLock(vmrun.lockKey(path)) {
            let before = try VMSD.load(forVMX: path).tree
            // vmrun accepts duplicate names and no source shows it refusing one (docs/vmware-driver.md, "Snapshots"),
            // so labctl keeps names unique itself.
            if let existing = before.named(name).first {
                throw LabError(.conflict, "the VM has a snapshot named \"\(name)\" already (uid \(existing.uid))", location: .file(path),
                               hint: "delete it first or choose another name")
            }
            try await vm("snapshot", path, [name], idempotent: false)
            let after = try VMSD.load(forVMX: path).tree
            let known = Set(before.snapshots.map(\.uid))
            guard let created = after.snapshots.filter({ $0.name == name && !known.contains($0.uid) }).max(by: { $0.uid < $1.uid }) else {
                throw LabError(.internalError, "vmrun snapshot succeeded but the new snapshot is not in the VM's .vmsd",
                               location: .file(VMSD.path(forVMX: path)), hint: "check the VM's snapshots in VMware's Snapshot Manager")
            }
            return created
        }
    }

    private func validateSnapshotName(_ name: String, vm: String) throws {
        // VIX treats / and \ as path separators; " and | need VMX escapes (GOVIX GetNamedSnapshot; docs/vmware-driver.md, "Snapshots").
        if name.isEmpty || name.contains(where: { "/\\\"|".contains($0) || $0.isNewline }) {
            throw LabError(.invalidInput, "invalid snapshot name \"\(name)\"", location: .file(vm),
                           hint: "snapshot names must not be empty or contain / \\ \" | or line breaks")
        }
    }

    /// Runs `body` on the snapshot `selector` names, read from the VM's .vmsd under the VM's operation
    /// lock; refused under Player, which has no snapshots.
    private func withSnapshot(_ ref: VMReference, _ selector: SnapshotSelector, _ what: String,
                              _ body: @escaping @Sendable (String, SnapshotTree, SnapshotInfo) async throws -> Void) async throws {
        try requireNotPlayer(what)
        let path = Vmrun.absolute(ref.path)
        try await vmrun.operationLocks.withLock(vmrun.lockKey(path)) {
            let tree = try VMSD.load(forVMX: path).tree
            try await body(path, tree, try tree.resolve(selector, vm: path))
        }
    }

    public func revert(_ ref: VMReference, to selector: SnapshotSelector) async throws {
        try await withSnapshot(ref, selector, "reverting to a snapshot") { path, tree, target in
            try await vm("revertToSnapshot", path, [try tree.vmrunName(for: target, vm: path)], idempotent: false)
        }
    }

    public func deleteSnapshot(_ ref: VMReference, _ selector: SnapshotSelector) async throws {
        try await withSnapshot(ref, selector, "deleting a snapshot") { path, tree, target in
            // Deleting a snapshot that linked clones use breaks them (Fusion docs, GOVIX; docs/vmware-driver.md, "Snapshots").
            // Deleting an ancestor consolidates the disk chain the descendants' clones hang from, so
            // the whole subtree counts (the exact consolidation effect is unverified).
            var subtree: [Int] = [target.uid]
            var index = 0
            while index < subtree.count {
                subtree += tree.children(of: subtree[index]).map(\.uid)
                index += 1
            }
            let users = subtree.flatMap { tree.clones[$0] ?? [] }.filter { FileManager.default.fileExists(atPath: $0) }
            if !users.isEmpty {
                throw LabError(.conflict, "snapshot \"\(target.name)\" (uid \(target.uid)) is the base of linked clones: \(users.joined(separator: ", "))",
                               location: .file(path), hint: "delete those VMs first (labctl destroy NODE|CLUSTER), or they stop working")
            }
            try await vm("deleteSnapshot", path, [try tree.vmrunName(for: target, vm: path)], idempotent: false)
        }
    }

    // MARK: Guest

    public func guestIPAddress(_ ref: VMReference, wait: Bool, subnet: IPv4Network?) async throws -> IPv4Address? {
        var fromTools: IPv4Address?
        var waitTimedOut: LabError?
        do {
            let out = try await vm("getGuestIPAddress", ref.path, wait ? ["-wait"] : [], idempotent: true)
            fromTools = out.ipAddress
        } catch let e as LabError where e.underlying(VmrunError.self)?.kind == .toolsNotRunning {
            fromTools = nil // Tools not up yet: try the leases
        } catch let e as LabError where e.code == .timeout {
            waitTimedOut = e // Vagrant ignores a read_ip timeout and reads the leases
        }
        if let ip = fromTools, Self.acceptable(ip, subnet: subnet) { return ip }
        // Tools can report the wrong NIC (docker0, cni0: open-vm-tools#93); Vagrant then reads leases by MAC.
        if let lease = try leaseAddress(ref, subnet: subnet) { return lease }
        if let waitTimedOut { throw waitTimedOut }
        return nil
    }

    /// Rejects `.1` addresses and addresses outside the lab subnet (VVD read_ip, open-vm-tools#93).
    static func acceptable(_ ip: IPv4Address, subnet: IPv4Network?) -> Bool {
        if ip.octets.last == 1 { return false }
        if let subnet, !subnet.contains(ip) { return false }
        return true
    }

    /// The newest active lease for the VM's first NIC's MAC; conflicting leases are an error, not a guess.
    public func leaseAddress(_ ref: VMReference, subnet: IPv4Network?) throws -> IPv4Address? {
        let path = Vmrun.absolute(ref.path)
        let vmx = try VMXDocument.load(path: path)
        guard let macText = vmx["ethernet0.address"] ?? vmx["ethernet0.generatedAddress"], let mac = MACAddress(macText) else { return nil }
        for file in leaseFiles where FileManager.default.fileExists(atPath: file) {
            let leases = try LeaseFile.load(path: file)
            switch leases.lookup(mac, at: now()) {
            case .found(let lease):
                return Self.acceptable(lease.address, subnet: subnet) ? lease.address : nil
            case .conflict(let all):
                throw LabError(.conflict, "DHCP leases disagree about \(mac): " + all.map { "\($0.address) at \($0.location)" }.joined(separator: ", "),
                               location: .file(file), hint: "two VMs may share this MAC; give each node its own MAC in lab.json")
            case .expired, .none:
                continue
            }
        }
        return nil
    }

    func toolsState(_ ref: VMReference) async throws -> ToolsState {
        do {
            let out = try await vm("checkToolsState", ref.path, idempotent: true)
            return out.toolsState ?? .unknown
        } catch let e as LabError where e.underlying(VmrunError.self)?.kind == .reportedUnknown {
            // `unknown` came with a non-zero exit in gns3-server#1901.
            return .unknown
        }
    }

    func readVariable(_ ref: VMReference, scope: VariableScope, name: String) async throws -> String? {
        let out = try await vm("readVariable", ref.path, [scope.rawValue, name], idempotent: true)
        // Unset prints an empty line (GNS3 polls until non-empty).
        let value = out.lines.joined(separator: "\n")
        return value.isEmpty ? nil : value
    }

    func writeVariable(_ ref: VMReference, scope: VariableScope, name: String, value: String) async throws {
        // VIX_E_INVALID_ARG for `/` in the name or `=` in the value (GOVIX WriteVariable).
        if name.contains("/") || value.contains("=") {
            throw LabError(.invalidInput, "guest variable \(name) cannot be written at runtime: names must not contain / and values must not contain =",
                           location: .file(Vmrun.absolute(ref.path)), hint: "write it into the VMX while the VM is off (configure), or encode the value without =")
        }
        try await vm("writeVariable", ref.path, [scope.rawValue, name, value], idempotent: true)
    }

    // MARK: Files

    func configure(_ ref: VMReference, settings: [(key: String, value: String)]) async throws {
        try await configure(ref, settings: settings, removing: [])
    }

    /// Sets and removes VMX keys of a powered-off, closed VM, atomically.
    func configure(_ ref: VMReference, settings: [(key: String, value: String)], removing: [String]) async throws {
        try await configure(ref, settings: settings, removing: removing, newClone: false)
    }

    /// `newClone`: the caller has just made this VM with `clone` (vmrun clone leaves it powered off), so
    /// `vmrun list` is not asked again; the lock-file check still runs (a running or open VM holds
    /// `<vmx>.lck`, docs/vmware-driver.md "Checks before touching a VM's files"). Saves a vmrun call per node while the clone holds `base-vm`.
    public func configure(_ ref: VMReference, settings: [(key: String, value: String)], removing: [String], newClone: Bool) async throws {
        let path = Vmrun.absolute(ref.path)
        for (key, _) in settings where !VMXDocument.isValidKey(key) {
            throw LabError(.invalidInput, "invalid VMX key \"\(key)\"", location: .file(path), hint: "keys are made of letters, digits and . : _ -")
        }
        try await vmrun.vmLocks.withLock(vmrun.lockKey(path)) {
            // VMware rewrites the VMX on power-off and on UI actions: edit only a closed, powered-off VM (docs/vmware-driver.md, "Checks before touching a VM's files").
            if newClone {
                guard FileManager.default.fileExists(atPath: path) else {
                    throw LabError(.notFound, "cannot edit \(path): the VM does not exist", location: .file(path))
                }
                try VMwareLocks.requireUnlocked(vmx: path, action: "edit \(path)")
            } else {
                try await requireIdle(ref, action: "edit \(path)")
            }
            var doc = try VMXDocument.load(path: path)
            for key in removing { doc.remove(key) }
            for (key, value) in settings { doc.set(key, value) }
            try doc.write(to: path)
        }
    }

    public func vmExists(_ ref: VMReference) async -> Bool {
        FileManager.default.fileExists(atPath: Vmrun.absolute(ref.path))
    }

    public func manualCommand(_ operation: ManualOperation, on ref: VMReference) -> [String]? {
        switch operation {
        case .stop(let mode): return try? vmrun.commandLine("stop", vmx: ref.path, [mode.rawValue])
        case .snapshot(let name): return try? vmrun.commandLine("snapshot", vmx: ref.path, [name])
        }
    }

    public func delete(_ ref: VMReference) async throws {
        let path = Vmrun.absolute(ref.path)
        guard FileManager.default.fileExists(atPath: path) else { return }
        // A linked clone's delete touches its parent's bookkeeping: serialise on the parent (docs/vmware-driver.md, "Deadlines, retries and serialisation").
        let parent = (try? VMSD.load(forVMX: path))?.cloneOf.first.map(Vmrun.absolute)
        try await vmrun.operationLocks.withLock(vmrun.lockKey(parent ?? path)) {
            try await requireIdle(ref, action: "delete \(path)", allowSuspended: true)
            try await vm("deleteVM", path, idempotent: false)
            // deleteVM leaves the folder when it holds files VMware did not create (logs); remove it if it
            // holds no other VM.
            let dir = (path as NSString).deletingLastPathComponent
            let rest = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
            if FileManager.default.fileExists(atPath: dir), !rest.contains(where: { $0.hasSuffix(".vmx") }) {
                try? FileManager.default.removeItem(atPath: dir)
            }
        }
    }
}
