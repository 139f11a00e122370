import Foundation
import LabKit

/// The probes and actions of the Kubernetes stages. Probes only observe (read-only `kubectl get`,
/// `test -f`); actions run the rendered scripts, which check before they change anything.
struct KubernetesOperations: Sendable {
    let services: LabServices
    var lab: Lab { services.lab }
    var scripts: StageScripts { services.scripts }

    /// How long a probe's guest command may take.
    static let probeDeadline = Duration.seconds(30)

    // MARK: Helpers

    func cluster(named name: String) throws -> ClusterSpec {
        guard let c = lab.clusters.first(where: { $0.name == name }) else {
            throw LabError(.internalError, "no cluster named \(name) in the lab", location: .lab("clusters"))
        }
        return c
    }

    func controlPlane(of cluster: ClusterSpec) throws -> NodeSpec {
        guard let cp = cluster.controlPlane else {
            throw LabError(.invalidInput, "cluster \(cluster.name) has no control-plane node", location: .lab("clusters[\(cluster.name)]"),
                           hint: "give one node of the cluster \"role\": \"control-plane\"")
        }
        return cp
    }

    /// The cluster a stage instance acts on (a cluster scope, or the cluster of a node scope).
    func cluster(of ctx: StageContext) throws -> ClusterSpec {
        switch ctx.scope {
        case .cluster(let name): return try cluster(named: name)
        case .node(let node):
            guard let name = ctx.topology.cluster(ofNode: node) else {
                throw LabError(.internalError, "node \(node) belongs to no cluster", location: .lab("clusters"))
            }
            return try cluster(named: name)
        case .lab: throw LabError(.internalError, "a lab-scope stage has no cluster")
        }
    }

    /// Runs a read-only shell line as root on a node for a probe; nil when it cannot tell.
    func probe(_ node: String, _ shell: String) async -> CommandResult? {
        guard let n = lab.node(named: node),
              await services.portProbe.isOpen(host: await services.sessions.host(of: n.name), port: lab.ssh.port, timeout: .seconds(2)) else { return nil }
        do {
            let session = try await services.sessions.session(for: node, deadline: .seconds(15))
            return try await session.run(Command(["/bin/sh", "-c", shell], deadline: Self.probeDeadline, sudo: true))
        } catch {
            await services.sessions.drop(node: node)
            return nil
        }
    }

    /// `kubectl` with the cluster's admin kubeconfig on its control plane, as a shell line.
    static func kubectl(_ args: String) -> String { "KUBECONFIG=/etc/kubernetes/admin.conf kubectl \(args)" }

    func run(_ script: RenderedScript, _ ctx: StageContext?, input: String? = nil, secrets: [String] = []) async throws -> [String: String] {
        let session = try await services.sessions.session(for: script.host)
        do {
            return try await services.runScript(script, on: session, ctx, input: input, secrets: secrets)
        } catch let e as LabError where e.code == .connection {
            await services.sessions.drop(node: script.host)
            throw e
        }
    }

    func logResults(_ out: [String: String], _ ctx: StageContext) {
        for key in out.keys.sorted() { ctx.log("\(key)=\(out[key] ?? "")") }
    }

    // MARK: cluster.init (seed 8.1), control planes only

    func initProbe(_ ctx: StageContext) async -> ProbeResult {
        guard let node = try? services.node(ctx.scope.name) else { return .unknown }
        let home = "$(getent passwd \(shellQuote(lab.ssh.user)) | cut -d: -f6)"
        guard let r = await probe(node.name, "test -f /etc/kubernetes/admin.conf && cmp -s /etc/kubernetes/admin.conf \"\(home)/.kube/config\"") else {
            return .unknown
        }
        return r.succeeded ? .done : .notDone
    }

    func initControlPlane(_ ctx: StageContext) async throws {
        let c = try cluster(of: ctx)
        let out = try await run(try scripts.render(.kubeadmInit, cluster: c.name), ctx)
        logResults(out, ctx)
        if let name = out["cluster.name"], !name.isEmpty, name != c.name {
            throw LabError(.conflict, "the control plane's cluster is named '\(name)', lab.json says '\(c.name)'",
                           location: .node(ctx.scope.name, path: "/etc/kubernetes/admin.conf"),
                           hint: "this node ran kubeadm init with another configuration; rebuild the cluster: labctl rebuild \(c.name)")
        }
    }

    // MARK: node.join (seed 8.2), workers only

