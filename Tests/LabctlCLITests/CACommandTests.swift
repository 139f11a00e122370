import Foundation
import LabKit
@testable import LabctlCLI
import LabPKI
import Testing

/// A lab state directory in a fresh temp dir, with lab.json's two clusters. (The interim
/// LabLoader cannot read the repository's lab.json yet, so the commands' cores take paths.)
private func tempLab() throws -> (dir: String, paths: LabPaths) {
    let dir = (NSTemporaryDirectory() as NSString).appendingPathComponent("labctl-ca-\(UUID().uuidString)")
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return (dir, LabPaths(labFile: (dir as NSString).appendingPathComponent("lab.json")))
}

private let clusters = ["cluster1", "cluster2"]

/// A fast CA (P-256) for the lab: `ca show` reuses whatever root exists.
private let fastProfile = CAProfile.seed2021.with(keyAlgorithm: .p256)

@Suite("labctl ca")
struct CACommandTests {
    @Test("ca show before the CA exists")
    func noCA() throws {
        let (dir, paths) = try tempLab()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let status = try CAStatus.read(paths: paths, profile: fastProfile, clusters: clusters)
        #expect(status.root == nil)
        #expect(status.clusters.map(\.name) == ["cluster1", "cluster2"])
        #expect(status.failure == nil)
        #expect(status.table().first?.contains("No Istio CA yet") == true)
    }

    @Test("ca show: one cluster issued and trusted, the other not issued yet, then broken")
    func show() throws {
        let (dir, paths) = try tempLab()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let ca = try MeshCA.ensureRoot(in: paths, profile: fastProfile)
        try ca.issueIntermediate(cluster: "cluster1")
        var status = try CAStatus.read(paths: paths, profile: fastProfile, clusters: clusters)
        #expect(status.root?.sha256 == (try sha256Fingerprint(of: ca.root)))
        #expect(status.clusters[0].trusted && status.clusters[0].sha256 != nil)
        #expect(status.clusters[1].sha256 == nil && status.clusters[1].problems.isEmpty)
        #expect(status.failure == nil)
        let table = status.table().joined(separator: "\n")
        #expect(table.contains("cluster1") && table.contains("ok") && table.contains("not issued"))

        // cluster2 issued by another lab's root: broken, and `ca show` fails
        let other = try MeshCA.ensureRoot(in: LabPaths(root: dir + "/other"), profile: fastProfile)
        let foreign = try other.issueIntermediate(cluster: "cluster2")
        let target = MeshCA.clusterDirectory("cluster2", in: paths)
        try FileManager.default.copyItem(atPath: foreign.files.directory, toPath: target)
        status = try CAStatus.read(paths: paths, profile: fastProfile, clusters: clusters)
        #expect(!status.clusters[1].trusted)
        #expect(status.failure?.message.contains("cluster2") == true)
        #expect(status.table().contains { $0.contains("BROKEN") })
    }

    @Test("ca replace-root refuses without --yes, and with --yes re-issues every cluster (RSA-4096: slow)")
    func replaceRoot() throws {
        let (dir, paths) = try tempLab()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let ca = try MeshCA.ensureRoot(in: paths, profile: fastProfile)
        try ca.issueIntermediate(cluster: "cluster1")
        try ca.issueIntermediate(cluster: "cluster2")
        let before = try String(contentsOfFile: ca.rootCertPath, encoding: .utf8)

        let refused = #expect(throws: LabError.self) { try Labctl.CAReplaceRoot.perform(paths: paths, profile: .seed2021, confirmed: false) }
        #expect(refused?.code == .conflict)
        #expect(refused?.message.contains("cluster1, cluster2") == true)
        #expect(try String(contentsOfFile: ca.rootCertPath, encoding: .utf8) == before)

        let lines = try Labctl.CAReplaceRoot.perform(paths: paths, profile: .seed2021, confirmed: true)
        #expect(try String(contentsOfFile: ca.rootCertPath, encoding: .utf8) != before)
        #expect(lines.contains { $0.contains("Restart istiod") })
        #expect(lines.filter { $0.hasPrefix("Issued a new intermediate") }.count == 2)
        let status = try CAStatus.read(paths: paths, profile: .seed2021, clusters: clusters)
        #expect(status.clusters.allSatisfy { $0.trusted })
        // the new root follows the given profile: seed-2021, RSA-4096, PKCS#1 keys
        let key = try String(contentsOfFile: ca.rootKeyPath, encoding: .utf8)
        #expect(key.hasPrefix("-----BEGIN RSA PRIVATE KEY-----"))
    }

    @Test("the ca commands parse")
    func parsing() throws {
        let show = try #require(try Labctl.parseAsRoot(["ca", "show", "--format", "json", "--lab", "x.json"]) as? Labctl.CAShow)
        #expect(show.format == .json && show.labOptions.lab == "x.json")
        let replace = try #require(try Labctl.parseAsRoot(["ca", "replace-root", "--yes"]) as? Labctl.CAReplaceRoot)
        #expect(replace.yes)
        #expect(throws: (any Error).self) { try Labctl.parseAsRoot(["ca", "show", "--format", "yaml"]) }
    }
}
