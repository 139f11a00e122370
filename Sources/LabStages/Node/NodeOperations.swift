import Foundation
import LabKit

/// The probes and actions of the node stages. Probes only observe; actions check before they act.
struct NodeOperations: Sendable {
    let services: LabServices
    /// The nodes whose VM this process cloned (node.clone's action), so node.start knows them to be off.
    let newClones = NewClones()
    var lab: Lab { services.lab }
    var hv: any Hypervisor { services.hypervisor }

    // MARK: base.check (seed 4.3 / 6.2: the checkpoints the nodes clone from)

    func baseCheckProbe(_ ctx: StageContext) async -> ProbeResult {
        (try? await checkBase()) != nil ? .done : .notDone
    }

    func baseCheck(_ ctx: StageContext) async throws {
        let lines = try await checkBase()
        lines.forEach(ctx.log)
    }

    private func checkBase() async throws -> [String] {
        let base = services.baseVM
        guard await hv.vmExists(base) else {
            throw LabError(.notFound, "the base VM's configuration file does not exist", location: .lab("base.vmx (\(base.path))"),
                           hint: "prepare the base VM (seed sections 2-6) and set base.vmx to its .vmx file")
        }
        let power = try await hv.powerState(base)
        guard power == .off else {
            throw LabError(.conflict, "the base VM is \(power == .on ? "running" : "suspended"); nodes are cloned from it powered off",
                           location: .file(base.path), hint: "shut the base VM down\(hv.manualCommandHint(.stop(.soft), on: base)), then re-run labctl up")
        }
        let tree = try await hv.snapshots(base)
        var needed: [(name: String, field: String)] = []
        if lab.nodes.contains(where: { $0.role == .worker }) { needed.append((lab.base.workerCheckpoint, "base.workerCheckpoint")) }
        if lab.nodes.contains(where: { $0.role == .controlPlane }) {
            needed.append((lab.base.controlPlaneCheckpoint, "base.controlPlaneCheckpoint"))
        }
        var lines = ["base VM \(base.path): powered off"]
        for (name, field) in needed where !lines.contains("checkpoint \(name): present once") {
            let found = tree.named(name)
            if found.isEmpty {
                throw LabError(.notFound, "the base VM has no snapshot named \"\(name)\"", location: .lab(field),
                               hint: "take it on the base (seed 4.3 / 6.2)\(hv.manualCommand(.snapshot(name: name), on: base).map { ", e.g. " + $0.map(shellQuote).joined(separator: " ") } ?? ""), or name an existing snapshot in lab.json")
            }
            if found.count > 1 {
                throw LabError(.conflict, "the base VM has \(found.count) snapshots named \"\(name)\" (uids \(found.map { String($0.uid) }.joined(separator: ", ")))",
                               location: .lab(field),
                               hint: "VMware allows duplicate names; rename or delete the extra ones in the VMware snapshot manager")
            }
            lines.append("checkpoint \(name): present once")
        }
        return lines
    }

    // MARK: node.clone (+ vmx-template)

    func cloneProbe(_ ctx: StageContext) async -> ProbeResult {
        guard let node = try? services.node(ctx.scope.name) else { return .unknown }
        let vm = services.vm(node: node.name)
        guard await hv.vmExists(vm) else { return .notDone }
        do { return try await services.vmConfigurator.isConfigured(vm, node: node) ? .done : .notDone } catch { return .unknown }
    }

