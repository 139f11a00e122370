import Foundation
import LabKit

/// What `labctl base prepare` needs beyond `LabServices`: the one-time password and the password
/// bootstrap (GuestSSH, wired by the CLI, so LabStages stays free of libssh2).
public struct BasePrepareHooks: Sendable {
    /// The lab user's password on the base. Called at most when needed; the CLI asks once and caches it.
    public var password: @Sendable () async throws -> String
    /// Installs the lab's public key with password authentication (`SSHSession.bootstrapWithPassword`).
    public var installKey: @Sendable (_ endpoint: GuestEndpoint, _ password: String) async throws -> Void
    /// Where to reach the base now (`--address`), before its lab.json address is applied; nil: find it.
    public var address: String?

    public init(password: @escaping @Sendable () async throws -> String,
                installKey: @escaping @Sendable (GuestEndpoint, String) async throws -> Void, address: String? = nil) {
        self.password = password
        self.installKey = installKey
        self.address = address
    }
}

/// The stages of `labctl base prepare` (seed 2.2-6), a catalog of their own run by the same engine
/// and journal as `up` (ids `base.*`, lab scope), so a failed prepare resumes where it stopped.
///
/// ```
/// base.access ─▶ base.swap ─▶ base.network ─▶ base.kernel ─▶ base.runtime ─▶ base.kubernetes
///   ─▶ base.worker-checkpoint (snapshot#1, powered off) ─▶ base.tools ─▶ base.control-plane-checkpoint (snapshot#2)
/// ```
public enum BaseStages {
    public enum ID {
        public static let workerCheckpoint = "base.worker-checkpoint"
        public static let controlPlaneCheckpoint = "base.control-plane-checkpoint"
        /// `base.access`, `base.swap`, … for the base scripts (`StageScript.base(before:)`).
        public static func script(_ s: StageScript) -> String { "base." + s.rawValue.replacingOccurrences(of: "base-", with: "") }
        /// Where `base prepare --force` starts: the first base script.
        public static var first: String { StageScript.base(before: .workers).first.map(script) ?? workerCheckpoint }
    }

    public static func stages(_ s: LabServices, hooks: BasePrepareHooks) -> [Stage] {
        let ops = BaseOperations(services: s, hooks: hooks)
        let t = s.timeouts
        var stages: [Stage] = []
        var previous: String?
        func add(_ stage: Stage) {
            var stage = stage
            if let previous { stage.dependencies.append(.init(previous)) }
            stages.append(stage)
            previous = stage.id
        }
        func scripts(before checkpoint: StageScript.BaseCheckpoint, _ name: String) {
            for script in StageScript.base(before: checkpoint) {
                add(Stage(id: ID.script(script), scope: .lab, deadline: script.deadline + t.start + t.firstContact * 2,
                          summary: "\(script.summary) (seed \(script.seed))",
                          retry: RetryPolicy(attempts: 2, retryOn: [.connection]),
                          probe: { _ in await ops.probeBefore(name) },
                          action: { ctx in try await ops.run(script, ctx) }))
            }
        }
        func checkpoint(_ id: String, _ name: String, _ summary: String) {
            add(Stage(id: id, scope: .lab, deadline: t.vmrun * 3 + t.start,
                      summary: "shut the base down and take \(name), \(summary)",
                      retry: RetryPolicy(attempts: 2),
                      probe: { _ in await ops.checkpointProbe(name) },
                      action: { ctx in try await ops.checkpoint(name, ctx) }))
        }
        scripts(before: .workers, s.lab.base.workerCheckpoint)
        checkpoint(ID.workerCheckpoint, s.lab.base.workerCheckpoint, "the workers' clone source (seed 4.3)")
        scripts(before: .controlPlanes, s.lab.base.controlPlaneCheckpoint)
        checkpoint(ID.controlPlaneCheckpoint, s.lab.base.controlPlaneCheckpoint, "the control planes' clone source (seed 6.2)")
        return stages
    }

    /// Where `labctl base prepare` starts.
    public enum Start: Sendable, Equatable {
        /// Both checkpoints exist (their names).
        case nothingToDo([String])
        case run(StageSelection)
    }

