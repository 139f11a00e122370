import Foundation
import LabCache
import LabKit
import Testing
@testable import LabStages

/// `base prepare` with a filled cache, on the host: the cached files are uploaded (to a folder standing
/// in for the guest's /var/cache/labctl/files) and the rendered scripts' `fetch`/`fetch_verified`
/// take them from there with every curl call refused (offline), or fall back to curl when the upload
/// is missing or corrupt. The base scripts themselves are not run here (they install system files);
/// only their rendered library is.
@Suite(.serialized) struct CachedReleaseFilesTests {
    /// A guest whose upload folder is `root + /var/cache/labctl/files`, and whose curl is offline:
    /// every call is logged and fails as curl does without a network (exit 6, "Could not resolve host").
    struct Sandbox {
        let root: String
        var files: String { root + CachedReleaseFiles.guestDirectory }
        var bin: String { root + "/bin" }
        var curlLog: String { root + "/curl.log" }

        init() throws {
            root = try Fixture.tempDir()
            try FileManager.default.createDirectory(atPath: root + "/bin", withIntermediateDirectories: true)
            let curl = "#!/bin/sh\necho \"$*\" >> '\(root)/curl.log'\necho 'curl: (6) Could not resolve host' >&2\nexit 6\n"
            try curl.write(toFile: bin + "/curl", atomically: true, encoding: .utf8)
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: bin + "/curl")
        }

        func map(_ text: String) -> String { text.replacingOccurrences(of: CachedReleaseFiles.guestDirectory, with: files) }