    func joinProbe(_ ctx: StageContext) async -> ProbeResult {
        guard let c = try? cluster(of: ctx), let cp = c.controlPlane else { return .unknown }
        guard let r = await probe(cp.name, Self.kubectl("get node \(shellQuote(ctx.scope.name)) -o name")) else { return .unknown }
        return r.succeeded && r.stdoutText.contains("node/\(ctx.scope.name)") ? .done : .notDone
    }

    func join(_ ctx: StageContext) async throws {
        let c = try cluster(of: ctx)
        let worker = ctx.scope.name
        // A fresh token for every join (30 minutes): the command is a secret, passed on stdin only.
        let joinScript = try scripts.render(.joinCommand, cluster: c.name)
        let cpSession = try await services.sessions.session(for: joinScript.host)
        let command = try joinScript.command()
        let r = try await cpSession.run(command)
        guard r.succeeded else {
            // Never show stdout here: on success it would be the secret.
            let err = r.stderrText.split(separator: "\n").suffix(5).joined(separator: "\n")
            throw LabError(.commandFailed, "join-command failed on \(joinScript.host) (exit \(r.exitStatus))",
                           location: .node(joinScript.host), hint: "see labctl logs \(joinScript.host); re-run labctl up",
                           detail: err)
        }
        let line = r.stdoutText.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
            .first { $0.hasPrefix("kubeadm join ") } ?? ""
        guard !line.isEmpty else {
            throw LabError(.commandFailed, "join-command printed no 'kubeadm join' line on \(joinScript.host)", location: .node(joinScript.host),
                           hint: "run `sudo kubeadm token create --print-join-command` on \(joinScript.host) to see why")
        }
        ctx.log("join command created on \(joinScript.host) (a 30-minute token; not logged)")
        // The token and the CA hash on their own are secrets too (kubeadm may print either alone).
        let words = line.split(separator: " ").map(String.init)
        let parts = zip(words, words.dropFirst()).filter { ["--token", "--discovery-token-ca-cert-hash"].contains($0.0) }.map(\.1)
        let out = try await run(try scripts.render(.kubeadmJoin, node: worker), ctx, input: line, secrets: parts)
        logResults(out, ctx)
    }

    // MARK: cluster.cni (seed 8.3)

    func cniProbe(_ ctx: StageContext) async -> ProbeResult {
        guard let c = try? cluster(of: ctx), let cp = c.controlPlane else { return .unknown }
        let ds = scripts.profile.cni.kind == .weave ? "-n kube-system get daemonset weave-net" : "-n kube-flannel get daemonset kube-flannel-ds"
        guard let r = await probe(cp.name, Self.kubectl("\(ds) -o name")) else { return .unknown }
        return r.succeeded && r.stdoutText.contains("daemonset") ? .done : .notDone
    }

    func cni(_ ctx: StageContext) async throws {
        let c = try cluster(of: ctx)
        logResults(try await run(try scripts.render(.cni, cluster: c.name), ctx), ctx)
    }

    // MARK: cluster.ready (seed 8.3, `watch kubectl get pods -A`)

    func readyProbe(_ ctx: StageContext) async -> ProbeResult {
        guard let c = try? cluster(of: ctx), let cp = c.controlPlane else { return .unknown }
        guard let r = await probe(cp.name, Self.kubectl("get nodes --no-headers")), r.succeeded else { return .unknown }
        let ready = Self.readyNodes(r.stdoutText)
        return c.nodes.allSatisfy({ ready.contains($0.name) }) ? .done : .notDone
    }

    /// The Ready nodes of a `kubectl get nodes` table (`NAME STATUS ROLES AGE VERSION`; a header line is skipped).
    static func readyNodes(_ table: String) -> Set<String> {
        Set(table.split(separator: "\n").compactMap { line -> String? in
            let cols = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard cols.count >= 2, cols[0] != "NAME" else { return nil }
            return cols[1].split(separator: ",").first == "Ready" ? String(cols[0]) : nil
        })
    }

    func ready(_ ctx: StageContext) async throws {
        let c = try cluster(of: ctx)
        ctx.waiting(for: "every node of \(c.name) Ready", hint: "the CNI pods start on each node; the script waits at most 5 minutes per node")
        logResults(try await run(try scripts.render(.waitNodes, cluster: c.name), ctx), ctx)
    }

    // MARK: cluster.metallb (seed 9)

