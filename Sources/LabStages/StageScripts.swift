import Foundation
import LabKit

/// A script rendered for one lab, cluster or node: what the stage engine runs over SSH.
///
/// Run it with `command(input:)`: the text goes to `bash -s` on standard input, never in argv.
/// Scripts with an `input` read one secret after their own text (their last line is `main`, and
/// bash leaves the rest of standard input to the commands it runs, as POSIX requires of a shell
/// reading commands from standard input).
public struct RenderedScript: Sendable, Hashable {
    public var script: StageScript
    /// `kubeadm-init@cluster1`, `node-identity@cluster1-worker-node01`: for logs and journals.
    public var name: String
    /// The node (or the base VM) to run it on.
    public var host: String
    public var text: String
    /// Values that must be redacted wherever the script or its output is shown. Empty at render
    /// time (no secret is rendered into a script); `command(input:)` adds the input.
    public var secrets: [String]
    public var sudo: Bool
    public var deadline: Duration
    /// The secret the stage must send after the script, if any.
    public var input: SecretInput?
    /// Standard output is secret: pass it on (join command, admin.conf), never log it.
    public var outputIsSecret: Bool
    /// The manifests embedded in the text, by name (for tests, dry runs and `--explain`).
    public var manifests: [String: String]

    /// The command that runs the script. `input` is required exactly when `self.input` is set.
    public func command(input secret: String? = nil) throws -> Command {
        var stdin = text.hasSuffix("\n") ? text : text + "\n"
        var secrets = self.secrets
        switch (self.input, secret) {
        case (nil, nil):
            break
        case (let kind?, let secret?):
            // An empty sudo password means "sudo needs none" (base-access then writes its rule with sudo -n).
            guard !secret.isEmpty || kind == .sudoPassword else {
                throw LabError(.internalError, "\(name) needs its \(kind.rawValue) input, got an empty one", location: .other(name))
            }
            if kind != .caCertificates, secret.contains("\n") {
                throw LabError(.internalError, "\(name) reads its \(kind.rawValue) as one line", location: .other(name))
            }
            stdin += secret.hasSuffix("\n") ? secret : secret + "\n"
            secrets.append(secret)
            secrets += secret.split(separator: "\n").map { String($0) }
        case (let kind?, nil):
            throw LabError(.internalError, "\(name) needs its \(kind.rawValue) on standard input", location: .other(name))
        case (nil, .some):
            throw LabError(.internalError, "\(name) takes no input", location: .other(name))
        }
        var command = Command.script(stdin, deadline: deadline, sudo: sudo, secrets: secrets)
        command.secretOutput = outputIsSecret
        return command
    }
}

/// Renders the embedded scripts and manifests for one lab and its profile.
///
/// ```swift
/// let scripts = try StageScripts(lab: lab)
/// let init = try scripts.render(.kubeadmInit, cluster: "cluster1")
/// let result = try await session.run(init.command())
/// ```
public struct StageScripts: Sendable {
    public let lab: Lab
    public let profile: Profile
    /// The lab's SSH public key line (`ssh-ed25519 AAAA… comment`), needed by `base-access` only.
    public let publicKey: String?

    /// Where the merged kubeconfig lives on the mesh node, relative to the lab user's home.
    public static let meshKubeconfigPath = ".kube/labctl-mesh.yaml"
    /// How often `mesh-verify` calls helloworld at most.
    public static let verifyTries = 30

    public init(lab: Lab, publicKey: String? = nil) throws {
        try Self.validate(lab: lab)
        if let publicKey, !LabValidator.isScriptWord(publicKey, extra: "+/=@:._- ") {
            throw LabError(.invalidInput, "the SSH public key has characters a script cannot carry", location: .other("ssh public key"),
                           hint: "use an OpenSSH public key line: ssh-ed25519 AAAA… comment")
        }
        self.lab = lab
        self.profile = try Profile.load(for: lab)
        self.publicKey = publicKey
    }

    public static func render(_ script: StageScript, lab: Lab, cluster: String? = nil, node: String? = nil,
                              publicKey: String? = nil) throws -> RenderedScript {
        try StageScripts(lab: lab, publicKey: publicKey).render(script, cluster: cluster, node: node)
    }

    /// The node the mesh stages run on: the first cluster's control plane (where the seed runs istioctl).
    public var meshNode: NodeSpec? { lab.clusters.first?.controlPlane }

