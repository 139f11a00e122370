import Foundation
import LabCache
import LabKit
import Testing
@testable import LabctlCLI

@Suite struct CacheCommandTests {
    @Test func commandsParse() throws {
        let fill = try #require(try Labctl.parseAsRoot(["cache", "fill", "--mirror", "http://127.0.0.1:9", "--format", "json"]) as? Labctl.CacheFill)
        #expect(fill.mirror == "http://127.0.0.1:9" && fill.output.format == .json)
        let images = try #require(try Labctl.parseAsRoot(["cache", "fill", "--registry-mirror", "http://127.0.0.1:5000", "--no-images"]) as? Labctl.CacheFill)
        #expect(images.registryMirror == "http://127.0.0.1:5000" && images.noImages)
        #expect(try Labctl.parseAsRoot(["cache", "ls", "--format", "json"]) is Labctl.CacheList)
        #expect(try Labctl.parseAsRoot(["cache", "verify"]) is Labctl.CacheVerify)
        #expect(throws: (any Error).self) { try Labctl.parseAsRoot(["cache", "fill", "--format", "yaml"]) }
    }

    static let entry = CacheEntry(name: "kubeadm", version: "1.36.1", kind: .file, source: "https://dl.k8s.io/release/v1.36.1/bin/linux/amd64/kubeadm",
                                  checksumURL: "https://dl.k8s.io/release/v1.36.1/bin/linux/amd64/kubeadm.sha256",
                                  sha256: String(repeating: "0a", count: 32), size: 3 * 1024 * 1024, fetchedAt: Date(timeIntervalSince1970: 1_800_000_000))

    @Test func listRendersTableAndJSON() throws {
        #expect(CacheRendering.table([Self.entry]) == """
            NAME     VERSION  KIND  SIZE     SHA256        SOURCE
            kubeadm  1.36.1   file  3.0 MiB  0a0a0a0a0a0a  https://dl.k8s.io/release/v1.36.1/bin/linux/amd64/kubeadm

            """)
        #expect(CacheRendering.table([]).contains("labctl cache fill"))
        let json = try #require(try JSONSerialization.jsonObject(with: Data(CacheRendering.json([Self.entry]).utf8)) as? [[String: Any]])
        #expect(json.first?["sha256"] as? String == Self.entry.sha256)
        #expect(json.first?["fetchedAt"] as? String == "2027-01-15T08:00:00Z")
        #expect(json.first?["source"] as? String == Self.entry.source && json.first?["size"] as? Int == 3 * 1024 * 1024)
    }

    @Test func verifyTableNamesWhatWasFound() {
        let text = CacheRendering.verifyTable([CacheVerifyResult(entry: Self.entry, status: .corrupt, found: String(repeating: "ff", count: 32))])
        #expect(text.contains("kubeadm  1.36.1   corrupt  0a0a0a0a0a0a  ffffffffffff"), "\(text)")
    }

    /// The files' summary stays at the top of `fill --format json` (scripts read `stored` and `bytesDownloaded`);
    /// images come under `images`, with the manifests whose images are not known yet.
    @Test func fillReportKeepsFilesAtTheTopAndAddsImages() throws {
        var files = CacheFillSummary()
        files.stored = [Self.entry]
        files.bytesDownloaded = 42
        var images = CacheFillSummary()
        images.failed = [(ArtifactSpec(name: "registry.k8s.io/pause", version: "9.9", kind: .image, url: "registry.k8s.io/pause:9.9@linux/amd64", checksum: nil),
                          LabError(.notFound, "registry.k8s.io has no manifest 9.9 of pause (HTTP 404)"))]
        let report = CacheRendering.FillReport(files, images: CacheRendering.FillReport(images), missing: ["https://x/kube-flannel.yml"])
        let json = try #require(try JSONSerialization.jsonObject(with: Data(CacheRendering.json(report).utf8)) as? [String: Any])
        #expect(json["bytesDownloaded"] as? Int == 42 && (json["stored"] as? [Any])?.count == 1)
        let failed = try #require(((json["images"] as? [String: Any])?["failed"] as? [[String: Any]])?.first)
        #expect(failed["url"] as? String == "registry.k8s.io/pause:9.9@linux/amd64")
        #expect(json["missing"] as? [String] == ["https://x/kube-flannel.yml"])
        #expect(CacheRendering.imageSummary(images, missing: []) == "images: 0 downloaded (0 B), 0 already cached, 1 failed\n")
    }

    @Test func bytesAreHumanSized() {
        #expect(CacheRendering.bytes(512) == "512 B")
        #expect(CacheRendering.bytes(1536) == "1.5 KiB")
        #expect(CacheRendering.bytes(50 * 1024 * 1024) == "50.0 MiB")
    }
}