    func clone(_ ctx: StageContext) async throws {
        let node = try services.node(ctx.scope.name)
        let vm = services.vm(node: node.name)
        let existed = await hv.vmExists(vm)
        if existed {
            ctx.log("VM exists already: \(vm.path)")
        } else {
            let checkpoint = services.baseCheckpoint(for: node)
            ctx.log("\(lab.vmware.cloneKind.rawValue) clone of \(services.baseVM.path) at \(checkpoint) → \(vm.path)")
            try await hv.clone(services.baseVM, to: vm, kind: lab.vmware.cloneKind, snapshot: checkpoint, name: node.name)
            await newClones.insert(node.name)
        }
        if try await services.vmConfigurator.isConfigured(vm, node: node) {
            ctx.log("vmx-template \(node.template) applied already")
            return
        }
        if existed {
            let power = try await hv.powerState(vm)
            guard power == .off else {
                throw LabError(.conflict, "the node's VM is \(power.rawValue) but its vmx-template is not applied", location: .file(vm.path),
                               hint: "stop the VM\(hv.manualCommandHint(.stop(.hard), on: vm)) and re-run labctl up")
            }
            try await services.vmConfigurator.applyTemplate(to: vm, node: node)
        } else {
            // A clone this action has just made is off (vmrun clone does not power it on): no second vmrun call
            // while the stage holds base-vm, which serialises every node's clone.
            try await services.vmConfigurator.applyTemplate(toNewClone: vm, node: node)
        }
        ctx.log("vmx-template \(node.template) applied: \(node.cpus) vCPUs, \(node.memoryMiB) MiB, MAC \(node.mac)")
    }

    // MARK: node.start (power on + first contact)

    func startProbe(_ ctx: StageContext) async -> ProbeResult {
        guard let node = try? services.node(ctx.scope.name) else { return .unknown }
        let vm = services.vm(node: node.name)
        guard await hv.vmExists(vm) else { return .notDone }
        // A clone node.clone made in this process is off (vmrun clone does not power it on): no `vmrun list`.
        if await newClones.contains(node.name) { return .notDone }
        guard let power = try? await hv.powerState(vm) else { return .unknown }
        guard power == .on else { return .notDone }
        // With a static base, a node that is on but still on the base's address has not finished this stage.
        if lab.base.address != nil {
            return await services.portProbe.isOpen(host: node.address.description, port: lab.ssh.port, timeout: .seconds(2)) ? .done : .notDone
        }
        return .done
    }

    func start(_ ctx: StageContext) async throws {
        let node = try services.node(ctx.scope.name)
        let vm = services.vm(node: node.name)
        try await powerOn(vm, node: node.name, ctx)
        if let baseAddress = lab.base.address {
            if await services.portProbe.isOpen(host: node.address.description, port: lab.ssh.port, timeout: .seconds(2)) {
                ctx.log("node answers at its own address \(node.address) already")
                return
            }
            // The clone comes up with the base's static address (seed 2.5). While this stage holds
            // `first-contact-address` no other clone is started, so whoever answers there is this node.
            try await firstContact(node, at: baseAddress.description, ctx)
            try await applyIdentity(node, ctx)
        } else {
            let address = try await findByMAC(node, vm, ctx)
            try await firstContact(node, at: address, ctx)
        }
    }

    private func powerOn(_ vm: VMReference, node: String, _ ctx: StageContext) async throws {
        // take() so that a retry of this stage asks for the power state again (the first attempt may have powered it on).
        if await newClones.take(node) {
            ctx.log("starting \(vm.path) (cloned in this run, so powered off)")
            try await hv.startNewClone(vm)
            return
        }
        // `Hypervisor.start` returns at once for a running VM (it asks vmrun list itself): no second check here.
        ctx.log("starting \(vm.path) (nothing to do if it runs already)")
        try await hv.start(vm)
    }

    /// DHCP base: the node's address, by MAC from Tools or the NAT leases (never assume distinct
    /// addresses before the machine-id is new: clones that share a machine-id share a DUID, docs/vmware-facts.md).
    private func findByMAC(_ node: NodeSpec, _ vm: VMReference, _ ctx: StageContext) async throws -> String {
        ctx.waiting(for: "an address for \(node.name) (MAC \(node.mac))",
                    hint: "the clone asks the NAT network's DHCP server for an address while it boots")
        let deadline = ContinuousClock.now + services.timeouts.firstContact
        var lastError: Error?
        while ContinuousClock.now < deadline {
            try Task.checkCancellation()
            do {
                if let ip = try await hv.guestIPAddress(vm, wait: true, subnet: lab.network.subnet) {
                    ctx.log("found at \(ip) (DHCP)")
                    return ip.description
                }
            } catch let e as LabError where e.code == .timeout || e.code == .conflict || e.code == .commandFailed {
                lastError = e
            }
            try await Task.sleep(for: .seconds(1))
        }
        throw LabError(.timeout, "node \(node.name) got no address on \(lab.network.vmnet) within \(services.timeouts.firstContact)",
                       location: .node(node.name), hint: "check the NAT network's DHCP service (labctl net show) and that the base VM uses DHCP on \(lab.base.interface); the VM's vmware.log is in \(vm.directory)",
                       cause: lastError)
    }

