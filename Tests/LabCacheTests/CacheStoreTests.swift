import Crypto
import Foundation
import LabKit
import Testing
@testable import LabCache

/// An origin in memory: url → bytes. Counts what it served and can append in chunks (a resumed download).
final class MemoryOrigin: ArtifactDownloader, @unchecked Sendable {
    private let lock = NSLock()
    private var files: [String: Data]
    private(set) var requests: [String] = []
    private(set) var served: Int64 = 0

    init(_ files: [String: Data]) { self.files = files }

    func set(_ url: String, _ data: Data) {
        lock.withLock { files[url] = data }
    }

    func fetch(_ url: String) async throws -> Data {
        try lock.withLock {
            requests.append(url)
            guard let data = files[url] else { throw LabError(.commandFailed, "404 \(url)") }
            served += Int64(data.count)
            return data
        }
    }

    /// Appends the missing tail, as `curl -C -` against a server that honours Range.
    func download(_ url: String, to path: String) async throws {
        let data = try lock.withLock { () -> Data in
            requests.append(url)
            guard let data = files[url] else { throw LabError(.commandFailed, "404 \(url)") }
            return data
        }
        let have = FileManager.default.contents(atPath: path) ?? Data()
        let tail = have.count <= data.count ? data.suffix(from: have.count) : data
        lock.withLock { served += Int64(tail.count) }
        try (have.count <= data.count ? have + tail : tail).write(to: URL(fileURLWithPath: path))
    }
}

func sha256(_ data: Data) -> String { SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined() }

func tempDir() throws -> String {
    let dir = NSTemporaryDirectory() + "labctl-cache-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return dir
}

@Suite struct CacheStoreTests {
    static let tool = Data("#!/bin/sh\necho kubeadm v1.36.1\n".utf8)
    static let archive = Data(repeating: 0x42, count: 300_000)
    static let toolURL = "https://dl.k8s.io/release/v1.36.1/bin/linux/amd64/kubeadm"
    static let archiveURL = "https://github.com/istio/istio/releases/download/1.30.3/istio-1.30.3-linux-amd64.tar.gz"

    static var specs: [ArtifactSpec] {
        [ArtifactSpec(name: "kubeadm", version: "1.36.1", url: toolURL, checksum: PublishedChecksum(url: toolURL + ".sha256", entry: nil)),
         ArtifactSpec(name: "istio-1.30.3-linux-amd64.tar.gz", version: "1.30.3", url: archiveURL,
                      checksum: PublishedChecksum(url: archiveURL + ".sha256", entry: "istio-1.30.3-linux-amd64.tar.gz")),
         ArtifactSpec(name: "kubelet.service", version: "-", url: "https://raw.githubusercontent.com/x/kubelet.service", checksum: nil)]
    }

    static func origin() -> MemoryOrigin {
        MemoryOrigin([
            toolURL: tool, toolURL + ".sha256": Data(sha256(tool).utf8),
            archiveURL: archive, archiveURL + ".sha256": Data("\(sha256(archive)) istio-1.30.3-linux-amd64.tar.gz\n".utf8),
            "https://raw.githubusercontent.com/x/kubelet.service": Data("[Unit]\n".utf8),
        ])
    }

    @Test func fillStoresContentAddressedBlobsAndAnIndex() async throws {
        let root = try tempDir()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let store = CacheStore(root: root)
        let summary = try await CacheFiller(store: store, downloader: Self.origin()).fill(Self.specs)
        #expect(summary.failed.isEmpty && summary.stored.count == 3 && summary.cached.isEmpty)
        let entries = try store.entries()
        #expect(entries.map(\.source) == Self.specs.map(\.url).sorted())
        let istio = try #require(entries.first { $0.version == "1.30.3" })
        #expect(istio.sha256 == sha256(Self.archive) && istio.size == 300_000 && istio.kind == .file)
        #expect(istio.checksumURL == Self.archiveURL + ".sha256")
        #expect(FileManager.default.contents(atPath: root + "/blobs/sha256/" + sha256(Self.archive)) == Self.archive)
        // Nothing half-written is left behind: no partial downloads, no temp index files.
        #expect(try FileManager.default.contentsOfDirectory(atPath: root + "/partial").isEmpty)
        #expect(try FileManager.default.contentsOfDirectory(atPath: root).filter { $0.contains(".tmp-") }.isEmpty)
        #expect(try store.entry(for: Self.toolURL)?.sha256 == sha256(Self.tool))
    }