        var curlCalls: [String] { ((try? String(contentsOfFile: curlLog, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init) }
    }

    struct SandboxSession: GuestSession {
        let endpoint = GuestEndpoint(node: "base", host: "127.0.0.1", user: "lab")
        let sandbox: Sandbox
        func run(_ command: Command) async throws -> CommandResult {
            var c = command
            c.sudo = false
            c.arguments = c.arguments.filter { $0 != "-o" && $0 != "lab" }.map(sandbox.map)
            return try await HostProcessRunner().run(c)
        }
        func upload(_ data: Data, to path: String, mode: Int32) async throws {
            try data.write(to: URL(fileURLWithPath: sandbox.map(path)))
        }
        func download(_ path: String) async throws -> Data { throw LabError(.unsupported, "download") }
        func close() async {}
    }

    /// The rendered base-tools script of `current` (Istio and k9s, both fetch_verified), and a cache
    /// filled from the loopback mirror.
    static func setUp() async throws -> (Sandbox, CacheStore, RenderedScript, [String: String]) {
        let sandbox = try Sandbox()
        let server = try CacheMirrorFillTests.MirrorServer(directory: sandbox.root)
        defer { server.stop() }
        let scripts = try Fixture.scripts(profile: "current")
        let rendered = try scripts.render(.baseTools)
        let store = CacheStore(root: sandbox.root + "/cache")
        let specs = try ReleaseDownloads.artifacts(in: rendered.text, script: rendered.name, versions: scripts.profile.versions)
        let summary = try await CacheFiller(store: store, downloader: CurlDownloader(perFileDeadline: .seconds(60)), mirror: try Mirror(server.url)).fill(specs)
        #expect(summary.failed.isEmpty && summary.stored.count == 2)
        return (sandbox, store, rendered, scripts.profile.versions)
    }

    /// The script library of a rendered script, then `fetch_verified` as base-tools calls it for Istio.
    static func fetchIstio(_ sandbox: Sandbox, _ rendered: RenderedScript) throws -> (status: Int32, stdout: String, stderr: String) {
        let lines = rendered.text.split(separator: "\n", omittingEmptySubsequences: false)
        let start = try #require(lines.firstIndex { $0.contains("---- labctl script library ----") })
        let end = try #require(lines.firstIndex { $0.contains("---- end of library ----") })
        let call = try #require(lines.first { $0.contains("fetch_verified '") && $0.contains("istio") })
            .replacingOccurrences(of: "\"$tmp/istio.tar.gz\"", with: "'\(sandbox.root)/istio.tar.gz'")
        let program = "set -euo pipefail\n" + lines[start ... end].joined(separator: "\n") + "\n" + call + "\n"
        return try Fixture.run(["bash", "-c", sandbox.map(program)], environment: ["PATH": sandbox.bin + ":/usr/bin:/bin"])
    }

    @Test func uploadedFilesAreUsedWithTheNetworkOff() async throws {
        let (sandbox, store, rendered, versions) = try await Self.setUp()
        defer { try? FileManager.default.removeItem(atPath: sandbox.root) }
        let session = SandboxSession(sandbox: sandbox)
        let uploaded = try await CachedReleaseFiles(store: store).upload(for: rendered, versions: versions, user: "lab", on: session, nil)
        #expect(uploaded.count == 4)
        let r = try Self.fetchIstio(sandbox, rendered)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(sandbox.curlCalls.isEmpty, "the cached file was downloaded anyway: \(sandbox.curlCalls)")
        #expect(r.stderr.contains("istio-1.30.3-linux-amd64.tar.gz: from labctl's cache"), "\(r.stderr)")
        let istio = try #require(try store.entries().first { $0.name.hasPrefix("istio") })
        #expect(try CacheStore.sha256(ofFile: sandbox.root + "/istio.tar.gz") == istio.sha256)

        try await CachedReleaseFiles(store: store).clean(uploaded, on: session)
        #expect(!FileManager.default.fileExists(atPath: sandbox.files))
    }

    /// A corrupt upload (or none) is not used: the script goes to the network, which is off here.
    @Test func aCorruptUploadFallsBackToTheDownload() async throws {
        let (sandbox, store, rendered, versions) = try await Self.setUp()
        defer { try? FileManager.default.removeItem(atPath: sandbox.root) }
        let session = SandboxSession(sandbox: sandbox)
        try await CachedReleaseFiles(store: store).upload(for: rendered, versions: versions, user: "lab", on: session, nil)
        let istio = try #require(rendered.text.firstMatch(of: /'(https:\/\/[^']+istio-[^']+\.tar\.gz)'/)?.1)
        let uploaded = sandbox.files + "/" + CacheStore.key(String(istio))
        try Data("truncated".utf8).write(to: URL(fileURLWithPath: uploaded))
        let r = try Self.fetchIstio(sandbox, rendered)
        #expect(r.status != 0)
        #expect(sandbox.curlCalls.first?.contains(String(istio)) == true, "\(sandbox.curlCalls)")
    }

    /// A blob that no longer matches its entry is never uploaded.
    @Test func aCorruptBlobIsNotUploaded() async throws {
        let (sandbox, store, rendered, versions) = try await Self.setUp()
        defer { try? FileManager.default.removeItem(atPath: sandbox.root) }
        let istio = try #require(try store.entries().first { $0.name.hasPrefix("istio") })
        try Data("bit rot".utf8).write(to: URL(fileURLWithPath: store.blobPath(istio.sha256)))
        let uploaded = try await CachedReleaseFiles(store: store).upload(for: rendered, versions: versions, user: "lab",
                                                                          on: SandboxSession(sandbox: sandbox), nil)
        #expect(uploaded.count == 2)
        #expect(!FileManager.default.fileExists(atPath: sandbox.files + "/" + CacheStore.key(istio.source)))
    }

    /// `up`'s cluster scripts take the same path: MetalLB's manifest (metallb.sh's `fetch`) comes from the
    /// cache with the network off, inside `withUploads`; afterwards only this script's uploads are removed.
    @Test func theMetalLBManifestComesFromTheCacheDuringUp() async throws {
        let sandbox = try Sandbox()
        defer { try? FileManager.default.removeItem(atPath: sandbox.root) }
        let server = try CacheMirrorFillTests.MirrorServer(directory: sandbox.root)
        defer { server.stop() }
        let scripts = try Fixture.scripts(profile: "current")
        let rendered = try scripts.render(.metallb, cluster: "cluster1")
        let store = CacheStore(root: sandbox.root + "/cache")
        let specs = try ReleaseDownloads.artifacts(in: rendered.text, script: rendered.name, versions: scripts.profile.versions)
        #expect(specs.map(\.name) == ["metallb-native.yaml"])
        let summary = try await CacheFiller(store: store, downloader: CurlDownloader(perFileDeadline: .seconds(60)), mirror: try Mirror(server.url)).fill(specs)
        #expect(summary.failed.isEmpty && summary.stored.count == 1)

        // Another script's upload on the same node (stages run in parallel) must survive this one's clean-up.
        try FileManager.default.createDirectory(atPath: sandbox.files, withIntermediateDirectories: true)
        try Data("other".utf8).write(to: URL(fileURLWithPath: sandbox.files + "/other"))
        let lines = rendered.text.split(separator: "\n", omittingEmptySubsequences: false)
        let start = try #require(lines.firstIndex { $0.contains("---- labctl script library ----") })
        let end = try #require(lines.firstIndex { $0.contains("---- end of library ----") })
        let call = try #require(lines.first { $0.hasPrefix("fetch 'https://") })
        let program = "set -euo pipefail\nwork='\(sandbox.root)'\n" + lines[start ... end].joined(separator: "\n") + "\n" + call + "\n"
        let session = SandboxSession(sandbox: sandbox)
        let r = try await CachedReleaseFiles(store: store).withUploads(for: rendered, versions: scripts.profile.versions, user: "lab", on: session, nil) {
            try Fixture.run(["bash", "-c", sandbox.map(program)], environment: ["PATH": sandbox.bin + ":/usr/bin:/bin"])
        }
        #expect(r.status == 0 && sandbox.curlCalls.isEmpty, "\(r.stderr) \(sandbox.curlCalls)")
        let served = try #require(try store.entries().first)
        #expect(try CacheStore.sha256(ofFile: sandbox.root + "/metallb-native.yaml") == served.sha256)
        #expect(try FileManager.default.contentsOfDirectory(atPath: sandbox.files) == ["other"])
    }
}