    /// Nothing to do when both checkpoints exist; otherwise the stages resume from the journal. With
    /// `force`, the checkpoints are deleted first (snapshot#2 before its parent) and every stage runs
    /// again, refused while a linked clone depends on them (deleting the snapshot would break the clone).
    public static func start(_ s: LabServices, force: Bool) async throws -> Start {
        guard await s.hypervisor.vmExists(s.baseVM) else { return .run(.all) }
        let tree = try await s.hypervisor.snapshots(s.baseVM)
        let present = [s.lab.base.workerCheckpoint, s.lab.base.controlPlaneCheckpoint].compactMap { name -> (name: String, snapshots: [SnapshotInfo])? in
            let found = tree.named(name)
            return found.isEmpty ? nil : (name, found)
        }
        guard force else { return present.count == 2 ? .nothingToDo(present.map(\.name)) : .run(.all) }
        var clones: [String] = []
        for path in Set(present.flatMap { $0.snapshots.flatMap { tree.clones[$0.uid] ?? [] } }).sorted() {
            if await s.hypervisor.vmExists(VMReference(path: path)) { clones.append(path) }
        }
        if !clones.isEmpty {
            throw LabError(.conflict, "linked clones depend on the base's checkpoints: \(clones.joined(separator: ", "))",
                           location: .file(s.baseVM.path),
                           hint: "delete those VMs first (labctl destroy), or keep the checkpoints and run without --force")
        }
        for checkpoint in present.reversed() {
            for snapshot in checkpoint.snapshots { try await s.hypervisor.deleteSnapshot(s.baseVM, .uid(snapshot.uid)) }
        }
        return .run(.from(stage: ID.first, scope: nil))
    }
}

/// Where the base is reached now (its DHCP address first, its lab.json address after base-network).
actor BaseAddress {
    var current: String?
    func set(_ a: String?) { current = a }
}

struct BaseOperations: Sendable {
    let services: LabServices
    let hooks: BasePrepareHooks
    let address = BaseAddress()
    var lab: Lab { services.lab }
    var hv: any Hypervisor { services.hypervisor }
    var base: VMReference { services.baseVM }
    /// The session pool key for the base (it is not a lab node).
    var name: String { lab.base.name }

    func endpoint(_ host: String) -> GuestEndpoint {
        GuestEndpoint(node: name, host: host, port: lab.ssh.port, user: lab.ssh.user)
    }

    // MARK: Probes

    /// Scripts before a checkpoint are done once the checkpoint exists; otherwise the journal decides.
    func probeBefore(_ checkpoint: String) async -> ProbeResult {
        guard await hv.vmExists(base), let tree = try? await hv.snapshots(base) else { return .unknown }
        return tree.named(checkpoint).isEmpty ? .unknown : .done
    }

    func checkpointProbe(_ checkpoint: String) async -> ProbeResult {
        guard await hv.vmExists(base) else { return .notDone }
        guard let tree = try? await hv.snapshots(base) else { return .unknown }
        return tree.named(checkpoint).isEmpty ? .notDone : .done
    }

    // MARK: Reaching the base

    /// Powers the base on if needed and finds its address: `--address`, its lab.json address if it
    /// answers there, else the address VMware Tools or the NAT leases report for it.
    func locate(_ ctx: StageContext) async throws -> String {
        guard await hv.vmExists(base) else {
            throw LabError(.notFound, "the base VM's configuration file does not exist", location: .lab("base.vmx (\(base.path))"),
                           hint: "install Ubuntu \(services.scripts.profile.os.ubuntuVersion) in a VM (seed 2.1) and set base.vmx to its .vmx file")
        }
        if try await hv.powerState(base) != .on {
            ctx.log("starting the base VM \(base.path)")
            try await hv.start(base)
        }
        if let a = hooks.address { return a }
        let t = services.timeouts
        ctx.waiting(for: "the base VM's address", hint: "it boots; VMware Tools or the NAT network's DHCP leases report it")
        let deadline = ContinuousClock.now + t.firstContact
        var lastError: Error?
        while ContinuousClock.now < deadline {
            try Task.checkCancellation()
            if let a = lab.base.address, await services.portProbe.isOpen(host: a.description, port: lab.ssh.port, timeout: .seconds(2)) {
                return a.description
            }
            do {
                if let ip = try await hv.guestIPAddress(base, wait: false, subnet: lab.network.subnet),
                   await services.portProbe.isOpen(host: ip.description, port: lab.ssh.port, timeout: .seconds(2)) {
                    return ip.description
                }
            } catch let e as LabError where e.code != .invalidInput {
                lastError = e
            }
            try await Task.sleep(for: .seconds(1))
        }
        throw LabError(.timeout, "the base VM did not answer SSH within \(t.firstContact)", location: .file(base.path),
                       hint: "check that it runs sshd on port \(lab.ssh.port) on \(lab.network.vmnet); or give its address: labctl base prepare --address IP",
                       cause: lastError)
    }

