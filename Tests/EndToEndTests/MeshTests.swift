import Foundation
import LabKit
import LabStages
import LabXML
import Testing
import LabHarness

/// `labctl up` through the mesh stages (issue 9, seed 12-14) and `labctl verify --junit`, end to end
/// on the testbed against the recording stubs (Tests/Testbed/STUBS.md). What this proves: which
/// kubectl/istioctl commands labctl ran, in which context, with which values, in which order, and
/// that the certificates it uploaded are its own. It never proves that Istio would work.
@Suite("mesh stages on the testbed", .serialized,
       .enabled(if: LabctlBinary.exists, "needs the labctl binary: run `swift build --build-tests` first"),
       .enabled(if: Testbed.isAvailable, "needs root and the testbed packages (see output)"))
struct MeshTests {
    static let xsdPath = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("LabXMLTests/Schemas/junit.xsd").path

    @Test("up runs every mesh stage in the right context, in order; verify --junit writes a valid report")
    func upThroughTheMesh() async throws {
        let tb = try await Testbed.shared()
        try await tb.resetStubState()
        let lab = try await TestLab.make(tb, name: "e2e-mesh", dhcp: true, baseMAC: "00:50:56:3f:00:50")
        defer { Task { await lab.cleanUp() } }
        // TestLab.make put the Istio release into the base's snapshot#2 (installIstioRelease).

        // Plain progress, as a user sees it: the transcript in docs/mesh.md comes from this run.
        let up = try await lab.labctl(["up", "--progress", "plain"], timeout: .seconds(1200))
        let run = UpRun(outcome: up, events: [])
        let finished = up.lines.filter { $0.hasPrefix("✓ ") }.compactMap { $0.split(separator: " ").dropFirst().first.map(String.init) }
        #expect(up.succeeded, "exit \(up.status)\n\(up.stdout.suffix(6000))\n\(up.stderr.suffix(2000))")
        let meshInstances = ["cluster.istio-cacerts@cluster1", "cluster.istio-cacerts@cluster2", "lab.istio-trust@lab",
                             "cluster.istio-install@cluster1", "cluster.istio-install@cluster2",
                             "cluster.istio-eastwest@cluster1", "cluster.istio-eastwest@cluster2",
                             "cluster.mesh-sample@cluster1", "cluster.mesh-sample@cluster2",
                             "lab.istio-remote-secrets@lab", "lab.mesh-verify@lab", "lab.mesh-checkpoint@lab"]
        #expect(Set(meshInstances).isSubset(of: Set(finished)), "finished: \(finished)")
        try lab.writeTranscript(up.stdout, name: "up.txt")
        guard up.succeeded else { return }

        let address = Dictionary(uniqueKeysWithValues: lab.nodes.filter { $0.name.hasSuffix("ctrl-plane") }.map { ($0.cluster, $0.address) })
        let journal = try tb.stubJournal()
        for call in journal where call.refused != nil || !(call.warnings ?? []).isEmpty {
            Issue.record("a strict double: \(call.node): \(call.argv.joined(separator: " ")): \(call.refused ?? "") \(call.warnings ?? [])")
        }
        let mesh = journal.filter { ($0.tool == "kubectl" || $0.tool == "istioctl") && $0.argv.contains { $0.hasPrefix("--context=") } }
        #expect(!mesh.isEmpty, "no mesh call in the stubs' journal")

        // 1. Every call names a context, and went to that cluster's API server; all ran on the mesh node.
        for call in mesh {
            let context = call.argv.first { $0.hasPrefix("--context=") }.map { String($0.dropFirst("--context=".count)) } ?? ""
            #expect(call.cluster == address[context], "\(call.argv) went to \(call.cluster ?? "nowhere")")
            #expect(call.node == "cluster1-ctrl-plane", "\(call.argv) ran on \(call.node)")
        }

        // 2. Each cluster's IstioOperator values only in its own context (the seed's 13.4 bug).
        let installs = mesh.filter { $0.tool == "istioctl" && $0.argv.dropFirst().first == "install" && !($0.file ?? "").contains("eastwest") }
        #expect(installs.count == 2, "\(installs.map(\.argv))")
        for call in installs {
            let file = call.file ?? ""
            let owner = address.first { $0.value == call.cluster }?.key ?? "?"
            let other = owner == "cluster1" ? "cluster2" : "cluster1"
            #expect(file.contains("clusterName: \(owner)") && file.contains("network: network\(owner.suffix(1))"), "values of \(owner): \(file)")
            #expect(!file.contains(other), "\(other)'s values in \(owner)'s context")
            #expect(file.contains("meshID: mesh1"))
        }

        // 3. Order per cluster: the cacerts secret (and its namespace label) before Istio is installed.
        for (cluster, _) in address {
            let secret = mesh.firstIndex { $0.argv.contains("--context=\(cluster)") && $0.argv.contains("apply") && ($0.stdin ?? "").contains("name: cacerts") }
            let label = mesh.firstIndex { $0.argv.contains("--context=\(cluster)") && $0.argv.contains("topology.istio.io/network=network\(cluster.suffix(1))") }
            let install = mesh.firstIndex { $0.argv.contains("--context=\(cluster)") && $0.tool == "istioctl" && $0.argv.contains("install") }
            #expect(secret != nil && label != nil && install != nil, "\(cluster): secret \(String(describing: secret)) label \(String(describing: label)) install \(String(describing: install))")
            if let secret, let label, let install { #expect(secret < install && label < install, "\(cluster): cacerts after the install") }
        }

        // 4. The east-west gateway generator got Istio 1.10's flags (seed-2021 profile).
        let gens = journal.filter { $0.tool == "gen-eastwest-gateway.sh" }.map { Array($0.argv.dropFirst()) }
        #expect(Set(gens.map { $0.joined(separator: " ") }) == [
            "--mesh mesh1 --cluster cluster1 --network network1", "--mesh mesh1 --cluster cluster2 --network network2",
        ], "\(gens)")

