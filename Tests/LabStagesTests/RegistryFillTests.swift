import Foundation
import LabKit
import Testing
@testable import LabCache
@testable import LabStages

/// `labctl cache fill`'s images through real curl against the loopback registry double
/// (Tests/Testbed/mirror/registry.py), reached as a `--registry-mirror` (containerd's `?ns=` convention).
/// Nothing leaves 127.0.0.1: a pull from a real registry cannot run here.
@Suite(.serialized) struct RegistryFillTests {
    typealias Server = CacheMirrorFillTests.MirrorServer
    struct Logged: Decodable { var method: String; var path: String; var status: Int; var bytes: Int64; var range: String?; var auth: Bool }

    static func start(_ dir: String, environment: [String: String] = [:]) throws -> Server {
        try Server(directory: dir, environment: environment, script: "Tests/Testbed/mirror/registry.py")
    }

    static func log(_ server: Server) throws -> [Logged] {
        let text = (try? String(contentsOfFile: server.log, encoding: .utf8)) ?? ""
        return try text.split(separator: "\n").map { try JSONDecoder().decode(Logged.self, from: Data($0.utf8)) }
    }

    static func client(_ server: Server) throws -> RegistryClient {
        RegistryClient(mirror: try RegistryMirror(server.url), requestDeadline: .seconds(30), blobDeadline: .seconds(60))
    }

    static let pause = "registry.k8s.io/pause:3.10.2"       // an OCI index (images.py)
    static let weave = "docker.io/weaveworks/weave-kube:2.8.1" // a Docker manifest list on docker.io: the token flow

    /// Every image a profile derives, for one architecture: stored, verified, the right platform; docker.io
    /// repositories went through 401 + anonymous token; a second fill asks the registry nothing.
    @Test(arguments: [("current", GuestArch.amd64), ("seed-2021", GuestArch.arm64)])
    func aProfilesImagesFillFromTheDouble(profile: String, arch: GuestArch) async throws {
        let dir = try Fixture.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let lab = try ReleaseDownloadsTests.lab(profile, arch)
        try FileManager.default.createDirectory(atPath: dir + "/files", withIntermediateDirectories: true)
        let store = try await ContainerImagesTests.filledStore(lab, dir + "/files")
        let (images, missing) = try await ContainerImages.required(for: lab, scripts: try StageScripts(lab: lab), store: store)
        #expect(missing.isEmpty)
        let server = try Self.start(dir)
        defer { server.stop() }
        let filler = CacheFiller(store: store)
        let platform = ContainerImages.platform(for: lab)
        let first = try await filler.fillImages(images, platform: platform, client: try Self.client(server))
        #expect(first.failed.isEmpty, "\(first.failed.map { "\($0.0.url): \($0.1)" })")
        #expect(first.stored.count == images.count)
        for entry in first.stored {
            let blobs = try #require(try store.verifiedImage(entry), "\(entry.source)")
            let config = try #require(FileManager.default.contents(atPath: store.blobPath(blobs.configDigest)))
            #expect(String(decoding: config, as: UTF8.self).contains("\"architecture\":\"\(arch.rawValue)\""))
            #expect(entry.image?.platform == platform && entry.image?.indexDigest != nil)
            // (fetchedAt is stored to the second: compare what identifies the entry)
            let found = try store.imageEntry(try ImageReference(parsing: entry.image?.reference ?? ""), platform: platform)
            #expect(found?.source == entry.source && found?.sha256 == entry.sha256 && found?.image == entry.image)
        }
        let log = try Self.log(server)
        #expect(log.reduce(Int64(0)) { $0 + ($1.status < 300 && !$1.path.hasPrefix("/token") ? $1.bytes : 0) } == first.bytesDownloaded)
        let dockerHub = log.filter { $0.path.contains("ns=docker.io") }
        let tokens = log.filter { $0.path.hasPrefix("/token?") && $0.status == 200 }
        #expect(dockerHub.contains { $0.status == 401 && !$0.auth } && !tokens.isEmpty)
        let unauthenticated = dockerHub.filter { $0.status == 200 && !$0.auth }
        #expect(unauthenticated.isEmpty, "docker.io answers without the token: \(unauthenticated.map(\.path))")

        let before = log.count
        let second = try await filler.fillImages(images, platform: platform, client: try Self.client(server))
        #expect(second.cached.count == images.count && second.bytesDownloaded == 0)
        #expect(try Self.log(server).count == before, "a filled cache asked the registry again")
    }

