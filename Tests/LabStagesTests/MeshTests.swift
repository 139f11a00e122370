import Foundation
import LabKit
import Testing
import Yams
@testable import LabStages

/// Seed bug 13.4 (`istioctl install --context=cluster1 -f cluster2.yaml`) must be impossible:
/// every kubectl/istioctl command names exactly one context and carries only that cluster's values.
@Suite struct MeshTests {
    static let meshScripts: [StageScript] = [.istioCACerts, .istioInstall, .istioEastWest, .istioRemoteSecret, .meshSample, .meshVerify]

    /// Commands of a script: comment lines dropped, continuations joined, pipelines split.
    static func commands(_ text: String) -> [String] {
        var joined: [String] = []
        var pending = ""
        for raw in text.split(separator: "\n", omittingEmptySubsequences: false) {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.hasPrefix("#") { continue }
            if line.hasSuffix("\\") { pending += line.dropLast() + " "; continue }
            joined.append(pending + line)
            pending = ""
        }
        return joined.flatMap { $0.components(separatedBy: " | ") }
            .filter { $0.range(of: #"(^|[\s($])(kubectl|istioctl) "#, options: .regularExpression) != nil }
    }

    static func mentions(_ text: String, _ word: String) -> Bool {
        let pattern = "(?<![A-Za-z0-9_-])" + NSRegularExpression.escapedPattern(for: word) + "(?![A-Za-z0-9_-])"
        return text.range(of: pattern, options: .regularExpression) != nil
    }

    /// The values that identify a cluster in a command.
    static func values(of cluster: ClusterSpec, in lab: Lab) -> [String] {
        var values = [cluster.name, cluster.network]
        if let cp = cluster.controlPlane { values.append("https://\(cp.address):6443") }
        if let index = lab.clusters.firstIndex(of: cluster), index < 2 { values.append("version=v\(index + 1)") }
        return values
    }

    /// Problems of one script: commands without exactly one context, or with another cluster's values.
    static func violations(_ text: String, lab: Lab) -> [String] {
        var problems: [String] = []
        for command in commands(text) {
            let contexts = command.matches(of: /--context=([A-Za-z0-9._-]+)/).map { String($0.output.1) }
            guard contexts.count == 1, let context = contexts.first, let cluster = lab.cluster(named: context) else {
                problems.append("needs exactly one known --context: \(command)")
                continue
            }
            for other in lab.clusters where other.name != cluster.name {
                for value in values(of: other, in: lab) where mentions(command, value) {
                    problems.append("context \(context) but \(other.name)'s value \(value): \(command)")
                }
            }
        }
        return problems
    }

    static func contexts(_ text: String, tool: String) -> Set<String> {
        Set(commands(text).filter { $0.contains(tool + " ") }.flatMap { $0.matches(of: /--context=([A-Za-z0-9._-]+)/).map { String($0.output.1) } })
    }

    @Test(arguments: Fixture.profiles)
    func everyIstioCommandForClusterXUsesOnlyXsContextAndValues(profile: String) throws {
        let scripts = try Fixture.scripts(profile: profile)
        let lab = scripts.lab
        var checked = 0
        for cluster in lab.clusters {
            for script in Self.meshScripts {
                let text = try scripts.render(script, cluster: cluster.name).text
                let problems = Self.violations(text, lab: lab)
                #expect(problems.isEmpty, "\(script.rawValue)@\(cluster.name): \(problems.joined(separator: "\n"))")
                let commands = Self.commands(text)
                #expect(!commands.isEmpty, "\(script.rawValue) runs no kubectl/istioctl command")
                checked += commands.count
                if script == .istioRemoteSecret {
                    // The secret is made from X's context with X's name and server, applied in every other context.
                    #expect(Self.contexts(text, tool: "istioctl") == [cluster.name])
                    #expect(Self.contexts(text, tool: "kubectl") == Set(lab.clusters.map(\.name)).subtracting([cluster.name]))
                    let create = try #require(commands.first { $0.contains("create-remote-secret") })
                    #expect(create.contains("--name=\(cluster.name)"))
                    #expect(create.contains("--server=https://\(try #require(cluster.controlPlane).address):6443"))
                } else {
                    #expect(Self.contexts(text, tool: "kubectl").union(Self.contexts(text, tool: "istioctl")) == [cluster.name],
                            "\(script.rawValue)@\(cluster.name) touches another context")
                }
            }
            // The IstioOperator values installed in X are X's.
            let op = try #require(try Yams.load(yaml: scripts.render(manifest: .istioOperator, cluster: cluster.name)) as? [String: Any])
            let global = try #require(((op["spec"] as? [String: Any])?["values"] as? [String: Any])?["global"] as? [String: Any])
            #expect(global["meshID"] as? String == lab.mesh.id)
            #expect((global["multiCluster"] as? [String: Any])?["clusterName"] as? String == cluster.name)
            #expect(global["network"] as? String == cluster.network)
            let install = try scripts.render(.istioInstall, cluster: cluster.name).text
            #expect(install.contains("istioctl install --context=\(cluster.name) -y -f \"$operator\""))
        }
        #expect(checked > 30)
        // Lab-wide root check: one context per command too.
        #expect(Self.violations(try scripts.render(.istioRootCheck).text, lab: lab).isEmpty)
    }

    @Test func theCheckerCatchesTheSeedBug() throws {
        let lab = try Fixture.lab(profile: "seed-2021")
        // Seed 13.4 verbatim (after the template's values): cluster2's values into cluster1's context.
        let seed = """
            istioctl install --context=cluster1 -f cluster2.yaml
            kubectl --context=cluster1 label namespace istio-system topology.istio.io/network=network2
            kubectl get pods
            """
        let problems = Self.violations(seed, lab: lab)
        #expect(problems.count == 3, "\(problems)")
        #expect(Self.violations("istioctl install --context=cluster2 -f cluster2.yaml", lab: lab).isEmpty)
    }

    @Test func helloworldVersionsOnePerCluster() throws {
        let scripts = try Fixture.scripts(profile: "current")
        #expect(try scripts.render(.meshSample, cluster: "cluster1").text.contains("-l version=v1 "))
        #expect(try scripts.render(.meshSample, cluster: "cluster2").text.contains("-l version=v2 "))
        let verify = try scripts.render(.meshVerify, cluster: "cluster2").text
        #expect(verify.contains("EXPECTED=(v1 v2 )"))
        #expect(verify.contains("while [ \"$tries\" -lt \(StageScripts.verifyTries) ]"))
        #expect(verify.contains("result verify.cluster2.ok true"))
    }
}
