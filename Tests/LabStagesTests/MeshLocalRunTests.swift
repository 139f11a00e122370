import Foundation
import LabKit
import LabTestSupport
import LabPKI
import Testing
@testable import LabStages

/// The real mesh stages (actions, probes, scripts, LabPKI) run through the real engine, with the
/// guest replaced by the host: a "session" that runs each command locally, with the testbed's
/// recording stubs (`Tests/Testbed/stubs/labctl-stub`, paths moved into a temp dir) first on PATH.
/// Needs only bash and python3, so it runs everywhere; the testbed test (EndToEndTests.MeshTests)
/// adds real guests and SSH. Nothing leaves the machine: node addresses are loopback, port 1
/// (nothing listens), and the stubs never use the network.
@Suite(.serialized, .enabled(if: Fixture.which("python3") != nil, "needs python3 for the recording stubs"),
       .enabled(if: StrictDoubles.library != nil, "needs the strict doubles' library: `Tests/Testbed/testbed stub-lib`"))
struct MeshLocalRunTests {
    /// A sandbox: the stubs' state and journal, the Istio release, the lab's state directory.
    struct Sandbox {
        let root: String
        var bin: String { root + "/bin" }
        var shared: String { root + "/state/shared" }
        var istio: String { root + "/istio" }
        var labState: String { root + "/lab/.labctl" }

        static let istioVersion = "1.10.1"
        static let istioRelease = "https://github.com/istio/istio/releases/download/\(istioVersion)/istio-\(istioVersion)-linux-amd64.tar.gz"

        init(lab: Lab) throws {
            root = try Fixture.tempDir()
            let fm = FileManager.default
            let stubSource = try String(contentsOfFile: Fixture.repoRoot + "/Tests/Testbed/stubs/labctl-stub", encoding: .utf8)
            let stub = stubSource
                .replacingOccurrences(of: "/var/lib/labctl-stubs", with: root + "/state")
                .replacingOccurrences(of: "/var/log/labctl-stubs.jsonl", with: root + "/guest-journal.jsonl")
                .replacingOccurrences(of: "/usr/local/bin/curl", with: root + "/bin/curl")
            for dir in [bin, shared, istio, labState] {
                try fm.createDirectory(atPath: dir, withIntermediateDirectories: true)
            }
            try stub.write(toFile: bin + "/labctl-stub", atomically: true, encoding: .utf8)
            chmod(bin + "/labctl-stub", 0o755)
            // The strict doubles' modules live next to the stub (STUBS.md, "Strict doubles").
            let stubs = Fixture.repoRoot + "/Tests/Testbed/stubs"
            for file in try fm.contentsOfDirectory(atPath: stubs) where file.hasSuffix(".py") || file.hasSuffix(".json") {
                try fm.copyItem(atPath: stubs + "/" + file, toPath: bin + "/" + file)
            }
            for tool in ["kubectl", "istioctl", "curl"] {
                try fm.createSymbolicLink(atPath: "\(bin)/\(tool)", withDestinationPath: bin + "/labctl-stub")
            }
            // The samples of the stub's simulated Istio release (the ones the testbed's guests unpack).
            let unpack = try Fixture.run(["sh", "-c", "python3 \"$0\" --artifact \"$1\" | tar -xzf - -C \"$2\" --strip-components=1",
                                          bin + "/labctl-stub", Self.istioRelease, istio])
            guard unpack.status == 0 else { throw LabError(.unsupported, "unpacking the stub's Istio release: \(unpack.stderr)") }
            try? fm.removeItem(atPath: istio + "/samples/multicluster/gen-eastwest-gateway.sh")
            try fm.createSymbolicLink(atPath: istio + "/samples/multicluster/gen-eastwest-gateway.sh", withDestinationPath: bin + "/labctl-stub")
            for c in lab.clusters { try makeCluster(c) }
        }

