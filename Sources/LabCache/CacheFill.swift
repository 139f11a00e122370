import Foundation
import LabKit

/// What a fill or verify reports while it runs; the CLI renders these (the core never prints).
public enum CacheEvent: Sendable {
    /// The entry is in the store and its blob still has the recorded sha256.
    case cached(CacheEntry)
    /// A download starts; `resumeFrom` is the size of a partial file left by an interrupted fill.
    case downloading(ArtifactSpec, resumeFrom: Int64)
    /// Bytes of the current download so far, and the rate since it started.
    case progress(ArtifactSpec, bytes: Int64, bytesPerSecond: Double)
    /// Downloaded, verified and stored; `downloaded` is what came over the network this time.
    case stored(CacheEntry, downloaded: Int64, duration: Duration)
    /// A blob does not match its entry (or is gone): the entry was removed; the next fill refetches it.
    case corrupt(CacheEntry, found: String)
    case failed(ArtifactSpec, LabError)
}

public struct CacheFillSummary: Sendable {
    public var stored: [CacheEntry] = []
    public var cached: [CacheEntry] = []
    public var failed: [(ArtifactSpec, LabError)] = []
    /// Bytes fetched from the origin (or mirror) by this fill, checksum files included.
    public var bytesDownloaded: Int64 = 0

    public init() {}
}

public enum VerifyStatus: String, Sendable, Codable { case ok, corrupt, missing }

public struct CacheVerifyResult: Sendable {
    public var entry: CacheEntry
    public var status: VerifyStatus
    /// The sha256 found on disk (empty when the blob is missing).
    public var found: String

    public init(entry: CacheEntry, status: VerifyStatus, found: String) {
        self.entry = entry
        self.status = status
        self.found = found
    }
}

/// `labctl cache fill` and `labctl cache verify`.
public struct CacheFiller: Sendable {
    public var store: CacheStore
    public var downloader: any ArtifactDownloader
    public var mirror: Mirror?
    /// How often a running download reports progress.
    public var progressInterval: Duration

    public init(store: CacheStore, downloader: any ArtifactDownloader = CurlDownloader(), mirror: Mirror? = nil,
                progressInterval: Duration = .milliseconds(500)) {
        self.store = store
        self.downloader = downloader
        self.mirror = mirror
        self.progressInterval = progressInterval
    }

    /// Makes every artifact present and verified. A failed artifact does not stop the others; the
    /// summary lists it (the CLI then exits non-zero).
    public func fill(_ specs: [ArtifactSpec], events: @escaping @Sendable (CacheEvent) -> Void = { _ in }) async throws -> CacheFillSummary {
        let lock = try store.lock()
        defer { lock.release() }
        var summary = CacheFillSummary()
        for spec in specs {
            try Task.checkCancellation()
            do {
                if let entry = try store.entries().first(where: { $0.source == spec.url }) {
                    let found = try currentDigest(entry)
                    if found == entry.sha256 {
                        summary.cached.append(entry)
                        events(.cached(entry))
                        continue
                    }
                    try store.remove(entry)
                    events(.corrupt(entry, found: found))
                }
                let (entry, bytes, duration) = try await fetch(spec, events: events)
                summary.bytesDownloaded += bytes
                summary.stored.append(entry)
                events(.stored(entry, downloaded: bytes, duration: duration))
            } catch let error as LabError {
                if error.code == .cancelled { throw error }
                summary.failed.append((spec, error))
                events(.failed(spec, error))
            }
        }
        return summary
    }

    /// Makes every image present for `platform` and verified, through `client`. An image in the store is
    /// re-hashed (manifest, config, layers) and kept; a damaged one is reported, dropped and fetched again.
    /// A failed image does not stop the others.
    public func fillImages(_ images: [ImageReference], platform: String, client: RegistryClient,
                           events: @escaping @Sendable (CacheEvent) -> Void = { _ in }) async throws -> CacheFillSummary {
        let lock = try store.lock()
        defer { lock.release() }
        var summary = CacheFillSummary()
        for reference in images {
            try Task.checkCancellation()
            let spec = ArtifactSpec(name: reference.name, version: reference.tag ?? reference.digest ?? "-", kind: .image,
                                    url: CachedImage.source(reference, platform: platform), checksum: nil)
            do {
                if let entry = try store.entries().first(where: { $0.source == spec.url }) {
                    guard let damage = try store.damagedImageBlob(entry) else {
                        summary.cached.append(entry)
                        events(.cached(entry))
                        continue
                    }
                    try drop(entry, damage)
                    events(.corrupt(entry, found: damage.found))
                }
                let clock = ContinuousClock()
                let started = clock.now
                let (entry, bytes) = try await client.pull(reference, platform: platform, store: store, spec: spec, events: events)
                summary.bytesDownloaded += bytes
                summary.stored.append(entry)
                events(.stored(entry, downloaded: bytes, duration: clock.now - started))
            } catch let error as LabError {
                if error.code == .cancelled { throw error }
                summary.failed.append((spec, error))
                events(.failed(spec, error))
            }
        }
        return summary
    }