    /// A tag the registry does not have: 404 MANIFEST_UNKNOWN, reported as not found with the registry's error;
    /// the other images still fill.
    @Test func anUnknownTagIsNotFound() async throws {
        let dir = try Fixture.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let server = try Self.start(dir)
        defer { server.stop() }
        let refs = try ["registry.k8s.io/pause:9.9", Self.pause].map(ImageReference.init(parsing:))
        let summary = try await CacheFiller(store: CacheStore(root: dir + "/cache")).fillImages(refs, platform: "linux/amd64", client: try Self.client(server))
        #expect(summary.stored.count == 1 && summary.failed.count == 1)
        let error = try #require(summary.failed.first?.1)
        #expect(error.code == .notFound && error.message.contains("manifest 9.9") && (error.detail ?? "").contains("MANIFEST_UNKNOWN"))
    }

    /// An Accept header without the served type: an OCI index is refused (404 MANIFEST_UNKNOWN, as distribution
    /// refuses it); a Docker manifest list by tag is replaced by its linux/amd64 manifest.
    @Test func acceptDecidesWhatIsServed() async throws {
        let dir = try Fixture.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let server = try Self.start(dir)
        defer { server.stop() }
        let client = try Self.client(server)
        let pause = RegistryClient.Session(client: client, reference: try ImageReference(parsing: Self.pause), authFile: dir + "/auth1")
        let refused = await #expect(throws: LabError.self) {
            try await pause.manifest("3.10.2", accept: [RegistryClient.dockerManifest], expected: nil)
        }
        #expect(refused?.code == .notFound && (refused?.detail ?? "").contains("OCI index found, but accept header does not support OCI indexes"))
        let (_, indexType) = try await pause.manifest("3.10.2", accept: [RegistryClient.ociIndex], expected: nil)
        #expect(indexType == RegistryClient.ociIndex)