    /// Renders one script. Base scripts take neither `cluster` nor `node`; node scripts take `node`;
    /// cluster scripts take `cluster`; lab scripts take neither.
    public func render(_ script: StageScript, cluster clusterName: String? = nil, node nodeName: String? = nil) throws -> RenderedScript {
        let (cluster, node) = try resolve(script, cluster: clusterName, node: nodeName)
        var context = try context(script: script, cluster: cluster, node: node)

        var manifests: [String: String] = [:]
        for manifest in script.manifests {
            manifests[manifest.rawValue] = try Templates.render(manifest.templateName, kind: "manifests", context: context)
        }
        context.manifests = Dictionary(uniqueKeysWithValues: script.manifests.map { manifest in
            let text = manifests[manifest.rawValue] ?? ""
            return (manifest.contextKey, text.hasSuffix("\n") ? String(text.dropLast()) : text)
        })
        let text = try Templates.render(script.templateName, kind: "scripts", context: context)
        let suffix = script.scope == .cluster ? cluster?.name : node?.name
        return RenderedScript(
            script: script, name: suffix.map { "\(script.rawValue)@\($0)" } ?? script.rawValue, host: context.target, text: text,
            secrets: [], sudo: script.sudo, deadline: script.deadline, input: script.input,
            outputIsSecret: script.outputIsSecret, manifests: manifests)
    }

    /// Renders one manifest on its own (the same text the script embeds).
    public func render(manifest: StageManifest, cluster clusterName: String? = nil, node nodeName: String? = nil) throws -> String {
        let scope: StageScript.Scope = nodeName != nil ? .node : clusterName != nil ? .cluster : .base
        guard let owner = StageScript.allCases.first(where: { $0.manifests.contains(manifest) && $0.scope == scope }) else {
            throw LabError(.internalError, "no script embeds \(manifest.rawValue) for a \(scope.rawValue)")
        }
        return try render(owner, cluster: clusterName, node: nodeName).manifests[manifest.rawValue] ?? ""
    }

    /// Every script of the lab, for every base, node and cluster it applies to, in `up` order.
    public func renderAll() throws -> [RenderedScript] {
        var out: [RenderedScript] = []
        for script in StageScript.allCases {
            switch script.declaration.target {
            case .base, .lab:
                out.append(try render(script))
            case .node(let selection):
                for node in lab.nodes where Self.selects(selection, node) { out.append(try render(script, node: node.name)) }
            case .cluster:
                for cluster in lab.clusters { out.append(try render(script, cluster: cluster.name)) }
            }
        }
        return out
    }

    static func selects(_ selection: StageScript.NodeSelection, _ node: NodeSpec) -> Bool {
        switch selection {
        case .all: true
        case .workers: node.role == .worker
        }
    }

    // MARK: - Resolution

    func resolve(_ script: StageScript, cluster: String?, node: String?) throws -> (ClusterSpec?, NodeSpec?) {
        let where_ = "\(script.rawValue)"
        switch script.declaration.target {
        case .base, .lab:
            guard cluster == nil, node == nil else {
                throw LabError(.internalError, "\(where_) is rendered for the whole lab, without a cluster or node", location: .other(where_))
            }
            return (nil, nil)
        case .node(let selection):
            guard let node, cluster == nil || lab.node(named: node).flatMap(lab.cluster(of:))?.name == cluster else {
                throw LabError(.internalError, "\(where_) is rendered for one node", location: .other(where_))
            }
            guard let spec = lab.node(named: node), let owner = lab.cluster(of: spec) else {
                throw LabError(.notFound, "no node '\(node)' in lab \(lab.name)", location: .lab("clusters[].nodes"),
                               hint: "nodes: \(lab.nodes.map(\.name).joined(separator: ", "))")
            }
            guard Self.selects(selection, spec) else {
                throw LabError(.invalidInput, "\(where_) does not run on \(node), a \(spec.role.rawValue) (it runs on: \(selection))", location: .other(where_))
            }
            return (owner, spec)
        case .cluster:
            guard let cluster, node == nil else {
                throw LabError(.internalError, "\(where_) is rendered for one cluster", location: .other(where_))
            }
            guard let spec = lab.cluster(named: cluster) else {
                throw LabError(.notFound, "no cluster '\(cluster)' in lab \(lab.name)", location: .lab("clusters"),
                               hint: "clusters: \(lab.clusters.map(\.name).joined(separator: ", "))")
            }
            guard let cp = spec.controlPlane else {
                throw LabError(.invalidInput, "cluster \(cluster) has no control-plane node", location: .lab("clusters[\(cluster)].nodes"))
            }
            return (spec, cp)
        }
    }

    private func host(for script: StageScript, cluster: ClusterSpec?, node: NodeSpec?) throws -> String {
        switch script.declaration.target {
        case .base:
            return lab.base.name
        case .lab, .cluster(on: .meshNode):
            guard let mesh = meshNode else {
                throw LabError(.invalidInput, "the lab has no control plane to run the mesh stages on", location: .lab("clusters"))
            }
            return mesh.name
        case .node, .cluster(on: .controlPlane):
            guard let node else { throw LabError(.internalError, "\(script.rawValue) has no node to run on") }
            return node.name
        }
    }

    // MARK: - Context