    @Test func aSecondFillDownloadsNothing() async throws {
        let root = try tempDir()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let origin = Self.origin()
        let filler = CacheFiller(store: CacheStore(root: root), downloader: origin)
        _ = try await filler.fill(Self.specs)
        let before = origin.requests.count
        let again = try await filler.fill(Self.specs)
        #expect(again.stored.isEmpty && again.cached.count == 3 && again.bytesDownloaded == 0)
        #expect(origin.requests.count == before, "a filled cache asked the origin again: \(origin.requests.dropFirst(before))")
    }

    @Test func aMismatchingDownloadIsRefusedAndNotStored() async throws {
        let root = try tempDir()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let origin = Self.origin()
        origin.set(Self.archiveURL, Data(repeating: 0x43, count: 300_000))
        let summary = try await CacheFiller(store: CacheStore(root: root), downloader: origin).fill(Self.specs)
        #expect(summary.stored.count == 2)
        let failure = try #require(summary.failed.first)
        #expect(failure.0.url == Self.archiveURL && failure.1.code == .security)
        #expect(failure.1.message.contains("checksum mismatch") && failure.1.message.contains(sha256(Self.archive)))
        #expect(try CacheStore(root: root).entry(for: Self.archiveURL) == nil)
        #expect(try FileManager.default.contentsOfDirectory(atPath: root + "/partial").isEmpty)
    }

    @Test func aChecksumFileWithoutTheEntryIsAnError() async throws {
        let root = try tempDir()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let origin = Self.origin()
        origin.set(Self.archiveURL + ".sha256", Data("\(sha256(Self.archive)) istio-1.30.3-linux-arm64.tar.gz\n".utf8))
        let summary = try await CacheFiller(store: CacheStore(root: root), downloader: origin).fill(Self.specs)
        #expect(summary.failed.first?.1.message.contains("publishes no sha256 for istio-1.30.3-linux-amd64.tar.gz") == true)
    }

    @Test func verifyCatchesACorruptBlobAndTheNextFillRefetchesIt() async throws {
        let root = try tempDir()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let origin = Self.origin()
        let store = CacheStore(root: root)
        let filler = CacheFiller(store: store, downloader: origin)
        _ = try await filler.fill(Self.specs)
        let blob = store.blobPath(sha256(Self.archive))
        var bytes = try #require(FileManager.default.contents(atPath: blob))
        bytes[1000] ^= 0xFF
        try bytes.write(to: URL(fileURLWithPath: blob))
        try FileManager.default.removeItem(atPath: store.blobPath(sha256(Self.tool)))

        let results = try filler.verify()
        #expect(Dictionary(uniqueKeysWithValues: results.map { ($0.entry.name, $0.status) })
                == ["kubeadm": .missing, "istio-1.30.3-linux-amd64.tar.gz": .corrupt, "kubelet.service": .ok])
        #expect(results.first { $0.status == .corrupt }?.found == sha256(bytes))
        // Never used: the corrupt entries are gone from the index and the corrupt blob from the disk.
        #expect(try store.entries().map(\.name) == ["kubelet.service"])
        #expect(!FileManager.default.fileExists(atPath: blob))

