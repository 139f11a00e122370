import Foundation
import LabKit
import Testing
import Yams
@testable import LabStages

@Suite struct KubeconfigMergeTests {
    /// An admin.conf as kubeadm writes it with `clusterName` set (made-up key material).
    static func adminConf(cluster: String, server: String, seed: String) -> String {
        let data = Data("not-a-real-\(seed)".utf8).base64EncodedString()
        return """
            apiVersion: v1
            clusters:
            - cluster:
                certificate-authority-data: \(data)
                server: \(server)
              name: \(cluster)
            contexts:
            - context:
                cluster: \(cluster)
                user: kubernetes-admin
              name: kubernetes-admin@\(cluster)
            current-context: kubernetes-admin@\(cluster)
            kind: Config
            preferences: {}
            users:
            - name: kubernetes-admin
              user:
                client-certificate-data: \(data)
                client-key-data: \(data)

            """
    }

    static func mergedForLab() throws -> (Lab, String) {
        let lab = try Fixture.lab(profile: "seed-2021")
        // cluster2's file points at a tunnel address: the merge must replace it with the lab address.
        let confs = [
            "cluster1": adminConf(cluster: "cluster1", server: "https://194.89.64.11:6443", seed: "one"),
            "cluster2": adminConf(cluster: "cluster2", server: "https://127.0.0.1:16443", seed: "two"),
        ]
        return (lab, try KubeconfigMerge.merge(lab: lab, adminConfs: confs))
    }

    @Test func contextsClustersAndUsersAreNamedAfterTheClusters() throws {
        let (_, merged) = try Self.mergedForLab()
        let config = try #require(try Yams.load(yaml: merged) as? [String: Any])
        for key in ["clusters", "users", "contexts"] {
            let names = (config[key] as? [[String: Any]])?.compactMap { $0["name"] as? String }
            #expect(names == ["cluster1", "cluster2"], "\(key)")
        }
        let users = try #require(config["users"] as? [[String: Any]])
        let keys = users.compactMap { ($0["user"] as? [String: Any])?["client-key-data"] as? String }
        #expect(Set(keys).count == 2, "each cluster keeps its own credentials")
        #expect(config["current-context"] as? String == "cluster1")
    }

    @Test func writesAtomicallyWithMode0600() throws {
        let (_, merged) = try Self.mergedForLab()
        let dir = try Fixture.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let paths = LabPaths(labFile: dir + "/lab.json")
        try KubeconfigMerge.write(merged, paths: paths)
        #expect(paths.kubeconfig == dir + "/.labctl/kubeconfig")
        #expect(try String(contentsOfFile: paths.kubeconfig, encoding: .utf8) == merged)
        #expect(try FileManager.default.attributesOfItem(atPath: paths.kubeconfig)[.posixPermissions] as? Int == 0o600)
        try KubeconfigMerge.write(merged + "# again\n", paths: paths)
        #expect(try FileManager.default.attributesOfItem(atPath: paths.kubeconfig)[.posixPermissions] as? Int == 0o600)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir + "/.labctl").filter { $0.contains(".tmp-") }
        #expect(leftovers.isEmpty)
    }

