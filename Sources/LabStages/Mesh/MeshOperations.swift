import Foundation
import LabKit
import LabPKI

/// The probes and actions of the mesh stages. Every guest command runs on the mesh node (the first
/// cluster's control plane, where the seed runs istioctl) with the merged kubeconfig, and names its
/// context explicitly: the context and the values of a cluster stage come from the same lab.json
/// cluster entry (the seed's 13.4 bug cannot be written down).
struct MeshOperations: Sendable {
    let services: LabServices
    var lab: Lab { services.lab }
    var scripts: StageScripts { services.scripts }

    static let probeDeadline = Duration.seconds(30)

    // MARK: Helpers

    func meshNode() throws -> NodeSpec {
        guard let node = scripts.meshNode else {
            throw LabError(.invalidInput, "the lab has no control plane to run the mesh stages on", location: .lab("clusters"),
                           hint: "give the first cluster a node with \"role\": \"control-plane\"")
        }
        return node
    }

    func cluster(_ ctx: StageContext) throws -> ClusterSpec {
        guard case .cluster(let name) = ctx.scope, let c = lab.cluster(named: name) else {
            throw LabError(.internalError, "\(ctx.instance) is not a cluster instance of this lab", location: .lab("clusters"))
        }
        return c
    }

    /// A shell line with the merged kubeconfig (`_mesh.sh` does the same for the scripts).
    static func meshShell(_ line: String) -> String {
        "export KUBECONFIG=\"$HOME/\(StageScripts.meshKubeconfigPath)\"; \(line)"
    }

    /// Runs a read-only shell line on the mesh node as the lab user; nil when it cannot tell.
    func probe(_ line: String) async -> CommandResult? {
        guard let node = try? meshNode(),
              await services.portProbe.isOpen(host: await services.sessions.host(of: node.name), port: lab.ssh.port, timeout: .seconds(2))
        else { return nil }
        do {
            let session = try await services.sessions.session(for: node.name, deadline: .seconds(15))
            return try await session.run(Command(["/bin/sh", "-c", Self.meshShell(line)], deadline: Self.probeDeadline))
        } catch {
            await services.sessions.drop(node: node.name)
            return nil
        }
    }

    /// Runs a read-only shell line on the mesh node for an action; a failure is an error naming the command.
    func query(_ line: String, what: String) async throws -> String {
        let node = try meshNode()
        let session = try await services.sessions.session(for: node.name)
        let r = try await session.run(Command(["/bin/sh", "-c", Self.meshShell(line)], deadline: Self.probeDeadline))
        guard r.succeeded else {
            throw LabError(.commandFailed, "could not read \(what) (exit \(r.exitStatus))", location: .node(node.name, path: "\(line)"),
                           hint: "check the merged kubeconfig on \(node.name) (~/\(StageScripts.meshKubeconfigPath)); re-run labctl up",
                           detail: r.stderrText.split(separator: "\n").suffix(3).joined(separator: "\n"))
        }
        return r.stdoutText
    }

    func run(_ script: RenderedScript, _ ctx: StageContext?, input: String? = nil) async throws -> [String: String] {
        let node = try meshNode()
        do {
            let session = try await services.sessions.session(for: node.name)
            return try await services.runScript(script, on: session, ctx, input: input)
        } catch let e as LabError where e.code == .connection {
            await services.sessions.drop(node: node.name)
            throw e
        }
    }

    /// `jsonpath` of one key of the cacerts secret (dots escaped as kubectl wants).
    static func secretKey(_ cluster: String, _ file: String) -> String {
        "kubectl --context=\(cluster) -n istio-system get secret cacerts -o 'jsonpath={.data.\(file.replacingOccurrences(of: ".", with: "\\."))}'"
    }

    static func networkLabel(_ cluster: String) -> String {
        "kubectl --context=\(cluster) get namespace istio-system -o 'jsonpath={.metadata.labels.topology\\.istio\\.io/network}'"
    }

    func caProfile() throws -> CAProfile {
        try CAProfile.named(lab.profile, istioVersion: lab.versions["istio"])
    }