    /// Connects on the first-contact address (pinning the key it offers: labctl found this VM by
    /// its address/MAC itself) and records the base's machine-id and host key for the 7.5 checks.
    private func firstContact(_ node: NodeSpec, at host: String, _ ctx: StageContext) async throws {
        ctx.waiting(for: "SSH on \(host)", hint: "the clone is booting")
        let session: any GuestSession
        do {
            try await waitForPort(host, deadline: services.timeouts.firstContact, node: node)
            // The pin is replaced on the connection that becomes the node's session (one handshake).
            session = try await services.sessions.reconnectReplacingPin(node: node.name, at: host, pins: services.hostKeys,
                                                                        deadline: services.timeouts.connect).session
        } catch let e as LabError where e.code == .timeout || e.code == .connection {
            throw LabError(.timeout, "node \(node.name) did not answer SSH on \(host):\(lab.ssh.port) within \(services.timeouts.firstContact)",
                           location: .node(node.name),
                           hint: lab.base.address != nil
                               ? "the base's static address \(host) must be free (no other VM on it) and its sshd must accept the lab key (seed 2.2); see the VM's vmware.log"
                               : "the node's DHCP address \(host) did not answer; check that sshd runs in the base and accepts the lab key (seed 2.2)",
                           cause: e)
        }
        ctx.log("first contact on \(host)")
        let r = try await session.run(Command(["/bin/sh", "-c",
            "cat /etc/labctl/identity 2>/dev/null || true; echo; cat /etc/machine-id; ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub | awk '{print $2}'"],
            deadline: .seconds(30)))
        let lines = r.stdoutText.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        // No identity file yet: this is still the base's machine-id and host key.
        if r.succeeded, lines.count >= 3, lines[0].isEmpty {
            let machineId = lines[1].trimmingCharacters(in: .whitespaces)
            let hostKey = lines[2].trimmingCharacters(in: .whitespaces)
            try await services.facts.update(node.name) {
                $0.baseMachineId = machineId
                $0.baseHostKey = hostKey
            }
            ctx.log("base machine-id \(machineId), base host key \(hostKey)")
        }
    }

    /// Short TCP connects until the SSH port answers. Each connect is short on purpose: when a new
    /// clone takes over an address (the base's .10, or a rebuilt node's own), the host's ARP entry
    /// still names the previous VM's MAC and stays REACHABLE for up to ~30 s (Linux
    /// base_reachable_time); only fresh packets walk it through DELAY/PROBE to a new lookup, while a
    /// single long connect can sit in SYN back-off past the deadline (seen on the testbed).
    private func waitForPort(_ host: String, deadline: Duration, node: NodeSpec) async throws {
        let end = ContinuousClock.now + deadline
        while ContinuousClock.now < end {
            try Task.checkCancellation()
            if await services.portProbe.isOpen(host: host, port: lab.ssh.port, timeout: .seconds(1)) { return }
            try await Task.sleep(for: .milliseconds(300))
        }
        throw LabError(.timeout, "nothing answers on \(host):\(lab.ssh.port) within \(deadline)", location: .node(node.name))
    }

    // MARK: node.identity (seed 7.1-7.4)