        /// What `kubeadm init` leaves in the stubs' shared state, plus the MetalLB pool (seed 8-9).
        func makeCluster(_ c: ClusterSpec) throws {
            let address = c.controlPlane?.address.description ?? ""
            let dir = "\(shared)/clusters/\(address)"
            try? FileManager.default.removeItem(atPath: dir)
            try FileManager.default.createDirectory(atPath: dir + "/nodes", withIntermediateDirectories: true)
            try #"{"clusterName": "\#(c.name)", "address": "\#(address)"}"#.write(toFile: dir + "/cluster.json", atomically: true, encoding: .utf8)
            let pool = c.metallb.map { "\"\($0.description)\"" }.joined(separator: ", ")
            try #"{"pool": [\#(pool)], "services": {}, "deployments": [], "remoteSecrets": [], "manifests": 0}"#
                .write(toFile: dir + "/state.json", atomically: true, encoding: .utf8)
        }

        struct Call: Decodable {
            var tool: String
            var argv: [String]
            var stdin: String?
            var cluster: String?
            var file: String?
        }

        func journal() throws -> [Call] {
            let text = (try? String(contentsOfFile: shared + "/journal.jsonl", encoding: .utf8)) ?? ""
            return try text.split(separator: "\n").map { try JSONDecoder().decode(Call.self, from: Data($0.utf8)) }
        }

        func remove() { try? FileManager.default.removeItem(atPath: root) }
    }

    /// The "guest": runs each command on the host with the stubs first on PATH. The rendered
    /// scripts name `/opt/istio-1.10.1`; the session points that at the sandbox's release.
    struct LocalSession: GuestSession {
        let endpoint: GuestEndpoint
        let sandbox: Sandbox
        func run(_ command: Command) async throws -> CommandResult {
            var c = command
            c.sudo = false
            if let stdin = c.stdin {
                c.stdin = Data(String(decoding: stdin, as: UTF8.self)
                    .replacingOccurrences(of: "ISTIO_DIR=/opt/istio-1.10.1", with: "ISTIO_DIR=\(sandbox.istio)").utf8)
            }
            let path = sandbox.bin + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")
            var environment = ["PATH": path, "HOME": sandbox.root, "TMPDIR": sandbox.root,
                               "LABCTL_STUB_ISTIO_VERSION": Sandbox.istioVersion]
            environment["LABCTL_STUB_LIB"] = StrictDoubles.library
            return try await HostProcessRunner(environment: environment).run(c)
        }
        func upload(_ data: Data, to path: String, mode: Int32) async throws { throw LabError(.unsupported, "upload") }
        func download(_ path: String) async throws -> Data { throw LabError(.unsupported, "download") }
        func close() async {}
    }

    struct LocalConnector: GuestConnector {
        let sandbox: Sandbox
        func connect(_ endpoint: GuestEndpoint, deadline: Duration) async throws -> any GuestSession {
            LocalSession(endpoint: endpoint, sandbox: sandbox)
        }
    }

    /// The repository's lab with loopback addresses and an SSH port nobody listens on.
    static func lab(vmFolder: String) throws -> Lab {
        var lab = try Fixture.lab(profile: "seed-2021")
        var host = 11
        for c in lab.clusters.indices {
            for n in lab.clusters[c].nodes.indices {
                lab.clusters[c].nodes[n].address = try #require(IPv4Address("127.0.77.\(host)"))
                host += 1
            }
        }
        lab.ssh.port = 1
        lab.vmware.vmFolder = vmFolder
        return lab
    }

    /// The mesh group behind no-op stand-ins for the Kubernetes group's lab stages.
    static func stages(_ services: LabServices) -> [Stage] {
        [
            Stage(id: KubernetesStages.ID.kubeconfig, scope: .lab, probe: { _ in .unknown }, action: { _ in }),
            Stage(id: KubernetesStages.ID.kubeconfigCheckpoint, scope: .lab, dependencies: [.init(KubernetesStages.ID.kubeconfig)],
                  probe: { _ in .unknown }, action: { _ in }),
        ] + MeshStages.stages(services)
    }