    @Test func badInputNamesTheCluster() throws {
        let error = try #require(throws: LabError.self) {
            try KubeconfigMerge.merge([(cluster: "cluster2", adminConf: "apiVersion: v1\nkind: Config\n")])
        }
        #expect(error.location?.description == "admin.conf of cluster2")
    }

    // Debian's kubernetes-client (scripts/install-deps test) provides kubectl; `kubectl config` only reads the file.
    @Test(.enabled(if: Fixture.which("kubectl") != nil, "kubectl is not installed (apt-get install kubernetes-client)"))
    func realKubectlSeesBothContextsAtTheirControlPlanes() throws {
        let (lab, merged) = try Self.mergedForLab()
        let dir = try Fixture.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = dir + "/kubeconfig"
        try KubeconfigMerge.write(merged, to: file)
        var env = ProcessInfo.processInfo.environment
        env["KUBECONFIG"] = file
        env["HOME"] = dir
        let contexts = try Fixture.run(["kubectl", "config", "get-contexts", "-o", "name"], environment: env)
        #expect(contexts.status == 0, "\(contexts.stderr)")
        #expect(contexts.stdout.split(separator: "\n").map(String.init).sorted() == ["cluster1", "cluster2"])
        let table = try Fixture.run(["kubectl", "config", "get-contexts"], environment: env)
        #expect(table.stdout.contains("*         cluster1"), "current context is cluster1:\n\(table.stdout)")
        for cluster in lab.clusters {
            let cp = try #require(cluster.controlPlane)
            let server = try Fixture.run(["kubectl", "config", "view", "-o",
                                          "jsonpath={.clusters[?(@.name==\"\(cluster.name)\")].cluster.server}"], environment: env)
            #expect(server.stdout == "https://\(cp.address):6443", "\(cluster.name): \(server.stdout) \(server.stderr)")
            let context = try Fixture.run(["kubectl", "config", "view", "-o",
                                           "jsonpath={.contexts[?(@.name==\"\(cluster.name)\")].context.cluster}/{.contexts[?(@.name==\"\(cluster.name)\")].context.user}"], environment: env)
            #expect(context.stdout == "\(cluster.name)/\(cluster.name)")
        }
        // kubectl config view redacts the key material: the merge kept it (DATA+OMITTED, not empty).
        let view = try Fixture.run(["kubectl", "config", "view"], environment: env)
        // (CA, client certificate and client key per cluster; some kubectl versions say REDACTED for keys.)
        let omitted = view.stdout.components(separatedBy: "DATA+OMITTED").count - 1 + view.stdout.components(separatedBy: "REDACTED").count - 1
        #expect(omitted == 6, "\(view.stdout)")
    }
}

/// What the kubeconfig merge's fuzzing found (docs/robustness.md, "Fuzzing").
@Suite struct KubeconfigAliasTests {
    /// Found while writing the fuzz target, by a hand-made input, not by libFuzzer: nine lines of
    /// nested aliases ran for over a minute and past 1.3 GB before the fix.
    static let billionLaughs = """
        a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
        b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
        c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
        d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
        e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
        f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
        g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
        h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
        i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]

        """

    static func merge(_ conf: String) throws -> String {
        try KubeconfigMerge.merge(entries: [KubeconfigMerge.Entry(cluster: "cluster1", adminConf: conf)])
    }

    @Test func nestedAliasesAreRefusedBeforeTheyExpand() throws {
        let error = #expect(throws: LabError.self) { try Self.merge(Self.billionLaughs) }
        #expect(error?.code == .commandFailed)
        #expect(error?.message.contains("more than 100000 YAML nodes") == true)
        #expect(error?.location == .other("admin.conf of cluster1"))
    }

    /// Found by libFuzzer (crash-50aabbc0…, reduced): Yams traps on a key that is not a scalar.
    @Test(arguments: ["[a, b]: c\n", "users:\n- ? {a: 1}\n  : c\n"])
    func aKeyThatIsNotAStringIsRefused(conf: String) throws {
        let error = #expect(throws: LabError.self) { try Self.merge(conf) }
        #expect(error?.code == .commandFailed)
        #expect(error?.message.contains("a mapping key is not a string (line ") == true, "\(error?.message ?? "")")
    }

    @Test func libFuzzersInputIsRefused() throws {
        let url = try #require(Bundle.module.url(forResource: "Fixtures/fuzz/kubeconfig-crash-50aabbc0", withExtension: nil))
        let conf = String(decoding: try Data(contentsOf: url), as: UTF8.self)
        #expect(throws: LabError.self) { try Self.merge(conf) }
    }

    @Test func aliasesWithinTheLimitStillMerge() throws {
        let conf = KubeconfigMergeTests.adminConf(cluster: "cluster1", server: "https://10.213.0.10:6443", seed: "one")
            .replacingOccurrences(of: "preferences: {}", with: "preferences: &p {colors: true}\nextensions: [*p, *p]")
        #expect(try Self.merge(conf).contains("name: cluster1"))
    }

    @Test func theWalkStopsJustPastTheLimit() throws {
        let root = try #require(try Yams.compose(yaml: Self.billionLaughs))
        #expect(KubeconfigMerge.unsafeYAML(root, limit: 1000) == "it expands to more than 1000 YAML nodes (nested aliases)")
        let small = try #require(try Yams.compose(yaml: "a: [1, 2]"))
        #expect(KubeconfigMerge.unsafeYAML(small, limit: 5) == nil)
        #expect(KubeconfigMerge.unsafeYAML(small, limit: 4) != nil)
    }
}