        // 5. Both remote secrets, each made in its own cluster with its own API server, applied in the other.
        for (from, to) in [("cluster1", "cluster2"), ("cluster2", "cluster1")] {
            let made = mesh.contains { $0.tool == "istioctl" && $0.argv.contains("create-remote-secret") && $0.argv.contains("--context=\(from)")
                && $0.argv.contains("--name=\(from)") && $0.argv.contains("--server=https://\(address[from] ?? "?"):6443") }
            #expect(made, "remote secret of \(from)")
            let applied = mesh.contains { $0.argv.contains("--context=\(to)") && ($0.stdin ?? "").contains("name: istio-remote-secret-\(from)")
                && ($0.stdin ?? "").contains("server: https://\(address[from] ?? "?"):6443") }
            #expect(applied, "\(from)'s remote secret applied in \(to)")
        }

        // 6. The cacerts secret carries exactly the LabPKI files; the keys are 0600 and in no log.
        let pki = lab.stateDir.appendingPathComponent("pki")
        for cluster in ["cluster1", "cluster2"] {
            let applied = mesh.last { $0.argv.contains("--context=\(cluster)") && ($0.stdin ?? "").contains("name: cacerts") }?.stdin ?? ""
            for file in ["ca-cert.pem", "ca-key.pem", "root-cert.pem", "cert-chain.pem"] {
                let local = try Data(contentsOf: pki.appendingPathComponent("\(cluster)/\(file)"))
                #expect(applied.contains("  \(file): \(local.base64EncodedString())\n"), "\(cluster)/\(file) differs from the uploaded one")
            }
            let key = pki.appendingPathComponent("\(cluster)/ca-key.pem").path
            let mode = try (FileManager.default.attributesOfItem(atPath: key)[.posixPermissions] as? NSNumber)?.intValue
            #expect(mode == 0o600, "\(key) mode \(String(format: "%o", mode ?? 0))")
            let keyText = try String(contentsOfFile: key, encoding: .utf8)
            let keyBody = keyText.split(separator: "\n").filter { !$0.hasPrefix("-----") }.prefix(3).map(String.init)
            let keyBase64 = Data(keyText.utf8).base64EncodedString()
            for log in lab.logFiles() + [run.outcome.stdout, run.outcome.stderr] {
                #expect(!log.contains(keyBase64) && !keyBody.contains { log.contains($0) }, "\(cluster)'s CA key appears in a log")
            }
        }
        let rootKey = pki.appendingPathComponent("root-key.pem").path
        #expect((try FileManager.default.attributesOfItem(atPath: rootKey)[.posixPermissions] as? NSNumber)?.intValue == 0o600)