    // MARK: cluster.istio-cacerts (seed 12.1-12.3)

    /// Done when the cluster's cacerts secret holds this lab's files for it and istio-system has its network label.
    func caCertsProbe(_ ctx: StageContext) async -> ProbeResult {
        guard let c = try? cluster(ctx) else { return .unknown }
        let files = ClusterCA.Files(directory: MeshCA.clusterDirectory(c.name, in: services.paths))
        guard let local = FileManager.default.contents(atPath: files.caCert) else { return .notDone }
        guard let r = await probe("\(Self.secretKey(c.name, "ca-cert.pem")); echo; \(Self.networkLabel(c.name))") else { return .unknown }
        let lines = r.stdoutText.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        guard r.succeeded, lines.count >= 2 else { return .notDone }
        return lines[0] == local.base64EncodedString() && lines[1] == c.network ? .done : .notDone
    }

    func caCerts(_ ctx: StageContext) async throws {
        let c = try cluster(ctx)
        let paths = services.paths
        // The root is made once per lab and only ever loaded afterwards; a damaged root stops here
        // with a hint to `labctl ca replace-root` instead of being regenerated (docs/pki.md).
        let ca = try MeshCA.ensureRoot(in: paths, profile: try caProfile())
        let rootFingerprint = (try? sha256Fingerprint(of: ca.root)) ?? "?"
        ctx.log("lab root CA \(rootFingerprint) (\(ca.rootCertPath))")
        // Keep the cluster's intermediate only when this very cluster already holds it (a re-run
        // after a kill). A cluster that does not (first run, `rebuild`) gets a new one under the
        // same root: an intermediate's key never has to outlive the cluster it was made for.
        let existing = try? MeshCA.verifyTrust(in: paths, clusters: [c.name])
        var keep = false
        if let existing, existing.isTrusted,
           let local = FileManager.default.contents(atPath: ClusterCA.Files(directory: MeshCA.clusterDirectory(c.name, in: paths)).caCert) {
            let held = await probe(Self.secretKey(c.name, "ca-cert.pem"))
            keep = held?.succeeded == true && held?.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines) == local.base64EncodedString()
        }
        if keep {
            ctx.log("\(c.name) already holds its intermediate CA \(existing?.clusters.first?.intermediateFingerprint ?? "?"); kept")
        } else {
            let issued = try ca.issueIntermediate(cluster: c.name)
            let fp = (try? sha256Fingerprint(of: issued.certificate)) ?? "?"
            ctx.log("issued a new intermediate CA for \(c.name) (\(fp)) under root \(rootFingerprint): \(issued.files.directory)")
        }
        let directory = MeshCA.clusterDirectory(c.name, in: paths)
        let input = try StageInputs.caCertificates(directory: directory)
        let out = try await run(try scripts.render(.istioCACerts, cluster: c.name), ctx, input: input)
        let network = out["network.\(c.name)"] ?? ""
        ctx.log("cacerts secret in context \(c.name): \(out["cacerts.\(c.name)"] ?? "?"); istio-system network label: \(network)")
        guard network == c.network else {
            throw LabError(.commandFailed, "istio-system in \(c.name) is labelled with network '\(network)', expected '\(c.network)'",
                           location: .lab("clusters[\(c.name)].network"), hint: "re-run labctl up --from \(MeshStages.ID.caCerts)@\(c.name)")
        }
    }

    // MARK: lab.istio-trust (seed 12.4, corrected)

    /// Reads back what each cluster's cacerts secret holds (never the key) and checks it with
    /// `MeshCA.verifyTrust`: identical `root-cert.pem` everywhere, equal to the lab's root, and each
    /// intermediate chaining to it. The seed compared `ca-cert.pem`, which differs by design.
    func trust(_ ctx: StageContext) async throws {
        let ca = try MeshCA.load(in: services.paths, profile: try caProfile())
        var materials: [ClusterCAMaterial] = []
        for c in lab.clusters {
            let line = ["root-cert.pem", "ca-cert.pem", "cert-chain.pem"].map { "\(Self.secretKey(c.name, $0)); echo" }.joined(separator: "; ")
            let out = try await query(line, what: "the cacerts secret of \(c.name)")
            let parts = out.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            func pem(_ i: Int, _ file: String) throws -> String {
                guard i < parts.count, let data = Data(base64Encoded: parts[i]), !data.isEmpty else {
                    throw LabError(.notFound, "\(c.name)'s cacerts secret has no \(file)", location: .other("context \(c.name): istio-system/cacerts"),
                                   hint: "re-run labctl up --from \(MeshStages.ID.caCerts)@\(c.name)")
                }
                return String(decoding: data, as: UTF8.self)
            }
            materials.append(ClusterCAMaterial(cluster: c.name, rootCertPEM: try pem(0, "root-cert.pem"), caCertPEM: try pem(1, "ca-cert.pem"),
                                               certChainPEM: try pem(2, "cert-chain.pem"), source: "secret istio-system/cacerts in context \(c.name)"))
        }
        let report = MeshCA.verifyTrust(materials, expectedRootPEM: ca.rootPEM)
        ctx.log("root-cert.pem: identical in \(materials.map(\.cluster).joined(separator: ", ")) and equal to the lab root \(report.rootFingerprint ?? "?")")
        for entry in report.clusters {
            ctx.log("\(entry.cluster): intermediate \(entry.intermediateFingerprint) chains to the root (valid until \(entry.intermediateNotAfter))")
        }
        for p in report.problems.dropFirst() { ctx.log("problem: \(p.message)") }
        try report.check()
    }

    // MARK: cluster.istio-install (seed 13.1, 13.4 corrected)

    func installProbe(_ ctx: StageContext) async -> ProbeResult {
        guard let c = try? cluster(ctx) else { return .unknown }
        let line = "kubectl --context=\(c.name) -n istio-system get deployment istiod -o 'jsonpath={.spec.template.spec.containers[0].env[?(@.name==\"CLUSTER_ID\")].value}'"
        guard let r = await probe(line) else { return .unknown }
        return r.succeeded && r.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines) == c.name ? .done : .notDone
    }

    func install(_ ctx: StageContext) async throws {
        let c = try cluster(ctx)
        let out = try await run(try scripts.render(.istioInstall, cluster: c.name), ctx)
        let id = out["istio.\(c.name).clusterId"] ?? ""
        let network = out["istio.\(c.name).network"] ?? ""
        ctx.log("istiod in context \(c.name): CLUSTER_ID=\(id), network=\(network), install \(out["istio.\(c.name).install"] ?? "?")")
        guard id == c.name, network == c.network else {
            throw LabError(.commandFailed, "istiod in context \(c.name) reports CLUSTER_ID=\(id) and network=\(network)",
                           location: .lab("clusters[\(c.name)]"), hint: "expected \(c.name) and \(c.network); see labctl logs \(scripts.meshNode?.name ?? "")")
        }
    }

    // MARK: cluster.istio-eastwest (seed 13.2, 13.3, 13.5, 13.6)

    func eastWestProbe(_ ctx: StageContext) async -> ProbeResult {
        guard let c = try? cluster(ctx) else { return .unknown }
        guard let r = await probe("kubectl --context=\(c.name) -n istio-system get service istio-eastwestgateway -o 'jsonpath={.status.loadBalancer.ingress[0].ip}'")
        else { return .unknown }
        let ip = r.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)
        return r.succeeded && IPv4Address(ip).map { a in c.metallb.contains { $0.contains(a) } } == true ? .done : .notDone
    }

    func eastWest(_ ctx: StageContext) async throws {
        let c = try cluster(ctx)
        ctx.waiting(for: "an external address for istio-eastwestgateway in \(c.name)",
                    hint: "MetalLB assigns one from \(c.metallb.map(\.description).joined(separator: ", "))")
        let out = try await run(try scripts.render(.istioEastWest, cluster: c.name), ctx)
        let ip = out["eastwest.\(c.name).ip"] ?? ""
        ctx.log("istio-eastwestgateway in \(c.name): \(out["eastwest.\(c.name).install"] ?? "?"), external address \(ip)")
        guard let address = IPv4Address(ip), c.metallb.contains(where: { $0.contains(address) }) else {
            throw LabError(.commandFailed, "istio-eastwestgateway in \(c.name) got '\(ip)', outside the cluster's MetalLB pool",
                           location: .lab("clusters[\(c.name)].metallb"),
                           hint: "MetalLB should assign from \(c.metallb.map(\.description).joined(separator: ", ")); check kubectl --context=\(c.name) -n metallb-system get pods and the pool")
        }
    }

    // MARK: cluster.mesh-sample (seed 14, deploy)

    func sampleProbe(_ ctx: StageContext) async -> ProbeResult {
        guard let c = try? cluster(ctx), let index = lab.clusters.firstIndex(of: c) else { return .unknown }
        let versions = StageScripts.helloworldVersions(count: lab.clusters.count)
        guard index < versions.count else { return .unknown }
        let client = scripts.profile.istio.client
        guard let r = await probe("kubectl --context=\(c.name) -n sample get deployment helloworld-\(versions[index]) \(client) -o name") else { return .unknown }
        let names = r.stdoutText.split(separator: "\n").map(String.init)
        return r.succeeded && names.contains("deployment.apps/helloworld-\(versions[index])") && names.contains("deployment.apps/\(client)") ? .done : .notDone
    }

    func sample(_ ctx: StageContext) async throws {
        let c = try cluster(ctx)
        let out = try await run(try scripts.render(.meshSample, cluster: c.name), ctx)
        ctx.log("sample namespace in \(c.name): helloworld \(out["sample.\(c.name).helloworld"] ?? "?") and \(scripts.profile.istio.client)")
    }

    // MARK: lab.istio-remote-secrets (seed 13.7)

    func remoteSecretsProbe(_ ctx: StageContext) async -> ProbeResult {
        var lines: [String] = []
        for a in lab.clusters {
            for b in lab.clusters where b.name != a.name {
                lines.append("kubectl --context=\(b.name) -n istio-system get secret istio-remote-secret-\(a.name) -o name")
            }
        }
        guard !lines.isEmpty, let r = await probe(lines.joined(separator: "; ")) else { return .unknown }
        return r.succeeded && r.stdoutText.split(separator: "\n").count == lines.count ? .done : .notDone
    }

    func remoteSecrets(_ ctx: StageContext) async throws {
        for c in lab.clusters {
            let out = try await run(try scripts.render(.istioRemoteSecret, cluster: c.name), ctx)
            for other in lab.clusters where other.name != c.name {
                guard out["remoteSecret.\(c.name).in.\(other.name)"] == "applied" else {
                    throw LabError(.commandFailed, "the remote secret of \(c.name) was not applied in \(other.name)",
                                   location: .other("context \(other.name)"), hint: "see labctl logs \(scripts.meshNode?.name ?? "")")
                }
                ctx.log("remote secret of \(c.name) (server \(c.controlPlane.map { "https://\($0.address):6443" } ?? "?")) applied in \(other.name)")
            }
        }
    }

    // MARK: lab.mesh-verify (seed 14)

    func verify(_ ctx: StageContext) async throws {
        let results = try await MeshVerifier(services: services).run(log: { ctx.log($0) })
        for r in results { ctx.log(r.summaryLine) }
        if let failed = results.first(where: { !$0.ok }) {
            throw failed.error
        }
    }

    // MARK: lab.mesh-checkpoint

    /// The last checkpoint (seed 14) is a lab snapshot of every node, like the earlier ones.
    func checkpointProbe(_ ctx: StageContext) async -> ProbeResult {
        await services.checkpointProbe(name: lab.checkpoints.mesh, nodes: lab.nodes.map(\.name))
    }

    func checkpoint(_ ctx: StageContext) async throws {
        try await services.takeCheckpoint(name: lab.checkpoints.mesh, nodes: lab.nodes.map(\.name), in: ctx)
    }
}