    func context(script: StageScript, cluster: ClusterSpec?, node: NodeSpec?) throws -> ScriptContext {
        let versions = Self.helloworldVersions(count: lab.clusters.count)
        let base = ScriptContext.Machine(name: lab.base.name, interface: lab.base.interface, address: lab.base.address?.description)
        var context = ScriptContext(
            script: .init(id: script.rawValue, summary: script.summary, seed: script.seed),
            lab: .init(name: lab.name, user: lab.ssh.user, publicKey: publicKey ?? ""),
            profile: profile,
            guest: .init(arch: profile.arch.rawValue, uname: profile.arch.unameMachine),
            network: .init(prefix: lab.network.subnet.prefixLength, gateway: lab.network.gateway.description,
                           dnsList: lab.network.dns.map(\.description).joined(separator: ", ")),
            flags: .init(
                docker: profile.runtime.kind == .docker, containerd: profile.runtime.kind == .containerd,
                k8sBinaries: profile.kubernetes.install == .binaries, k8sApt: profile.kubernetes.install == .apt,
                weave: profile.cni.kind == .weave, flannel: profile.cni.kind == .flannel,
                metallbConfigMap: profile.metallb.config == .configmap, metallbCRDs: profile.metallb.config == .crds,
                ipvs: profile.kubernetes.kubeProxyMode == "ipvs",
                netplanGateway4: profile.os.netplanGateway == .gateway4,
                eastwestMeshClusterNetwork: profile.istio.eastWestGatewayFlags == .meshClusterNetwork),
            hosts: lab.nodes.map { .init(address: $0.address.description, name: $0.name) },
            clusters: lab.clusters.map { .init(name: $0.name, network: $0.network) },
            firstCluster: lab.clusters.first?.name ?? "",
            clustersAfterFirst: lab.clusters.dropFirst().map { .init(name: $0.name) },
            mesh: .init(id: lab.mesh.id, node: meshNode?.name ?? "", kubeconfig: Self.meshKubeconfigPath, versions: versions,
                        versionList: versions.joined(separator: ","), tries: Self.verifyTries),
            istio: .init(dir: "/opt/istio-\(profile.istio.version)", remoteSecretCommand: profile.istio.remoteSecretCommand.joined(separator: " ")),
            base: base,
            target: try host(for: script, cluster: cluster, node: node))
        if script.scope == .base { context.host = base }
        if let node {
            context.node = .init(name: node.name, address: node.address.description, interface: lab.base.interface, role: node.role.rawValue)
            if script.scope == .node {
                context.host = .init(name: node.name, interface: lab.base.interface, address: node.address.description)
            }
        }
        if let cluster {
            guard let index = lab.clusters.firstIndex(of: cluster) else {
                throw LabError(.internalError, "cluster \(cluster.name) is not in the lab")
            }
            if script == .meshSample, index >= versions.count {
                throw LabError(.unsupported, "Istio's helloworld sample has versions v1 and v2 only; the mesh check needs one per cluster",
                               location: .lab("clusters[\(index)]"), hint: "the mesh verification supports two clusters")
            }
            let cp = cluster.controlPlane
            context.cluster = .init(
                name: cluster.name, network: cluster.network,
                podSubnet: cluster.podSubnet.description, serviceSubnet: cluster.serviceSubnet.description,
                metallb: cluster.metallb.map(\.description), metallbList: cluster.metallb.map(\.description).joined(separator: ","),
                kubernetesServiceIP: cluster.serviceSubnet.host(1).description,
                controlPlane: cp?.name ?? "", apiServer: cp.map { "https://\($0.address):6443" } ?? "",
                helloworldVersion: index < versions.count ? versions[index] : "")
            context.otherClusters = lab.clusters.filter { $0.name != cluster.name }.map { .init(name: $0.name) }
            if case .cluster = script.declaration.target { context.waitNodes = cluster.nodes.map(\.name) }
        }
        return context
    }

    /// helloworld v1 in the first cluster, v2 in the second (seed 14); the sample has only these two.
    static func helloworldVersions(count: Int) -> [String] {
        Array(["v1", "v2"].prefix(count))
    }

    // MARK: - Validation

    /// Names from lab.json end up in shell words and YAML scalars unquoted: allow only what a DNS
    /// label, a user name or an interface name can hold, so no value can break out of its word.
    static func validate(lab: Lab) throws {
        let errors = LabValidator.scriptWordProblems(lab).map {
            LabError(.invalidInput, $0.message, location: .lab($0.path), hint: $0.hint)
        }
        if errors.count == 1, let only = errors.first { throw only }
        if !errors.isEmpty { throw LabErrors(errors) }
    }
}

/// The manifests the scripts embed.
public enum StageManifest: String, CaseIterable, Sendable {
    case netplan
    case kubeadmConfig = "kubeadm-config"
    case metallbPool = "metallb-pool"
    case dnsutils
    case istioOperator = "istio-operator"
    case exposeServices = "expose-services"

    var templateName: String { rawValue + ".yaml" }
    /// `{{{manifests.<contextKey>}}}`: the file name in lowerCamelCase (`kubeadm-config` → `kubeadmConfig`).
    var contextKey: String {
        let words = rawValue.split(separator: "-")
        return (words.first.map(String.init) ?? "") + words.dropFirst().map { $0.prefix(1).uppercased() + $0.dropFirst() }.joined()
    }
}