        // 7. The mesh checkpoint on every node.
        for node in lab.nodes { #expect(lab.snapshotNames(lab.vmx(node.name)).contains("snapshot#5"), "\(node.name)") }

        // 8. labctl verify: a table, JSON, and a JUnit report with one case per direction that the XSD accepts.
        let table = try await lab.labctl(["verify"])
        #expect(table.succeeded, "\(table.stdout)\(table.stderr)")
        #expect(table.lines.first?.hasPrefix("FROM") == true && table.lines.dropFirst().allSatisfy { $0.contains("v1,v2") && $0.hasSuffix("ok") },
                "\(table.stdout)")
        try lab.writeTranscript(table.stdout, name: "verify.txt")
        let report = lab.dir.appendingPathComponent("reports/mesh.xml").path
        let json = try await lab.labctl(["verify", "--format", "json", "--junit", report])
        #expect(json.succeeded, "\(json.stderr)")
        let rows = (try? JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [[String: Any]]) ?? []
        #expect(rows.map { $0["from"] as? String } == ["cluster1", "cluster2"] && rows.allSatisfy { $0["ok"] as? Bool == true }, "\(json.stdout)")
        let xml = try String(contentsOfFile: report, encoding: .utf8)
        try XMLSchemaValidator.validate(xml, against: try String(contentsOfFile: Self.xsdPath, encoding: .utf8))
        let parsed = try JUnitXML.read(xml)
        #expect(parsed.suites.flatMap(\.cases).map(\.name) == ["cluster1 -> helloworld", "cluster2 -> helloworld"])
        #expect(parsed.failures == 0 && parsed.tests == 2)

        // 9. A second up changes nothing in the mesh.
        let callsBefore = try tb.stubJournal().count
        let again = try await lab.up()
        #expect(again.outcome.succeeded, "\(again.summary)")
        #expect(!again.started.contains { $0.contains("istio") || $0.contains("mesh") }, "mesh stages ran again: \(again.started)")
        let after = try tb.stubJournal().dropFirst(callsBefore)
        #expect(!after.contains { $0.tool == "istioctl" && $0.argv.contains("install") }, "Istio installed again")
        await lab.cleanUp()
    }
}

extension TestLab {
    /// Stands in for `base-tools` (seed 5, 6) in tests that take the base's checkpoints by hand: the
    /// profile's Istio release, as the stubs serve it to `base-tools` (Tests/Testbed/STUBS.md), unpacked
    /// into `/opt/istio-<version>` of the frozen top layer of `snapshot#2` before any clone exists, so
    /// only control planes get it.
    static func installIstioRelease(baseVMX: String, profile: String) async throws {
        let disk = URL(fileURLWithPath: baseVMX).deletingLastPathComponent().appendingPathComponent(".ltb/disk.json")
        let d = try JSONSerialization.jsonObject(with: Data(contentsOf: disk)) as? [String: Any]
        guard let top = (d?["lowers"] as? [String])?.first else { throw TestbedError(description: "no layers in \(disk.path)") }
        let opt = URL(fileURLWithPath: top).appendingPathComponent("opt").path
        let url = try Profile.load(named: profile).istio.releaseURL
        let stub = Testbed.scriptsDir.appendingPathComponent("stubs/labctl-stub").path
        // As base-tools does, istioctl on PATH is the release's (a launcher that names its version, which the
        // stub's strict istioctl and the Istio CRDs it installs depend on).
        let version = try Profile.load(named: profile).istio.version
        let bin = URL(fileURLWithPath: top).appendingPathComponent("usr/local/bin/istioctl").path
        let r = try await HostProcess.run(["sh", "-c", #"set -e; mkdir -p "$1"; python3 "$2" --artifact "$3" | tar -xzf - -C "$1"; mkdir -p "$(dirname "$4")"; ln -sfn "$5" "$4""#,
                                           "sh", opt, stub, url, bin, "/opt/istio-\(version)/bin/istioctl"])
        guard r.succeeded else { throw TestbedError(description: "unpacking \(url) into \(opt): \(r.stderr)") }
    }

    /// Every log labctl wrote for this lab (`.labctl/logs/*.log`).
    func logFiles() -> [String] {
        let logs = stateDir.appendingPathComponent("logs")
        let names = (try? FileManager.default.contentsOfDirectory(atPath: logs.path)) ?? []
        return names.compactMap { try? String(contentsOf: logs.appendingPathComponent($0), encoding: .utf8) }
    }

    /// Keeps a run's output for docs/mesh.md (`LABCTL_E2E_TRANSCRIPTS=DIR`).
    func writeTranscript(_ text: String, name: String) throws {
        guard let dir = ProcessInfo.processInfo.environment["LABCTL_E2E_TRANSCRIPTS"] else { return }
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try text.write(toFile: (dir as NSString).appendingPathComponent(name), atomically: true, encoding: .utf8)
    }
}