    /// The base's session, connecting (and finding the base) when there is none.
    func session(_ ctx: StageContext) async throws -> any GuestSession {
        if await address.current != nil { return try await services.sessions.session(for: name) }
        let host = try await locate(ctx)
        await address.set(host)
        ctx.log("base at \(host)")
        return try await services.sessions.reconnect(node: name, at: host)
    }

    // MARK: Scripts

    func run(_ script: StageScript, _ ctx: StageContext) async throws {
        if script == .baseAccess { return try await access(ctx) }
        let session = try await session(ctx)
        let rendered = try services.scripts.render(script)
        let out: [String: String]
        do {
            // Cached release files go up before the script and are removed after it, also when it fails.
            out = try await services.runScript(rendered, on: session, ctx)
        } catch let e as LabError where e.code == .connection {
            await services.sessions.drop(node: name)
            await address.set(nil)
            throw e
        }
        for key in out.keys.sorted() { ctx.log("\(key)=\(out[key] ?? "")") }
        if script == .baseNetwork, let a = lab.base.address, await address.current != a.description || out["network.apply"] == "scheduled" {
            // netplan apply runs detached 1 s after the script returned (docs/stages.md): follow the base to its address.
            await services.sessions.drop(node: name)
            await address.set(nil)
            ctx.waiting(for: "SSH on the base's address \(a)", hint: "the base applies its static address (seed 2.5)")
            let deadline = ContinuousClock.now + services.timeouts.firstContact
            while !(await services.portProbe.isOpen(host: a.description, port: lab.ssh.port, timeout: .seconds(2))) {
                guard ContinuousClock.now < deadline else {
                    throw LabError(.timeout, "the base did not come back on its address \(a) after base-network", location: .file(base.path),
                                   hint: "check /etc/netplan in the base (VM console), then re-run labctl base prepare")
                }
                try await Task.sleep(for: .seconds(1))
            }
            await address.set(a.description)
            try await services.sessions.reconnect(node: name, at: a.description)
            ctx.log("base at \(a)")
        }
    }

    /// Seed 2.2/2.3: the lab key (with the password once, if the key is not accepted yet) and NOPASSWD sudo.
    func access(_ ctx: StageContext) async throws {
        let host: String
        if let current = await address.current { host = current } else { host = try await locate(ctx) }
        var asked: String?
        func password() async throws -> String {
            if let asked { return asked }
            let p = try await hooks.password()
            asked = p
            return p
        }
        let session: any GuestSession
        do {
            session = try await services.sessions.reconnect(node: name, at: host)
        } catch let e as LabError where e.code == .security && e.message.contains("refused the lab's SSH key") {
            ctx.log("the base does not accept the lab key yet: installing it with the password of \(lab.ssh.user)")
            try await hooks.installKey(endpoint(host), try await password())
            session = try await services.sessions.reconnect(node: name, at: host)
        }
        await address.set(host)
        let sudo = try await session.run(Command(["/bin/sh", "-c", "sudo -n true 2>/dev/null"], deadline: .seconds(30)))
        let input = sudo.succeeded ? "" : try await password()
        if !sudo.succeeded { ctx.log("sudo asks for a password: the password is sent once to write the NOPASSWD rule") }
        let out = try await ScriptRunner.run(try services.scripts.render(.baseAccess), on: session, ctx, input: input)
        for key in out.keys.sorted() { ctx.log("\(key)=\(out[key] ?? "")") }
    }

    // MARK: Checkpoints (powered off: a clean clone source)

    func checkpoint(_ checkpoint: String, _ ctx: StageContext) async throws {
        let existing = try await hv.snapshots(base).named(checkpoint)
        if existing.count == 1 {
            ctx.log("checkpoint \(checkpoint) exists already (uid \(existing[0].uid))")
            return
        }
        if existing.count > 1 {
            throw LabError(.conflict, "the base VM has \(existing.count) snapshots named \"\(checkpoint)\"", location: .file(base.path),
                           hint: "delete the extra ones in the VMware snapshot manager (labctl never deletes snapshots by itself)")
        }
        await services.sessions.drop(node: name)
        await address.set(nil)
        if try await hv.powerState(base) != .off {
            ctx.log("shutting the base down (soft) for a powered-off checkpoint")
            do {
                try await hv.stop(base, mode: .soft)
            } catch let e as LabError where e.code == .timeout || e.code == .commandFailed {
                ctx.warn("soft stop failed (\(e.message)); stopping hard")
                try await hv.stop(base, mode: .hard)
            }
        }
        let info = try await hv.createSnapshot(base, name: checkpoint)
        ctx.log("checkpoint \(checkpoint) taken (uid \(info.uid)), powered off")
    }
}
