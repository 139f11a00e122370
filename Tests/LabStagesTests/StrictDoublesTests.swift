import Foundation
import LabKit
import Testing
@testable import LabStages

/// The testbed's strict doubles (Tests/Testbed/STUBS.md, "Strict doubles") run on the host with python3:
/// each refuses a known-bad input, and every render of both profiles passes them. They need the stub
/// library (PyYAML and the Kubernetes schemas from PyPI), which `Tests/Testbed/testbed stub-lib` builds once.
@Suite(.enabled(if: StrictDoubles.library != nil, "needs `Tests/Testbed/testbed stub-lib` (python3 and pip, PyPI reachable once)"))
struct StrictDoublesTests {
    @Test(arguments: Fixture.profiles)
    func kubeadmConfigDecodesWithoutUnknownFields(profile: String) throws {
        // Defect 2 of issue 13: v1beta4 has no dns.type (dropped in v1beta3), which kubeadm 1.36 reports as
        // "strict decoding error: unknown field "dns.type"" and ignores.
        let scripts = try Fixture.scripts(profile: profile)
        let config = try scripts.render(manifest: .kubeadmConfig, cluster: "cluster1")
        let result = try StrictDoubles.run("strict_kubeadm.py", [StrictDoubles.minor(scripts.profile.kubernetes.version)], file: config, tail: ["validate"])
        #expect(result.status == 0, "\(profile): \(result.stderr)")
    }

    @Test func kubeadmRefusesUnknownFieldsWrongTypesAndUnsupportedAPIVersions() throws {
        let v4 = "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\ndns:\n  type: CoreDNS\n"
        let unknown = try StrictDoubles.run("strict_kubeadm.py", ["36"], file: v4, tail: ["validate"])
        #expect(unknown.status == 1)
        #expect(unknown.stderr.contains(#"strict decoding error: unknown field "dns.type""#))
        // init/join only warn (kubeadm logs the strict error and ignores the field).
        #expect(try StrictDoubles.run("strict_kubeadm.py", ["36"], file: v4).status == 0)
        let old = try StrictDoubles.run("strict_kubeadm.py", ["36"], file: "apiVersion: kubeadm.k8s.io/v1beta2\nkind: InitConfiguration\n")
        #expect(old.stderr.contains("your configuration file uses an old API spec: \"kubeadm.k8s.io/v1beta2\""))
        let new = try StrictDoubles.run("strict_kubeadm.py", ["21"], file: "apiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\n")
        #expect(new.stderr.contains(#"no kind "InitConfiguration" is registered for version "kubeadm.k8s.io/v1beta4""#))
        let v3 = try StrictDoubles.run("strict_kubeadm.py", ["36"], file: "apiVersion: kubeadm.k8s.io/v1beta3\nkind: InitConfiguration\n")
        #expect(v3.status == 1, "kubeadm 1.36 removed v1beta3 (kubernetes/kubernetes#136016)")
        let type = try StrictDoubles.run("strict_kubeadm.py", ["21"], file: "apiVersion: kubeadm.k8s.io/v1beta2\nkind: InitConfiguration\nlocalAPIEndpoint:\n  bindPort: \"x\"\n")
        #expect(type.stderr.contains("cannot unmarshal string into Go struct field APIEndpoint.localAPIEndpoint.bindPort of type int32"))
        let old21 = try StrictDoubles.run("strict_kubeadm.py", ["21"], file: "apiVersion: kubeadm.k8s.io/v1beta2\nkind: ClusterConfiguration\nbogus: 1\n", tail: ["validate"])
        #expect(old21.stderr.contains(#"json: unknown field "bogus""#))
    }

    @Test(arguments: Fixture.profiles)
    func everyRenderedManifestPassesKubectl(profile: String) throws {
        let scripts = try Fixture.scripts(profile: profile)
        let minor = StrictDoubles.minor(scripts.profile.kubernetes.version)
        let bundles = ["istio-\(scripts.profile.istio.version)"] + (scripts.profile.metallb.config == .crds ? ["metallb-\(scripts.profile.metallb.version)"] : [])
        for manifest in [StageManifest.dnsutils, .metallbPool, .exposeServices] {
            let text = try scripts.render(manifest: manifest, cluster: "cluster1")
            let result = try StrictDoubles.run("strict_kubectl.py", [minor], file: text, tail: bundles)
            #expect(result.status == 0, "\(profile) \(manifest): \(result.stderr)")
        }
    }

    @Test func kubectlRefusesUnknownFieldsAndKinds() throws {
        let deployment = """
            apiVersion: apps/v1
            kind: Deployment
            metadata: {name: x}
            spec:
              selector: {matchLabels: {a: b}}
              template: {metadata: {labels: {a: b}}, spec: {containers: [{name: c, image: i, bogus: 1}]}}
            """
        let old = try StrictDoubles.run("strict_kubectl.py", ["21"], file: deployment)
        #expect(old.stderr.contains(#"ValidationError(Deployment.spec.template.spec.containers[0]): unknown field "bogus" in io.k8s.api.core.v1.Container"#))
        let new = try StrictDoubles.run("strict_kubectl.py", ["36"], file: deployment)
        #expect(new.stderr.contains(#"strict decoding error: unknown field "spec.template.spec.containers[0].bogus""#))
        let pool = "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {name: p, namespace: metallb-system}\nspec:\n  addresses: [10.0.0.1/32]\n"
        let noCRD = try StrictDoubles.run("strict_kubectl.py", ["36"], file: pool)
        #expect(noCRD.stderr.contains(#"no matches for kind "IPAddressPool" in version "metallb.io/v1beta1""#))
        let seed = try StrictDoubles.run("strict_kubectl.py", ["21"], file: pool, tail: ["istio-1.10.1"])
        #expect(seed.status == 1, "MetalLB 0.10 has no IPAddressPool kind")
        let badPool = try StrictDoubles.run("strict_kubectl.py", ["36"], file: pool + "  bogus: 1\n", tail: ["metallb-0.16.1"])
        #expect(badPool.stderr.contains(#"strict decoding error: unknown field "spec.bogus""#))
    }

