import Foundation
import LabKit
import Testing
@testable import LabCache

@Suite struct CacheLocationTests {
    @Test func followsXDGAndMacOSConventions() throws {
        #expect(try CacheLocation.resolve(environment: ["HOME": "/home/u"], macOS: false) == "/home/u/.cache/labctl")
        #expect(try CacheLocation.resolve(environment: ["HOME": "/home/u", "XDG_CACHE_HOME": "/var/c"], macOS: false) == "/var/c/labctl")
        // XDG Base Directory Specification: a relative path in $XDG_CACHE_HOME is invalid and ignored.
        #expect(try CacheLocation.resolve(environment: ["HOME": "/home/u", "XDG_CACHE_HOME": "rel"], macOS: false) == "/home/u/.cache/labctl")
        #expect(try CacheLocation.resolve(environment: ["HOME": "/Users/u", "XDG_CACHE_HOME": "/x"], macOS: true) == "/Users/u/Library/Caches/labctl")
        #expect(try CacheLocation.resolve(environment: ["HOME": "/home/u", "LABCTL_CACHE_DIR": "/srv/c"], macOS: false) == "/srv/c")
        let error = try #require(throws: LabError.self) { try CacheLocation.resolve(environment: [:], macOS: false) }
        #expect(error.location == .option("HOME"))
    }

    @Test func mirrorRewritesTheOriginOntoHostAndPath() throws {
        let mirror = try Mirror("http://127.0.0.1:8080/")
        #expect(mirror.rewrite("https://dl.k8s.io/release/v1.22.4/bin/linux/amd64/kubeadm")
                == "http://127.0.0.1:8080/dl.k8s.io/release/v1.22.4/bin/linux/amd64/kubeadm")
        #expect(throws: LabError.self) { try Mirror("ftp://x") }
        #expect(throws: LabError.self) { try Mirror("not a url") }
    }

    /// The checksum formats the projects publish, read as the base scripts' fetch_verified reads
    /// them (the formats and their upstream sources are in Tests/Testbed/STUBS.md, "curl").
    @Test func checksumFilesAreReadAsFetchVerifiedReadsThem() {
        let h = String(repeating: "ab", count: 32), other = String(repeating: "cd", count: 32)
        // Bare hash: dl.k8s.io's kubeadm.sha256.
        #expect(PublishedChecksum(url: "u", entry: nil).digest(in: h) == h)
        // `hash  name` (CNI plugins, containerd) and `hash name` (Istio), first line without an entry name.
        #expect(PublishedChecksum(url: "u", entry: nil).digest(in: "\(h)  cni-plugins-linux-amd64-v1.9.1.tgz\n") == h)
        #expect(PublishedChecksum(url: "u", entry: "istio-1.30.3-linux-amd64.tar.gz").digest(in: "\(h) istio-1.30.3-linux-amd64.tar.gz\n") == h)
        // `hash */name` (crictl's sha256sum -b).
        #expect(PublishedChecksum(url: "u", entry: "crictl.tar.gz").digest(in: "\(h) *crictl.tar.gz\n") == h)
        // One line per asset (runc.sha256sum, k9s checksums.txt): the named line, not the first.
        let list = "\(other)  k9s_Darwin_arm64.tar.gz\n\(h)  k9s_Linux_amd64.tar.gz\n"
        #expect(PublishedChecksum(url: "u", entry: "k9s_Linux_amd64.tar.gz").digest(in: list) == h)
        #expect(PublishedChecksum(url: "u", entry: "k9s_Linux_arm64.tar.gz").digest(in: list) == nil)
        // An HTML error page or a short hash is no checksum.
        #expect(PublishedChecksum(url: "u", entry: nil).digest(in: "<html>Not Found</html>") == nil)
        #expect(PublishedChecksum(url: "u", entry: nil).digest(in: "abc123") == nil)
    }
}