    @Test func upThroughTheMeshThenRebuildOfCluster2() async throws {
        let vmFolder = try Fixture.tempDir()
        defer { try? FileManager.default.removeItem(atPath: vmFolder) }
        let lab = try Self.lab(vmFolder: vmFolder)
        let sandbox = try Sandbox(lab: lab)
        defer { sandbox.remove() }
        let paths = LabPaths(root: sandbox.labState)
        for node in lab.nodes {
            try FileManager.default.createDirectory(atPath: "\(vmFolder)/\(node.name)", withIntermediateDirectories: true)
            _ = FileManager.default.createFile(atPath: "\(vmFolder)/\(node.name)/\(node.name).vmx", contents: Data())
        }
        let services = try LabServices(lab: lab, paths: paths, labDirectory: sandbox.root + "/lab", hypervisor: SnapshotHypervisor(),
                                       connector: LocalConnector(sandbox: sandbox), vmConfigurator: NoGuests(configured: true), hostKeys: NoGuests(), portProbe: FixedPortProbe(),
                                       labKey: "/nonexistent")
        let topology = LabTopology(lab: lab)
        let address = Dictionary(uniqueKeysWithValues: lab.clusters.map { ($0.name, $0.controlPlane?.address.description ?? "") })

        let up = try await LabRun.run(stages: Self.stages(services), topology: topology, paths: paths, onEvent: { _ in })
        #expect(up.outcome == .succeeded, "\(up.failures.map { "\($0.instance): \($0.error) \($0.lastLogLines.joined(separator: "\n"))" })")
        #expect(Set(up.ran.map(\.description)).isSuperset(of: ["cluster.istio-cacerts@cluster1", "lab.istio-trust@lab", "cluster.istio-install@cluster2",
                                                               "lab.istio-remote-secrets@lab", "lab.mesh-verify@lab", "lab.mesh-checkpoint@lab"]))
        let journal = try sandbox.journal()
        let mesh = journal.filter { $0.tool == "kubectl" || $0.tool == "istioctl" }
        #expect(!mesh.isEmpty)
        for call in mesh {
            let context = call.argv.first { $0.hasPrefix("--context=") }.map { String($0.dropFirst(10)) }
            #expect(context != nil, "\(call.argv) names no context")
            #expect(call.cluster == context.flatMap { address[$0] }, "\(call.argv) reached \(call.cluster ?? "nothing")")
        }
        // Istio values only in their own context; the secret and label before the install.
        let installs = mesh.filter { $0.tool == "istioctl" && $0.argv.dropFirst().first == "install" && !($0.file ?? "").contains("eastwest") }
        #expect(installs.count == 2)
        for call in installs {
            let owner = address.first { $0.value == call.cluster }?.key ?? "?"
            #expect((call.file ?? "").contains("clusterName: \(owner)"))
            #expect(!(call.file ?? "").contains(owner == "cluster1" ? "cluster2" : "cluster1"), "foreign values in \(owner)")
            let install = try #require(mesh.firstIndex { $0.argv == call.argv && $0.cluster == call.cluster })
            let secret = try #require(mesh.firstIndex { $0.cluster == call.cluster && ($0.stdin ?? "").contains("name: cacerts") })
            #expect(secret < install)
        }
        #expect(Set(journal.filter { $0.tool == "gen-eastwest-gateway.sh" }.map { $0.argv.dropFirst().joined(separator: " ") })
                == ["--mesh mesh1 --cluster cluster1 --network network1", "--mesh mesh1 --cluster cluster2 --network network2"])
        // The uploaded cacerts are exactly LabPKI's files; keys 0600 and in no log.
        let logs = ((try? FileManager.default.contentsOfDirectory(atPath: paths.logs)) ?? [])
            .compactMap { try? String(contentsOfFile: "\(paths.logs)/\($0)", encoding: .utf8) }.joined(separator: "\n")
        #expect(logs.contains("issued a new intermediate CA for cluster2"))
        for c in lab.clusters {
            let applied = mesh.last { $0.cluster == address[c.name] && ($0.stdin ?? "").contains("name: cacerts") }?.stdin ?? ""
            let dir = MeshCA.clusterDirectory(c.name, in: paths)
            for file in StageInputs.caFiles {
                let local = try Data(contentsOf: URL(fileURLWithPath: "\(dir)/\(file)"))
                #expect(applied.contains("  \(file): \(local.base64EncodedString())\n"), "\(c.name)/\(file)")
            }
            let mode = try (FileManager.default.attributesOfItem(atPath: "\(dir)/ca-key.pem")[.posixPermissions] as? NSNumber)?.intValue
            #expect(mode == 0o600)
            let key = try String(contentsOfFile: "\(dir)/ca-key.pem", encoding: .utf8)
            #expect(!key.split(separator: "\n").filter { !$0.hasPrefix("-----") }.contains { logs.contains($0) }, "\(c.name)'s CA key in a log")
        }
        let verified = try await MeshVerifier(services: services).run()
        #expect(verified.map(\.ok) == [true, true] && verified.allSatisfy { $0.answered == ["v1", "v2"] })

        // rebuild cluster2: a new cluster2 (the stubs forget it), a new intermediate under the same root,
        // cluster1's Istio untouched, both remote secrets refreshed.
        let root = try String(contentsOfFile: paths.pki + "/root-cert.pem", encoding: .utf8)
        let c1Before = try String(contentsOfFile: MeshCA.clusterDirectory("cluster1", in: paths) + "/ca-cert.pem", encoding: .utf8)
        let c2Before = try String(contentsOfFile: MeshCA.clusterDirectory("cluster2", in: paths) + "/ca-cert.pem", encoding: .utf8)
        try sandbox.makeCluster(try #require(lab.cluster(named: "cluster2")))
        let callsBefore = journal.count
        let rebuilt = try await LabRun.rebuild(scope: .cluster("cluster2"), stages: Self.stages(services), topology: topology, paths: paths,
                                               onEvent: { _ in })
        #expect(rebuilt.outcome == .succeeded, "\(rebuilt.failures.map { "\($0.instance): \($0.error)" })")
        #expect(!rebuilt.ran.contains { $0.scope == .cluster("cluster1") }, "\(rebuilt.ran)")
        #expect(try String(contentsOfFile: paths.pki + "/root-cert.pem", encoding: .utf8) == root, "the root is never replaced")
        #expect(try String(contentsOfFile: MeshCA.clusterDirectory("cluster1", in: paths) + "/ca-cert.pem", encoding: .utf8) == c1Before)
        #expect(try String(contentsOfFile: MeshCA.clusterDirectory("cluster2", in: paths) + "/ca-cert.pem", encoding: .utf8) != c2Before,
                "cluster2 gets a new intermediate")
        #expect(try MeshCA.verifyTrust(in: paths, clusters: ["cluster1", "cluster2"]).isTrusted)
        let after = try sandbox.journal().dropFirst(callsBefore)
        #expect(!after.contains { $0.tool == "istioctl" && $0.argv.contains("install") && $0.cluster == address["cluster1"] },
                "Istio re-installed in cluster1")
        #expect(after.contains { $0.tool == "istioctl" && $0.argv.contains("install") && $0.cluster == address["cluster2"] })
        for (from, to) in [("cluster1", "cluster2"), ("cluster2", "cluster1")] {
            #expect(after.contains { $0.argv.contains("create-remote-secret") && $0.argv.contains("--context=\(from)") })
            #expect(after.contains { $0.cluster == address[to] && ($0.stdin ?? "").contains("name: istio-remote-secret-\(from)") },
                    "\(from)'s remote secret refreshed in \(to)")
        }
        #expect(rebuilt.ran.contains(StageInstanceID(MeshStages.ID.verify, .lab)))
    }
}