    func metallbProbe(_ ctx: StageContext) async -> ProbeResult {
        guard let c = try? cluster(of: ctx), let cp = c.controlPlane else { return .unknown }
        let get = scripts.profile.metallb.config == .crds
            ? "-n metallb-system get ipaddresspools.metallb.io -o name"
            : "-n metallb-system get configmap config -o name"
        guard let r = await probe(cp.name, Self.kubectl(get)) else { return .unknown }
        return r.succeeded && !r.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty ? .done : .notDone
    }

    func metallb(_ ctx: StageContext) async throws {
        let c = try cluster(of: ctx)
        let out = try await run(try scripts.render(.metallb, cluster: c.name), ctx)
        logResults(out, ctx)
    }

    // MARK: cluster.dns-check (seed 10)

    func dnsCheck(_ ctx: StageContext) async throws {
        let c = try cluster(of: ctx)
        logResults(try await run(try scripts.render(.dnsCheck, cluster: c.name), ctx), ctx)
    }

    // MARK: checkpoints (cluster: every node of the cluster; lab: every node)

    func checkpointNodes(_ ctx: StageContext) throws -> [String] {
        switch ctx.scope {
        case .lab: return lab.nodes.map(\.name)
        case .cluster: return try cluster(of: ctx).nodes.map(\.name)
        case .node(let n): return [n]
        }
    }

    func checkpointProbe(_ ctx: StageContext, name: String) async -> ProbeResult {
        guard let nodes = try? checkpointNodes(ctx) else { return .unknown }
        return await services.checkpointProbe(name: name, nodes: nodes)
    }

    func checkpoint(_ ctx: StageContext, name: String) async throws {
        try await services.takeCheckpoint(name: name, nodes: try checkpointNodes(ctx), in: ctx)
    }

    // MARK: lab.kubeconfig (seed 11)

    /// Done when the merged file exists with a context per cluster and the mesh node holds the same bytes.
    func kubeconfigProbe(_ ctx: StageContext) async -> ProbeResult {
        guard let data = FileManager.default.contents(atPath: services.paths.kubeconfig) else { return .notDone }
        let text = String(decoding: data, as: UTF8.self)
        for c in lab.clusters where !text.contains("name: \(c.name)\n") { return .notDone }
        guard let mesh = scripts.meshNode else { return .unknown }
        let path = "$HOME/\(StageScripts.meshKubeconfigPath)"
        do {
            guard await services.portProbe.isOpen(host: await services.sessions.host(of: mesh.name), port: lab.ssh.port, timeout: .seconds(2)) else { return .unknown }
            let session = try await services.sessions.session(for: mesh.name, deadline: .seconds(15))
            // The file holds a client key: compared here, never logged.
            var cat = Command(["/bin/sh", "-c", "cat \"\(path)\""], deadline: Self.probeDeadline)
            cat.secretOutput = true
            let r = try await session.run(cat)
            guard r.succeeded else { return .notDone }
            return r.stdout == data ? .done : .notDone
        } catch {
            return .unknown
        }
    }

    func kubeconfig(_ ctx: StageContext) async throws {
        var adminConfs: [String: String] = [:]
        for c in lab.clusters {
            let script = try scripts.render(.adminKubeconfig, cluster: c.name)
            let session = try await services.sessions.session(for: script.host)
            let r = try await session.run(try script.command())
            guard r.succeeded, !r.stdout.isEmpty else {
                throw LabError(.commandFailed, "cannot read /etc/kubernetes/admin.conf on \(script.host) (exit \(r.exitStatus))",
                               location: .node(script.host), hint: "cluster.init must have run there: labctl up --from \(KubernetesStages.ID.initControlPlane)",
                               detail: r.stderrText.split(separator: "\n").suffix(3).joined(separator: "\n"))
            }
            adminConfs[c.name] = r.stdoutText
            ctx.log("fetched \(c.name)'s admin kubeconfig from \(script.host) (not logged)")
        }
        let merged = try KubeconfigMerge.merge(lab: lab, adminConfs: adminConfs)
        try KubeconfigMerge.write(merged, paths: services.paths)
        ctx.log("wrote \(services.paths.kubeconfig) (mode 0600) with contexts \(lab.clusters.map(\.name).joined(separator: ", "))")
        let upload = try scripts.render(.meshKubeconfig)
        let out = try await run(upload, ctx, input: StageInputs.kubeconfig(merged))
        ctx.log("installed on \(upload.host) at \(out["kubeconfig.path"] ?? "~/\(StageScripts.meshKubeconfigPath)") (\(out["kubeconfig.mesh"] ?? "?"))")
        ctx.log("use it from this machine: export KUBECONFIG=\(services.paths.kubeconfig)")
    }
}
