import Foundation
import LabCache
import LabKit
import Testing
@testable import LabctlCLI

@Suite struct CacheCommandTests {
    @Test func commandsParse() throws {
        let fill = try #require(try Labctl.parseAsRoot(["cache", "fill", "--mirror", "http://127.0.0.1:9", "--format", "json"]) as? Labctl.CacheFill)
        #expect(fill.mirror == "http://127.0.0.1:9" && fill.output.format == .json)
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

    @Test func bytesAreHumanSized() {
        #expect(CacheRendering.bytes(512) == "512 B")
        #expect(CacheRendering.bytes(1536) == "1.5 KiB")
        #expect(CacheRendering.bytes(50 * 1024 * 1024) == "50.0 MiB")
    }
}
