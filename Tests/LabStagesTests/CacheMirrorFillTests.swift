import Foundation
import LabCache
import LabKit
import Testing
@testable import LabStages

/// `labctl cache fill` for a whole profile through real curl against a loopback HTTP mirror that
/// serves the stub catalog (Tests/Testbed/mirror/cache_mirror.py). Nothing leaves 127.0.0.1: a real
/// fill against the internet cannot run here.
@Suite(.serialized) struct CacheMirrorFillTests {
    /// The mirror server, started on a free loopback port; stopped by `stop()`.
    final class MirrorServer: @unchecked Sendable {
        let process = Process()
        let port: Int
        let log: String

        init(directory: String, environment: [String: String] = [:], script: String = "Tests/Testbed/mirror/cache_mirror.py") throws {
            let portFile = directory + "/port"
            log = directory + "/requests.jsonl"
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ["python3", Fixture.repoRoot + "/" + script, portFile, log]
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
            process.standardOutput = FileHandle.nullDevice
            try process.run()
            // The server writes its port within a second; give up after 10 s.
            let deadline = Date().addingTimeInterval(10)
            var port: Int?
            while port == nil, Date() < deadline {
                port = (try? String(contentsOfFile: portFile, encoding: .utf8)).flatMap { Int($0) }
                if port == nil { Thread.sleep(forTimeInterval: 0.05) }
            }
            guard let port else {
                process.terminate()
                throw LabError(.timeout, "the cache mirror did not start", location: .file(portFile))
            }
            self.port = port
        }

        var url: String { "http://127.0.0.1:\(port)" }

        struct Request: Decodable { var path: String; var range: String?; var status: Int; var bytes: Int64 }
        func requests() throws -> [Request] {
            let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            return try text.split(separator: "\n").map { try JSONDecoder().decode(Request.self, from: Data($0.utf8)) }
        }

        /// SIGKILL: nothing to flush (the request log is appended and closed per request).
        func stop() {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }

    static func filler(_ root: String, _ server: MirrorServer) throws -> CacheFiller {
        CacheFiller(store: CacheStore(root: root), downloader: CurlDownloader(perFileDeadline: .seconds(60)), mirror: try Mirror(server.url))
    }

    @Test(arguments: Fixture.profiles)
    func aProfileFillsFromTheMirrorAndASecondFillFetchesNothing(profile: String) async throws {
        let dir = try Fixture.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let server = try MirrorServer(directory: dir)
        defer { server.stop() }
        let specs = try ReleaseDownloads.artifacts(for: Fixture.lab(profile: profile))
        let filler = try Self.filler(dir + "/cache", server)

        let first = try await filler.fill(specs)
        #expect(first.failed.isEmpty, "\(first.failed.map { "\($0.0.url): \($0.1)" })")
        #expect(first.stored.count == specs.count)
        for entry in first.stored {
            let digest = try ReleaseDownloadsTests.servedDigest(entry.source)
            #expect(entry.sha256 == digest, "\(entry.source)")
        }
        let served = try server.requests().reduce(Int64(0)) { $0 + $1.bytes }
        #expect(served == first.bytesDownloaded)

        let before = try server.requests().count
        let second = try await filler.fill(specs)
        #expect(second.cached.count == specs.count && second.bytesDownloaded == 0)
        #expect(try server.requests().count == before, "a filled cache asked the mirror again")
    }

    /// A fill cut off mid-file fails; the next one asks for the rest with `Range: bytes=N-` and verifies.
    @Test func anInterruptedFillResumesWithARangeRequest() async throws {
        let dir = try Fixture.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let name = "istio-1.30.3-linux-amd64.tar.gz"
        let server = try MirrorServer(directory: dir, environment: ["CACHE_MIRROR_TRUNCATE": name])
        defer { server.stop() }
        let specs = try ReleaseDownloads.artifacts(for: Fixture.lab(profile: "current")).filter { $0.name == name }
        let filler = try Self.filler(dir + "/cache", server)

        let cut = try await filler.fill(specs)
        #expect(cut.failed.count == 1 && cut.stored.isEmpty)
        #expect(cut.failed.first?.1.message.contains("cannot download") == true)
        let resumed = try await filler.fill(specs)
        let digest = try ReleaseDownloadsTests.servedDigest(specs[0].url)
        #expect(resumed.failed.isEmpty && resumed.stored.first?.sha256 == digest)
        let gets = try server.requests().filter { $0.path.hasSuffix(name) }
        #expect(gets.count == 2)
        let half = try #require(gets.first?.bytes)
        #expect(gets.last?.range == "bytes=\(half)-" && gets.last?.status == 206)
    }

    /// A mirror that ignores Range (as python's http.server does): curl exits 33 and the file restarts from zero.
    @Test func aServerWithoutRangeRestartsThePartialFile() async throws {
        let dir = try Fixture.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let name = "istio-1.30.3-linux-amd64.tar.gz"
        let server = try MirrorServer(directory: dir, environment: ["CACHE_MIRROR_TRUNCATE": name, "CACHE_MIRROR_NO_RANGE": "1"])
        defer { server.stop() }
        let specs = try ReleaseDownloads.artifacts(for: Fixture.lab(profile: "current")).filter { $0.name == name }
        let filler = try Self.filler(dir + "/cache", server)
        _ = try await filler.fill(specs)
        let resumed = try await filler.fill(specs)
        #expect(resumed.failed.isEmpty, "\(resumed.failed.map(\.1))")
        let gets = try server.requests().filter { $0.path.hasSuffix(name) }
        #expect(gets.count == 3 && gets[1].range != nil && gets[2].range == nil, "\(gets)")
    }

    /// A URL outside the catalog is a 404 at the mirror, reported per artifact; the rest still fills.
    @Test func aMissingFileFailsAloneWithTheCurlCommand() async throws {
        let dir = try Fixture.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let server = try MirrorServer(directory: dir)
        defer { server.stop() }
        let good = try ReleaseDownloads.artifacts(for: Fixture.lab(profile: "seed-2021")).prefix(2)
        let bad = ArtifactSpec(name: "k9s_v0.24.15_Linux_x86_64.tar.gz", version: "0.24.15",
                               url: "https://github.com/derailed/k9s/releases/download/v0.24.15/k9s_v0.24.15_Linux_x86_64.tar.gz", checksum: nil)
        let summary = try await Self.filler(dir + "/cache", server).fill(Array(good) + [bad])
        #expect(summary.stored.count == 2 && summary.failed.map(\.0.url) == [bad.url])
        let error = try #require(summary.failed.first?.1)
        #expect(error.message.contains("curl exit 22") && error.location?.argv?.starts(with: ["curl", "-fsSL"]) == true, "\(error)")
        #expect(error.causeText?.contains("404") == true, "\(error)")
    }
}