    func identityProbe(_ ctx: StageContext) async -> ProbeResult {
        guard let node = try? services.node(ctx.scope.name) else { return .unknown }
        // node.start reached the node at its first-contact address in this run: ask there. A connect to the
        // node's own address would wait out ARP (up to the 2 s timeout) while nothing holds that address yet.
        if let host = await services.sessions.connectedHost(of: node.name), host != node.address.description,
           let session = try? await services.sessions.session(for: node.name),
           let r = try? await session.run(Command(["/bin/sh", "-c", Self.identityQuery], deadline: .seconds(15))), r.succeeded,
           !Self.identityDone(r.stdoutText, node: node) {
            return .notDone
        }
        // Local facts first: no packet goes to a node whose VM does not run.
        let vm = services.vm(node: node.name)
        guard await hv.vmExists(vm) else { return .notDone }
        guard let power = try? await hv.powerState(vm) else { return .unknown }
        guard power == .on else { return .unknown }
        guard await services.portProbe.isOpen(host: node.address.description, port: lab.ssh.port, timeout: .seconds(2)) else { return .notDone }
        do {
            let session = try await services.sessions.reconnect(node: node.name, deadline: .seconds(15))
            let r = try await session.run(Command(["/bin/sh", "-c", Self.identityQuery], deadline: .seconds(15)))
            return Self.identityDone(r.stdoutText, node: node) ? .done : .notDone
        } catch {
            return .unknown
        }
    }

    static let identityQuery = "cat /etc/labctl/identity 2>/dev/null; hostname"

    /// The identity file names the node and the hostname is the node's.
    static func identityDone(_ output: String, node: NodeSpec) -> Bool {
        let lines = output.split(separator: "\n").map(String.init)
        return lines.count == 2 && lines[0].hasPrefix("\(node.name) ") && lines[1] == node.name
    }

    func identity(_ ctx: StageContext) async throws {
        let node = try services.node(ctx.scope.name)
        if let host = await services.sessions.connectedHost(of: node.name), host != node.address.description {
            // node.start made first contact at that address in this run (pinned, base facts recorded): go on from there
            // instead of finding the node and connecting again.
            ctx.log("continuing on the first-contact session at \(host)")
        } else if await services.portProbe.isOpen(host: node.address.description, port: lab.ssh.port, timeout: .seconds(2)) {
            do {
                try await services.sessions.reconnect(node: node.name, deadline: services.timeouts.connect)
            } catch let e as LabError where e.code == .security {
                // A kill after node-identity regenerated the keys but before the pin was replaced.
                ctx.log("host key at \(node.address) changed (\(e.message)); re-pinning: labctl regenerated it")
                try await services.sessions.reconnectReplacingPin(node: node.name, pins: services.hostKeys, deadline: services.timeouts.connect)
            }
        } else if let baseAddress = lab.base.address {
            // Only reachable after a kill inside node.start; node.start holds the address then.
            try await firstContact(node, at: baseAddress.description, ctx)
        } else {
            let address = try await findByMAC(node, services.vm(node: node.name), ctx)
            try await firstContact(node, at: address, ctx)
        }
        try await applyIdentity(node, ctx)
    }

    /// Runs `node-identity` (idempotent), then follows the node to its own address and pins its new host key.
    private func applyIdentity(_ node: NodeSpec, _ ctx: StageContext) async throws {
        let session = try await services.sessions.session(for: node.name)
        let script = try services.scripts.render(.nodeIdentity, node: node.name)
        let out = try await services.runScript(script, on: session, ctx)
        let regenerated = out["identity.regenerated"] == "true"
        let apply = out["network.apply"] ?? "unchanged"
        ctx.log("identity: new machine-id and host keys: \(regenerated ? "yes" : "kept"); address \(node.address): \(apply)")
        await services.sessions.drop(node: node.name)
        // `netplan apply` runs detached 1 s after the script returned (docs/stages.md); the pin is replaced
        // because labctl itself just regenerated the host keys (node-verify checks they differ from the base's).
        ctx.waiting(for: "SSH on \(node.address)", hint: "the node applies its static address")
        do {
            try await waitForPort(node.address.description, deadline: services.timeouts.firstContact, node: node)
            // The new key is pinned on the connection that becomes the node's session (one handshake).
            let fp = try await services.sessions.reconnectReplacingPin(node: node.name, pins: services.hostKeys,
                                                                       deadline: services.timeouts.connect).fingerprint
            ctx.log("pinned \(node.address): \(fp)")
        } catch let e as LabError where e.code == .timeout || e.code == .connection {
            throw LabError(.timeout, "node \(node.name) did not come back on its address \(node.address) after node-identity",
                           location: .node(node.name),
                           hint: "check /etc/netplan/01-labctl.yaml and `journalctl -u labctl-netplan-apply` in the guest (VM console); then re-run labctl up",
                           cause: e)
        }
    }