    /// Re-hashes every entry (an image: its manifest, config and every layer). A corrupt or missing blob is
    /// reported and its entry removed, so it is never used and the next fill fetches it again.
    public func verify(events: @escaping @Sendable (CacheEvent) -> Void = { _ in }) throws -> [CacheVerifyResult] {
        let lock = try store.lock()
        defer { lock.release() }
        var results: [CacheVerifyResult] = []
        for entry in try store.entries() {
            let damage: (sha256: String, found: String)?
            if entry.kind == .image {
                damage = try store.damagedImageBlob(entry)
            } else {
                let found = try currentDigest(entry)
                damage = found == entry.sha256 ? nil : (entry.sha256, found)
            }
            guard let damage else {
                results.append(CacheVerifyResult(entry: entry, status: .ok, found: entry.sha256))
                events(.cached(entry))
                continue
            }
            try drop(entry, damage)
            results.append(CacheVerifyResult(entry: entry, status: damage.found.isEmpty ? .missing : .corrupt, found: damage.found))
            events(.corrupt(entry, found: damage.found))
        }
        return results
    }

    /// Removes a damaged entry, and an image's damaged blob (its bytes no longer match its name, so no entry
    /// can use it); the image's intact blobs stay and are not fetched again.
    private func drop(_ entry: CacheEntry, _ damage: (sha256: String, found: String)) throws {
        try store.remove(entry)
        if entry.kind == .image, !damage.found.isEmpty { try? FileManager.default.removeItem(atPath: store.blobPath(damage.sha256)) }
    }

    /// The blob's sha256 now, or "" when it is gone.
    private func currentDigest(_ entry: CacheEntry) throws -> String {
        let path = store.blobPath(entry.sha256)
        guard FileManager.default.fileExists(atPath: path) else { return "" }
        return try CacheStore.sha256(ofFile: path)
    }

    private func fetch(_ spec: ArtifactSpec, events: @escaping @Sendable (CacheEvent) -> Void) async throws -> (CacheEntry, Int64, Duration) {
        let clock = ContinuousClock()
        let started = clock.now
        var bytes: Int64 = 0
        var want: String?
        if let checksum = spec.checksum {
            let text = try await downloader.fetch(url(checksum.url))
            bytes += Int64(text.count)
            guard let digest = checksum.digest(in: String(decoding: text, as: UTF8.self)) else {
                throw LabError(.commandFailed, "\(checksum.url) publishes no sha256 for \(checksum.entry ?? spec.name)", location: .other(checksum.url),
                               hint: "the release may have been re-published; check the URL in the profile, then run labctl cache fill again")
            }
            want = digest
        }
        let partial = store.partialPath(for: spec.url)
        try FileManager.default.createDirectory(atPath: store.partialDirectory, withIntermediateDirectories: true)
        // Two tries: a resumed partial file that does not verify may hold bytes of an older upload;
        // the second try starts from zero. A fresh download that does not verify is an error.
        for attempt in 1 ... 2 {
            let resumeFrom = Self.size(partial)
            events(.downloading(spec, resumeFrom: resumeFrom))
            try await Self.withProgress(spec, partial: partial, startedWith: resumeFrom, interval: progressInterval, events: events) {
                try await downloader.download(url(spec.url), to: partial)
            }
            bytes += Self.size(partial) - resumeFrom
            let got = try CacheStore.sha256(ofFile: partial)
            if let want, got != want {
                try? FileManager.default.removeItem(atPath: partial)
                if resumeFrom > 0 && attempt == 1 { continue }
                throw LabError(.security, "checksum mismatch for \(spec.url): published \(want), downloaded \(got)",
                               location: .other(spec.checksum?.url ?? spec.url),
                               hint: "the download was corrupted or the file changed upstream; run labctl cache fill again, and report it if it persists")
            }
            let entry = try store.add(file: partial, sha256: got, spec: spec)
            return (entry, bytes, clock.now - started)
        }
        throw LabError(.internalError, "the download loop of \(spec.url) ended without a result")
    }

    private func url(_ origin: String) -> String { mirror?.rewrite(origin) ?? origin }

    /// Runs the download while a sibling task reports the partial file's growth.
    static func withProgress(_ spec: ArtifactSpec, partial: String, startedWith: Int64, interval: Duration,
                             events: @escaping @Sendable (CacheEvent) -> Void, _ body: @escaping @Sendable () async throws -> Void) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                let clock = ContinuousClock()
                let start = clock.now
                while !Task.isCancelled {
                    try? await Task.sleep(for: interval)
                    let bytes = Self.size(partial)
                    let seconds = max((clock.now - start).seconds, 0.001)
                    events(.progress(spec, bytes: bytes, bytesPerSecond: Double(bytes - startedWith) / seconds))
                }
            }
            defer { group.cancelAll() }
            try await body()
        }
    }

    static func size(_ path: String) -> Int64 {
        ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? NSNumber)?.int64Value ?? 0
    }
}
