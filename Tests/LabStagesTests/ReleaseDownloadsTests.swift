import Foundation
import LabCache
import LabKit
import Testing
@testable import LabStages

/// The cache's artifact list (ReleaseDownloads), derived from the lab's rendered scripts (base, node,
/// cluster and mesh), against the downloads those scripts contain and against the stub catalog
/// (Tests/Testbed/stubs/catalog.json).
@Suite struct ReleaseDownloadsTests {
    static func lab(_ profile: String, _ arch: GuestArch) throws -> Lab {
        var lab = try Fixture.lab(profile: profile)
        lab.base.arch = arch
        return lab
    }

    /// Every URL a script of the lab downloads is in the list (apt repository lines are not downloads:
    /// apt fetches those itself), and nothing else is.
    @Test(arguments: Fixture.profiles, GuestArch.allCases)
    func everyDownloadIsInTheList(profile: String, arch: GuestArch) throws {
        let specs = try ReleaseDownloads.artifacts(for: Self.lab(profile, arch))
        let all = try DownloadCatalogTests.scripts(profile, arch)
        let rendered = all.reduce(into: Set<String>()) { $0.formUnion(DownloadCatalogTests.downloads($1.text)) }
        let checksums = Set(specs.compactMap(\.checksum?.url))
        let aptRepositories = Set(all.flatMap { $0.text.matches(of: /(?m)^deb \[[^\]]*\] (https:\/\/\S+)/).map { String($0.1) } })
        #expect(Set(specs.map(\.url)) == rendered.subtracting(checksums).subtracting(aptRepositories),
                "\(profile)/\(arch): list \(specs.map(\.url).sorted()) vs scripts \(rendered.sorted())")
        #expect(Set(specs.map(\.url)).count == specs.count, "duplicates in \(specs.map(\.url))")
    }

    /// Each artifact's checksum file is the one the catalog names for it (the project's real
    /// checksum asset), and the entry name the list gives is the line the catalog serves.
    @Test(arguments: Fixture.profiles, GuestArch.allCases)
    func checksumsAreTheCatalogsAndNamesResolve(profile: String, arch: GuestArch) throws {
        let catalog = Dictionary(try DownloadCatalogTests.catalog().map { ($0.url, $0) }, uniquingKeysWith: { a, _ in a })
        for spec in try ReleaseDownloads.artifacts(for: Self.lab(profile, arch)) {
            let entry = try #require(catalog[spec.url], "\(spec.url) is not in the stub catalog")
            #expect(spec.checksum?.url == entry.checksum?.url, "\(spec.url): \(String(describing: spec.checksum)) vs \(String(describing: entry.checksum))")
            if let checksum = spec.checksum {
                let text = String(decoding: try CurlStubCatalogTests.artifact(checksum.url), as: UTF8.self)
                let digest = try Self.servedDigest(spec.url)
                #expect(checksum.digest(in: text) == digest, "\(spec.url) against \(checksum.url) (\(entry.checksum?.format ?? "?"))")
            }
        }
    }

    /// The sha256 of what the curl stub serves for a URL (binary-safe: hashed in the pipe).
    static func servedDigest(_ url: String) throws -> String {
        let r = try Fixture.run(["sh", "-c", "python3 \"$0\" --artifact \"$1\" | sha256sum", CurlStubCatalogTests.stubs + "/labctl-stub", url])
        return String(r.stdout.prefix(64))
    }

    @Test func versionsAndNamesComeFromTheProfile() throws {
        let specs = try ReleaseDownloads.artifacts(for: Self.lab("current", .amd64))
        let istio = try #require(specs.first { $0.url.contains("/istio/istio/") })
        #expect(istio.name == "istio-1.30.3-linux-amd64.tar.gz" && istio.version == "1.30.3")
        #expect(istio.checksum?.entry == "istio-1.30.3-linux-amd64.tar.gz")
        let runc = try #require(specs.first { $0.name == "runc.amd64" })
        #expect(runc.checksum == PublishedChecksum(url: "https://github.com/opencontainers/runc/releases/download/v1.4.3/runc.sha256sum", entry: "runc.amd64"))
        let seed = try ReleaseDownloads.artifacts(for: Self.lab("seed-2021", .amd64))
        #expect(seed.filter { $0.url.hasPrefix("https://dl.k8s.io/release/v1.21.2/bin/linux/amd64/") }.map(\.name) == ["kubeadm", "kubelet", "kubectl"])
    }

    /// `up`'s own downloads: the CNI manifest (cni.sh) and MetalLB's manifests (metallb.sh), once
    /// although each cluster's script fetches them; no checksum is published for them.
    @Test func theClusterScriptsManifestsAreInTheList() throws {
        let current = try ReleaseDownloads.artifacts(for: Self.lab("current", .amd64))
        for url in ["https://github.com/flannel-io/flannel/releases/download/v0.28.9/kube-flannel.yml",
                    "https://raw.githubusercontent.com/metallb/metallb/v0.16.1/config/manifests/metallb-native.yaml"] {
            let spec = try #require(current.first { $0.url == url }, "\(url) is not in \(current.map(\.url))")
            #expect(spec.checksum == nil)
        }
        let seed = try ReleaseDownloads.artifacts(for: Self.lab("seed-2021", .amd64)).map(\.url)
        #expect(seed.suffix(3) == ["https://github.com/weaveworks/weave/releases/download/v2.8.1/weave-daemonset-k8s-1.11.yaml",
                                   "https://raw.githubusercontent.com/metallb/metallb/v0.10.2/manifests/namespace.yaml",
                                   "https://raw.githubusercontent.com/metallb/metallb/v0.10.2/manifests/metallb.yaml"], "\(seed)")
    }

    /// A fetch call the derivation cannot evaluate fails loudly instead of leaving the file out.
    @Test func anUnknownWordIsAnError() throws {
        let text = "fetch_verified \"$UNKNOWN/x.tgz\" \"$tmp/x\" 'https://e.x/x.sha256'\n"
        let error = try #require(throws: LabError.self) { try ReleaseDownloads.artifacts(in: text, script: "base-x", versions: [:]) }
        #expect(error.message.contains("argument 1") && error.location == .other("script base-x"))
    }
}
