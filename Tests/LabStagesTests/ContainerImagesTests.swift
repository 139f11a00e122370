import Foundation
import LabCache
import LabKit
import Testing
@testable import LabStages

/// The image list (ContainerImages.required), derived from the lab's profile, its rendered manifests and the
/// cached files, against the stand-in image catalog (Tests/Testbed/stubs/images.py) and its cited kubeadm table.
@Suite(.serialized) struct ContainerImagesTests {
    struct CatalogImage: Decodable { var ref: String; var profiles: [String]; var source: String; var format: String }

    static func catalog() throws -> [CatalogImage] {
        let r = try Fixture.run(["python3", Fixture.repoRoot + "/Tests/Testbed/stubs/images.py", "catalog"])
        return try JSONDecoder().decode([CatalogImage].self, from: Data(r.stdout.utf8))
    }

    /// A cache filled with every file of the lab from the loopback mirror of the stub catalog (real curl).
    static func filledStore(_ lab: Lab, _ dir: String) async throws -> CacheStore {
        let server = try CacheMirrorFillTests.MirrorServer(directory: dir)
        defer { server.stop() }
        let filler = try CacheMirrorFillTests.filler(dir + "/cache", server)
        let summary = try await filler.fill(try ReleaseDownloads.artifacts(for: lab))
        #expect(summary.failed.isEmpty, "\(summary.failed.map { "\($0.0.url): \($0.1)" })")
        return filler.store
    }

    /// For each profile and architecture the derived list is exactly the set of images the stand-in catalog
    /// serves for that profile: an image added to a manifest or profile without a stand-in fails here.
    @Test(arguments: Fixture.profiles, GuestArch.allCases)
    func theDerivedListIsTheStandInCatalog(profile: String, arch: GuestArch) async throws {
        let dir = try Fixture.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let lab = try ReleaseDownloadsTests.lab(profile, arch)
        let store = try await Self.filledStore(lab, dir)
        let (images, missing) = try await ContainerImages.required(for: lab, scripts: try StageScripts(lab: lab), store: store)
        #expect(missing.isEmpty)
        let expected = Set(try Self.catalog().filter { $0.profiles.contains(profile) }.map(\.ref))
        #expect(Set(images.map(\.description)) == expected,
                "\(profile)/\(arch): derived-only \(Set(images.map(\.description)).subtracting(expected).sorted()), catalog-only \(expected.subtracting(images.map(\.description)).sorted())")
        #expect(images.count == Set(images.map(\.description)).count)
        #expect(ContainerImages.platform(for: lab) == "linux/" + arch.rawValue)
    }

    /// Without the cached files the images they name are not known: each file is reported missing, and what
    /// the profile and the rendered manifests name is still listed.
    @Test func anEmptyCacheReportsWhatItCannotRead() async throws {
        let dir = try Fixture.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let lab = try ReleaseDownloadsTests.lab("current", .amd64)
        let (images, missing) = try await ContainerImages.required(for: lab, scripts: try StageScripts(lab: lab), store: CacheStore(root: dir))
        #expect(Set(missing) == [
            "https://github.com/flannel-io/flannel/releases/download/v0.28.9/kube-flannel.yml",
            "https://raw.githubusercontent.com/metallb/metallb/v0.16.1/config/manifests/metallb-native.yaml",
            "https://github.com/istio/istio/releases/download/1.30.3/istio-1.30.3-linux-amd64.tar.gz",
        ])
        let names = Set(images.map(\.description))
        #expect(names.contains("registry.k8s.io/kube-apiserver:v1.36.1") && names.contains("docker.io/istio/proxyv2:1.30.3")
            && names.contains("registry.k8s.io/e2e-test-images/jessie-dnsutils:1.3"))
        #expect(!names.contains("ghcr.io/flannel-io/flannel:v0.28.9"))
    }

    /// kubeadm's images for both profiles are the cited table's: the Swift table and images.py agree, and
    /// kubeadm 1.21.2 / 1.36.1 pin pause 3.4.1 / 3.10.2, etcd 3.4.13-0 / 3.6.8-0, CoreDNS v1.8.0 / v1.14.2
    /// (kubernetes/minikube@383c3aa4af:pkg/minikube/constants/constants_kubeadm_images.go).
    @Test(arguments: [("seed-2021", "1.21.2", "3.4.1", "3.4.13-0", "v1.8.0"), ("current", "1.36.1", "3.10.2", "3.6.8-0", "v1.14.2")])
    func kubeadmImagesAreTheCitedTable(profile: String, version: String, pause: String, etcd: String, coredns: String) throws {
        let scripts = try StageScripts(lab: try Fixture.lab(profile: profile))
        let images = try ContainerImages.kubeadmImages(try scripts.renderAll()).map(\.description)
        #expect(images == ["kube-apiserver", "kube-controller-manager", "kube-scheduler", "kube-proxy"].map { "registry.k8s.io/\($0):v\(version)" }
            + ["registry.k8s.io/pause:\(pause)", "registry.k8s.io/etcd:\(etcd)", "registry.k8s.io/coredns/coredns:\(coredns)"])
        let python = try Fixture.run(["python3", Fixture.repoRoot + "/Tests/Testbed/stubs/images.py", "kubeadm", version, "registry.k8s.io", "registry.k8s.io/coredns"])
        #expect(python.stdout.split(separator: "\n").map(String.init) == images)
    }

    /// containerd runs its own default sandbox image (containerd/containerd@v2.3.4:internal/cri/config/config.go
    /// DefaultSandboxImage, not overridden by base-runtime.sh): the same pause kubeadm 1.36 pins. Docker
    /// (dockershim, 1.21) runs the kubelet's --pod-infra-container-image, kubeadm's pause.
    @Test func theSandboxImageIsTheRuntimes() throws {
        let current = try StageScripts(lab: try Fixture.lab(profile: "current"))
        let currentRendered = try current.renderAll()
        #expect(!currentRendered.contains { $0.text.contains("sandbox") }, "a script now configures the sandbox image: check sandboxImages")
        #expect(try ContainerImages.sandboxImages(current.profile, currentRendered).map(\.description) == ["registry.k8s.io/pause:3.10.2"])
        let seed = try StageScripts(lab: try Fixture.lab(profile: "seed-2021"))
        #expect(try ContainerImages.sandboxImages(seed.profile, try seed.renderAll()).isEmpty)
    }

    /// `image:` fields as real manifests write them (block and flow lists, quoted, with comments); a field that is not a
    /// reference is an error, never skipped.
    @Test func imageFieldsAreReadAsManifestsWriteThem() throws {
        // Lines as weaveworks/weave@v2.8.1 weave-daemonset-k8s-1.11.yaml, flannel-io/flannel kube-flannel.yml and
        // metallb/metallb@v0.10.2:manifests/metallb.yaml write them.
        let text = """
                    - name: weave
                      image: 'docker.io/weaveworks/weave-kube:2.8.1'
              - image: ghcr.io/flannel-io/flannel-cni-plugin:v1.7.1-flannel1 # init container
                image: quay.io/metallb/speaker:v0.10.2
                imagePullPolicy: IfNotPresent
            """
        #expect(try ContainerImages.imageFields(text).map(\.description) == [
            "docker.io/weaveworks/weave-kube:2.8.1", "ghcr.io/flannel-io/flannel-cni-plugin:v1.7.1-flannel1", "quay.io/metallb/speaker:v0.10.2"])
        #expect(throws: LabError.self) { try ContainerImages.imageFields("  image: Not/A/Reference\n") }
    }
}