        let weave = RegistryClient.Session(client: client, reference: try ImageReference(parsing: Self.weave), authFile: dir + "/auth2")
        defer { try? FileManager.default.removeItem(atPath: dir + "/auth2") }
        let (body, type) = try await weave.manifest("2.8.1", accept: [RegistryClient.dockerManifest], expected: nil)
        #expect(type == RegistryClient.dockerManifest)
        let manifest = try JSONDecoder().decode(ImageManifest.self, from: body)
        #expect(manifest.layers.count == 1)
        // The auth file (the token) is 0600 while it exists.
        let mode = try FileManager.default.attributesOfItem(atPath: dir + "/auth2")[.posixPermissions] as? NSNumber
        #expect(mode?.intValue == 0o600)
    }

    /// A blob cut off mid-transfer: the image fails, the partial file stays, and the next fill resumes it with
    /// Range (206) instead of starting over.
    @Test func anInterruptedBlobResumes() async throws {
        let dir = try Fixture.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let layer = try Self.layerHex(Self.pause, "linux/amd64")
        let server = try Self.start(dir, environment: ["REGISTRY_TRUNCATE": String(layer.prefix(16))])
        defer { server.stop() }
        let filler = CacheFiller(store: CacheStore(root: dir + "/cache"))
        let refs = [try ImageReference(parsing: Self.pause)]
        let first = try await filler.fillImages(refs, platform: "linux/amd64", client: try Self.client(server))
        #expect(first.failed.count == 1 && first.stored.isEmpty)
        let partial = filler.store.partialPath(for: "sha256:" + layer)
        let cut = CacheFiller.size(partial)
        #expect(cut > 0)
        let second = try await filler.fillImages(refs, platform: "linux/amd64", client: try Self.client(server))
        #expect(second.stored.count == 1)
        let layerGets = try Self.log(server).filter { $0.path.contains("/blobs/sha256:" + layer) }
        #expect(layerGets.count == 2 && layerGets.last?.status == 206 && layerGets.last?.range == "bytes=\(cut)-")
        #expect(try filler.store.verifiedImage(try #require(second.stored.first)) != nil)
        #expect(!FileManager.default.fileExists(atPath: partial))
    }

    /// A layer corrupted in the store: verify reports it, drops the entry and the bad blob; the next fill
    /// fetches that blob only (the manifest again, not the config) and the image verifies.
    @Test func aCorruptBlobIsCaughtAndRefetched() async throws {
        let dir = try Fixture.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let server = try Self.start(dir)
        defer { server.stop() }
        let filler = CacheFiller(store: CacheStore(root: dir + "/cache"))
        let refs = [try ImageReference(parsing: Self.weave)]
        let first = try await filler.fillImages(refs, platform: "linux/arm64", client: try Self.client(server))
        let entry = try #require(first.stored.first)
        let blobs = try #require(try filler.store.verifiedImage(entry))
        let layer = try #require(blobs.layerDigests.first)
        try Data("not the layer".utf8).write(to: URL(fileURLWithPath: filler.store.blobPath(layer)))
        #expect(try filler.store.verifiedImage(entry) == nil)

        let results = try filler.verify()
        #expect(results.count == 1 && results.first?.status == .corrupt && results.first?.found == CacheStore.key("not the layer"))
        #expect(try filler.store.entries().isEmpty && !FileManager.default.fileExists(atPath: filler.store.blobPath(layer)))

        let before = try Self.log(server).count
        let again = try await filler.fillImages(refs, platform: "linux/arm64", client: try Self.client(server))
        #expect(again.stored.count == 1)
        let blobGets = try Self.log(server).dropFirst(before).filter { $0.path.contains("/blobs/") }
        #expect(blobGets.map(\.path).allSatisfy { $0.contains(layer) } && blobGets.count == 1)
        #expect(try filler.verify().allSatisfy { $0.status == .ok })
    }

    /// `labctl cache fill` itself: files from the loopback file mirror first, then the images from the registry
    /// double; `--format json` keeps the files' summary at the top and adds `images`; `cache list` shows both kinds.
    @Test func theCommandFillsFilesThenImages() throws {
        let dir = try Fixture.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let labctl = Fixture.repoRoot + "/.build/debug/labctl"
        guard FileManager.default.isExecutableFile(atPath: labctl) else {
            Issue.record("\(labctl) is not built: run swift build --build-tests first")
            return
        }
        try FileManager.default.createDirectory(atPath: dir + "/files", withIntermediateDirectories: true)
        let files = try CacheMirrorFillTests.MirrorServer(directory: dir + "/files")
        defer { files.stop() }
        let registry = try Self.start(dir)
        defer { registry.stop() }
        let environment = ProcessInfo.processInfo.environment.merging(["LABCTL_CACHE_DIR": dir + "/cache"]) { $1 }
        let fill = try Fixture.run([labctl, "cache", "fill", "--lab", Fixture.repoRoot + "/lab.json", "--mirror", files.url,
                                    "--registry-mirror", registry.url, "--format", "json"], environment: environment)
        #expect(fill.status == 0, "\(fill.stderr)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(fill.stdout.utf8)) as? [String: Any])
        let images = try #require(report["images"] as? [String: Any])
        let lab = try LabLoader.load(path: Fixture.repoRoot + "/lab.json").lab
        let expected = try Self.catalogCount(profile: lab.profile)
        #expect((report["stored"] as? [Any])?.count == (try ReleaseDownloads.artifacts(for: lab)).count)
        #expect((images["stored"] as? [Any])?.count == expected && (images["failed"] as? [Any])?.isEmpty == true)
        #expect((images["bytesDownloaded"] as? Int ?? 0) > 0 && (report["missing"] as? [Any])?.isEmpty == true)
        let list = try Fixture.run([labctl, "cache", "list"], environment: environment)
        #expect(list.stdout.contains("registry.k8s.io/kube-apiserver") && list.stdout.contains("  image  ") && list.stdout.contains("  file  "), "\(list.stdout)")
        let verify = try Fixture.run([labctl, "cache", "verify", "--format", "json"], environment: environment)
        #expect(verify.status == 0, "\(verify.stdout)")
    }

    static func catalogCount(profile: String) throws -> Int {
        try ContainerImagesTests.catalog().filter { $0.profiles.contains(profile) }.count
    }

    static func layerHex(_ ref: String, _ platform: String) throws -> String {
        let script = "import sys, hashlib; sys.path.insert(0, sys.argv[1]); import images; "
            + "print(hashlib.sha256(images.image(sys.argv[2], sys.argv[3])['layers'][0]).hexdigest())"
        let r = try Fixture.run(["python3", "-c", script, Fixture.repoRoot + "/Tests/Testbed/stubs", ref, platform])
        return r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