    // MARK: node.verify (seed 7.5)

    func verifyProbe(_ ctx: StageContext) async -> ProbeResult {
        guard let node = try? services.node(ctx.scope.name) else { return .unknown }
        let facts = await services.facts.get(node.name)
        guard facts.machineId != nil else { return .notDone }
        guard (try? await hv.powerState(services.vm(node: node.name))) == .on else { return .unknown }
        guard await services.portProbe.isOpen(host: node.address.description, port: lab.ssh.port, timeout: .seconds(2)) else { return .unknown }
        guard let out = try? await runVerify(node, ctx: nil) else { return .unknown }
        return NodeVerification.problems(out, lab: lab, node: node).isEmpty && out["machineId"] == facts.machineId ? .done : .notDone
    }

    private func runVerify(_ node: NodeSpec, ctx: StageContext?) async throws -> [String: String] {
        let session = try await services.sessions.session(for: node.name)
        let script = try services.scripts.render(.nodeVerify, node: node.name)
        return try await services.runScript(script, on: session, ctx)
    }

    func verify(_ ctx: StageContext) async throws {
        let node = try services.node(ctx.scope.name)
        let out: [String: String]
        do {
            out = try await runVerify(node, ctx: ctx)
        } catch let e as LabError where e.code == .connection {
            await services.sessions.drop(node: node.name)
            throw e
        }
        var problems = NodeVerification.problems(out, lab: lab, node: node)
        let facts = await services.facts.get(node.name)
        let machineId = out["machineId"] ?? ""
        let hostKey = out["hostKeyEd25519"] ?? ""
        if let base = facts.baseMachineId, base == machineId {
            problems.append(LabError(.commandFailed, "the machine-id is still the base's (\(machineId))", location: .node(node.name),
                                     hint: "re-run node-identity: labctl up --from \(NodeStages.ID.identity)"))
        }
        if let base = facts.baseHostKey, base == hostKey {
            problems.append(LabError(.commandFailed, "the SSH host key is still the base's (\(hostKey))", location: .node(node.name),
                                     hint: "re-run node-identity: labctl up --from \(NodeStages.ID.identity)"))
        }
        if facts.baseMachineId == nil {
            ctx.warn("the base's machine-id was not recorded at first contact (state directory lost?); cannot compare with it")
        }
        let clashes = try await services.facts.claimMachineId(machineId, hostKey: hostKey, node: node.name, nodes: lab.nodes.map(\.name))
        if !clashes.isEmpty {
            problems.append(LabError(.commandFailed, "the machine-id \(machineId) is also \(clashes.joined(separator: ", "))'s",
                                     location: .node(node.name), hint: "re-run node-identity on one of them: labctl up --from \(NodeStages.ID.identity)"))
        }
        for key in ["hostname", "machine", "address", "gateway", "dns", "machineId", "hostKeyEd25519", "mac", "hostsEntry", "resolves"] {
            ctx.log("\(key)=\(out[key] ?? "")")
        }
        if let first = problems.first {
            problems.dropFirst().forEach { ctx.log("problem: \($0.message)") }
            throw first
        }
    }

    // MARK: node.checkpoint (seed 7.6)

    // The node's part of the lab snapshot named by lab.json `checkpoints.nodes`.
    func checkpointProbe(_ ctx: StageContext) async -> ProbeResult {
        await services.checkpointProbe(name: lab.checkpoints.nodes, nodes: [ctx.scope.name])
    }

    func checkpoint(_ ctx: StageContext) async throws {
        try await services.takeCheckpoint(name: lab.checkpoints.nodes, nodes: [ctx.scope.name], in: ctx)
    }
}

/// Node names whose VM this process has just cloned and not yet started.
actor NewClones {
    private var names: Set<String> = []

    func insert(_ node: String) { names.insert(node) }
    func contains(_ node: String) -> Bool { names.contains(node) }
    /// Whether `node` was a new clone; it no longer is afterwards.
    func take(_ node: String) -> Bool { names.remove(node) != nil }
}