    @Test(arguments: Fixture.profiles)
    func istioctlAcceptsTheRenderedCommandsAndRefusesUnknownOnes(profile: String) throws {
        let scripts = try Fixture.scripts(profile: profile)
        let version = scripts.profile.istio.version
        let remote = try scripts.render(.istioRemoteSecret, cluster: "cluster1").text
        let line = try #require(remote.split(separator: "\n").first { $0.hasPrefix("secret=$(istioctl ") })
        let words = line.dropFirst("secret=$(istioctl ".count).dropLast().split(separator: " ").map(String.init)
        let ok = try StrictDoubles.run("strict_istioctl.py", [version] + words)
        #expect(ok.status == 0, "\(profile): \(ok.stderr)")
        let bad = try StrictDoubles.run("strict_istioctl.py", [version, "install", "--context=cluster1", "--bogus"])
        #expect(bad.stderr.contains("Error: unknown flag: --bogus"))
        // The other profile's spelling of the remote-secret command does not exist in this version.
        let other = words.first == "x" ? Array(words.dropFirst()) : ["x"] + words
        #expect(try StrictDoubles.run("strict_istioctl.py", [version] + other).stderr.contains("Error: unknown command \"create-remote-secret\""))
    }
}

/// Defect 6 of issue 13.
@Suite struct MeshRenderDefectTests {
    @Test func eastWestHintNamesOnlyKindsTheProfilesMetalLBHas() throws {
        let seed = try Fixture.scripts(profile: "seed-2021").render(.istioEastWest, cluster: "cluster1").text
        #expect(!seed.contains("ipaddresspools"), "MetalLB 0.10 has no IPAddressPool kind")
        #expect(seed.contains("configmap/config"))
        let current = try Fixture.scripts(profile: "current").render(.istioEastWest, cluster: "cluster1").text
        #expect(current.contains("get pods,ipaddresspools"))
    }

    @Test(arguments: Fixture.profiles)
    func rootCheckComparesEveryOtherClusterWithTheFirst(profile: String) throws {
        let scripts = try Fixture.scripts(profile: profile)
        let text = try scripts.render(.istioRootCheck).text
        let pairs = text.split(separator: "\n").compactMap { line -> (String, String)? in
            let parts = line.split(separator: "\"")
            guard line.contains("-root.pem"), line.contains("cmp -s"), parts.count >= 4 else { return nil }
            return (String(parts[1]), String(parts[3]))
        }
        let names = try Fixture.lab(profile: profile).clusters.map(\.name)
        #expect(pairs.allSatisfy { $0.0 != $0.1 }, "a cluster's root compared with itself")
        #expect(pairs.map(\.1) == names.dropFirst().map { "$work/\($0)-root.pem" })
        #expect(pairs.allSatisfy { $0.0 == "$work/\(names[0])-root.pem" })
    }

    @Test func weaveCitationsNameTheFilesTheyRelyOn() throws {
        let scripts = try Fixture.scripts(profile: "seed-2021")
        let cni = try scripts.render(.cni, cluster: "cluster1").text
        // IPALLOC_RANGE's rule is in site/kubernetes/kube-addon.md; the pinned asset comes from bin/release.
        #expect(cni.contains("weaveworks/weave@v2.8.1:site/kubernetes/kube-addon.md"))
        #expect(cni.contains("weaveworks/weave@v2.8.1:bin/release"))
        #expect(!cni.contains("own docs moved to this release asset"))
        let asset = try #require(scripts.profile.cni.manifestURL.split(separator: "/").last)
        #expect(scripts.profile.cni.sources.contains { $0.hasPrefix(asset + ":") && $0.contains("bin/release") })
    }
}

enum StrictDoubles {
    static let stubs = Fixture.repoRoot + "/Tests/Testbed/stubs"

    /// The stub library's directory, from `testbed stub-lib` (cached per machine), or nil when it cannot be built.
    static let library: String? = {
        guard let result = try? Fixture.run([Fixture.repoRoot + "/Tests/Testbed/testbed", "stub-lib"]), result.status == 0 else { return nil }
        let path = result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        return path.isEmpty ? nil : path
    }()

    static func minor(_ version: String) -> String {
        version.split(separator: ".").dropFirst().first.map(String.init) ?? "0"
    }

    /// Runs a strict double's host-side check: python3 MODULE HEAD... [FILE TAIL...].
    static func run(_ module: String, _ head: [String], file: String? = nil, tail: [String] = []) throws -> (status: Int32, stdout: String, stderr: String) {
        var arguments = ["python3", stubs + "/" + module] + head
        var path: String?
        if let file {
            let dir = try Fixture.tempDir()
            path = dir + "/input.yaml"
            try file.write(toFile: dir + "/input.yaml", atomically: true, encoding: .utf8)
            arguments += [dir + "/input.yaml"]
        }
        defer { if let path { try? FileManager.default.removeItem(atPath: (path as NSString).deletingLastPathComponent) } }
        var environment = ProcessInfo.processInfo.environment
        environment["LABCTL_STUB_LIB"] = library
        return try Fixture.run(arguments + tail, environment: environment)
    }
}