        let before = origin.served
        let refill = try await filler.fill(Self.specs)
        #expect(Set(refill.stored.map(\.name)) == ["kubeadm", "istio-1.30.3-linux-amd64.tar.gz"] && refill.cached.map(\.name) == ["kubelet.service"])
        let sums = Int64(sha256(Self.tool).utf8.count + "\(sha256(Self.archive)) istio-1.30.3-linux-amd64.tar.gz\n".utf8.count)
        #expect(refill.bytesDownloaded == Int64(Self.tool.count + Self.archive.count) + sums)
        #expect(origin.served - before == refill.bytesDownloaded)
        #expect(try filler.verify().allSatisfy { $0.status == .ok })
    }

    @Test func fillAlsoCatchesACorruptBlobItFindsAndRefetchesIt() async throws {
        let root = try tempDir()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let store = CacheStore(root: root)
        let filler = CacheFiller(store: store, downloader: Self.origin())
        _ = try await filler.fill(Self.specs)
        try Data("tampered".utf8).write(to: URL(fileURLWithPath: store.blobPath(sha256(Self.tool))))
        let seen = EventLog()
        let summary = try await filler.fill(Self.specs, events: seen.append)
        #expect(summary.stored.map(\.name) == ["kubeadm"])
        #expect(seen.corrupt == ["kubeadm"])
        #expect(FileManager.default.contents(atPath: store.blobPath(sha256(Self.tool))) == Self.tool)
    }

    @Test func anInterruptedDownloadResumesFromItsPartialFile() async throws {
        let root = try tempDir()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let origin = Self.origin()
        let store = CacheStore(root: root)
        try FileManager.default.createDirectory(atPath: root + "/partial", withIntermediateDirectories: true)
        try Self.archive.prefix(100_000).write(to: URL(fileURLWithPath: store.partialPath(for: Self.archiveURL)))
        let seen = EventLog()
        let summary = try await CacheFiller(store: store, downloader: origin).fill([Self.specs[1]], events: seen.append)
        #expect(summary.stored.first?.sha256 == sha256(Self.archive))
        #expect(seen.resumedFrom == [100_000])
        // Only the missing 200,000 bytes (and the checksum file) came over the "network".
        let checksum = Int64("\(sha256(Self.archive)) istio-1.30.3-linux-amd64.tar.gz\n".utf8.count)
        #expect(origin.served == 200_000 + checksum && summary.bytesDownloaded == 200_000 + checksum)
    }

    @Test func aStalePartialFileThatDoesNotVerifyIsRestartedOnce() async throws {
        let root = try tempDir()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let store = CacheStore(root: root)
        try FileManager.default.createDirectory(atPath: root + "/partial", withIntermediateDirectories: true)
        try Data(repeating: 0x00, count: 100_000).write(to: URL(fileURLWithPath: store.partialPath(for: Self.archiveURL)))
        let summary = try await CacheFiller(store: store, downloader: Self.origin()).fill([Self.specs[1]])
        #expect(summary.failed.isEmpty && summary.stored.first?.sha256 == sha256(Self.archive))
    }

    @Test func aDamagedIndexIsAClearError() throws {
        let root = try tempDir()
        defer { try? FileManager.default.removeItem(atPath: root) }
        try Data("{not json".utf8).write(to: URL(fileURLWithPath: root + "/index.json"))
        let error = try #require(throws: LabError.self) { try CacheStore(root: root).entries() }
        #expect(error.location == .file(root + "/index.json") && error.hint?.contains("labctl cache fill") == true)
    }

    @Test func aSecondWriterIsRefused() async throws {
        let root = try tempDir()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let store = CacheStore(root: root)
        let held = try store.lock()
        defer { held.release() }
        let error = try #require(throws: LabError.self) { try CacheFiller(store: store).verify() }
        #expect(error.code == .conflict && error.message.contains("filling or verifying the cache"))
    }
}

/// Collects the events a fill reports.
final class EventLog: @unchecked Sendable {
    private let lock = NSLock()
    private(set) var corrupt: [String] = []
    private(set) var resumedFrom: [Int64] = []

    var append: @Sendable (CacheEvent) -> Void {
        { event in
            self.lock.withLock {
                switch event {
                case .corrupt(let entry, _): self.corrupt.append(entry.name)
                case .downloading(_, let from): self.resumedFrom.append(from)
                default: break
                }
            }
        }
    }
}
