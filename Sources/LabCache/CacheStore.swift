import Crypto
import Foundation
import LabKit

/// One cached artifact, as `index.json` records it.
public struct CacheEntry: Sendable, Hashable, Codable {
    public var name: String
    public var version: String
    public var kind: ArtifactKind
    /// The origin URL (never the mirror's): the key the guests' scripts look artifacts up by.
    public var source: String
    /// The checksum file it was verified against; nil when upstream publishes none.
    public var checksumURL: String?
    public var sha256: String
    public var size: Int64
    public var fetchedAt: Date
    /// What an image entry is; nil for a file (and absent from indexes written before images were cached).
    public var image: CachedImage?

    public init(name: String, version: String, kind: ArtifactKind, source: String, checksumURL: String?, sha256: String, size: Int64, fetchedAt: Date,
                image: CachedImage? = nil) {
        self.name = name
        self.version = version
        self.kind = kind
        self.source = source
        self.checksumURL = checksumURL
        self.sha256 = sha256
        self.size = size
        self.fetchedAt = fetchedAt
        self.image = image
    }
}

/// An image entry's image: `name` is `<registry>/<repository>`, `version` the tag (or the digest),
/// `source` is `<canonical reference>@<platform>` (one cache serves amd64 and arm64 labs), `sha256`
/// is the platform manifest's digest (the manifest is a blob too) and `size` manifest + config + layers.
public struct CachedImage: Sendable, Hashable, Codable {
    /// The canonical `ImageReference.description`.
    public var reference: String
    /// `linux/amd64` or `linux/arm64`.
    public var platform: String
    public var manifestMediaType: String
    /// `sha256:…` of the multi-platform index the tag named, if it named one.
    public var indexDigest: String?

    public init(reference: String, platform: String, manifestMediaType: String, indexDigest: String?) {
        self.reference = reference
        self.platform = platform
        self.manifestMediaType = manifestMediaType
        self.indexDigest = indexDigest
    }

    /// The index key of an image entry.
    public static func source(_ reference: ImageReference, platform: String) -> String { reference.description + "@" + platform }
}

/// A verified image's blobs, read from the store: everything an importer needs to lay it out.
public struct ImageBlobs: Sendable {
    /// The exact bytes the registry served (their sha256 is the entry's `sha256`).
    public var manifest: Data
    public var manifestMediaType: String
    /// Hex sha256 of the config blob (`blobPath(configDigest)`).
    public var configDigest: String
    /// Hex sha256 of each layer blob, in manifest order.
    public var layerDigests: [String]
    public var layerMediaTypes: [String]

    public init(manifest: Data, manifestMediaType: String, configDigest: String, layerDigests: [String], layerMediaTypes: [String]) {
        self.manifest = manifest
        self.manifestMediaType = manifestMediaType
        self.configDigest = configDigest
        self.layerDigests = layerDigests
        self.layerMediaTypes = layerMediaTypes
    }
}

/// The fields of an image manifest the cache reads; the OCI image manifest
/// (opencontainers/image-spec@v1.1.0:manifest.md) and Docker's schema 2
/// (distribution/distribution@v2.8.3:docs/spec/manifest-v2-2.md) share them.
struct ImageManifest: Codable {
    struct Descriptor: Codable {
        var mediaType: String
        var digest: String
        var size: Int64
    }
    var schemaVersion: Int
    var mediaType: String?
    var config: Descriptor
    var layers: [Descriptor]

    /// The hex of a `sha256:<hex>` digest; nil for another algorithm or a malformed one.
    static func sha256Hex(_ digest: String) -> String? {
        guard digest.hasPrefix("sha256:") else { return nil }
        let hex = String(digest.dropFirst("sha256:".count))
        return hex.count == 64 && hex.allSatisfy({ $0.isHexDigit && !$0.isUppercase }) ? hex : nil
    }
}

/// The index: every entry, keyed by source URL, sorted for stable output.
struct CacheIndexFile: Codable {
    static let currentVersion = 1
    var version: Int
    var entries: [CacheEntry]
}

/// The content-addressed store under the cache folder (docs/cache.md):
///
///     <root>/index.json             the entries (name, version, kind, source, sha256, size, fetchedAt)
///     <root>/blobs/sha256/<hex>     the bytes, named by their own sha256
///     <root>/partial/<key>.part     an interrupted download, resumed by the next fill
///     <root>/lock                   held by a fill or verify (one writer at a time)
///
/// The index is written atomically (temp file, fsync, rename), after the blob it names is in place,
/// so a crash leaves at worst an unreferenced blob, never an entry without its bytes.
public struct CacheStore: Sendable {
    public let root: String

    public init(root: String) {
        self.root = root
    }

    var indexPath: String { root + "/index.json" }
    var lockPath: String { root + "/lock" }
    var partialDirectory: String { root + "/partial" }

    public func blobPath(_ sha256: String) -> String { root + "/blobs/sha256/" + sha256 }

    /// Where an interrupted download of `url` waits to be resumed.
    func partialPath(for url: String) -> String {
        partialDirectory + "/" + Self.key(url) + ".part"
    }

    /// A URL's file name: the hex sha256 of the URL (in `partial/`, and in the guests' upload folder).
    public static func key(_ url: String) -> String { hex(SHA256.hash(data: Data(url.utf8))) }

    /// The bytes of an entry, re-hashed: nil when the blob is gone or no longer matches (never used then).
    public func verifiedContents(_ entry: CacheEntry) throws -> Data? {
        guard let data = FileManager.default.contents(atPath: blobPath(entry.sha256)),
              Self.hex(SHA256.hash(data: data)) == entry.sha256 else { return nil }
        return data
    }

    /// Takes the cache's writer lock: a second fill or verify is refused, not interleaved.
    func lock() throws -> LabLock {
        do {
            return try LabLock.acquire(path: lockPath)
        } catch let error as LabError where error.code == .conflict {
            throw LabError(.conflict, "another labctl is filling or verifying the cache", location: .file(lockPath),
                           hint: "wait for it to finish, then run the command again")
        }
    }

    /// The index's entries; an absent index is an empty cache.
    public func entries() throws -> [CacheEntry] {
        guard let data = FileManager.default.contents(atPath: indexPath) else { return [] }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        let file: CacheIndexFile
        do {
            file = try decoder.decode(CacheIndexFile.self, from: data)
        } catch {
            throw LabError(.internalError, "the cache index cannot be read", location: .file(indexPath),
                           hint: "delete \(indexPath) and run labctl cache fill again (the blobs are re-checked)", cause: error)
        }
        guard file.version == CacheIndexFile.currentVersion else {
            throw LabError(.unsupported, "the cache index has version \(file.version); this labctl reads version \(CacheIndexFile.currentVersion)",
                           location: .file(indexPath), hint: "use the labctl that wrote it, or delete \(root) and fill it again")
        }
        return file.entries
    }

    /// The entry for an origin URL, if its blob is present.
    public func entry(for source: String) throws -> CacheEntry? {
        try entries().first { $0.source == source && FileManager.default.fileExists(atPath: blobPath($0.sha256)) }
    }

    /// The entry of an image for one platform, if its manifest blob is present.
    public func imageEntry(_ reference: ImageReference, platform: String) throws -> CacheEntry? {
        try entry(for: CachedImage.source(reference, platform: platform)).flatMap { $0.kind == .image ? $0 : nil }
    }

    /// Re-hashes the manifest, the config and every layer blob; nil when one is missing or corrupt
    /// (the image is never used then).
    public func verifiedImage(_ entry: CacheEntry) throws -> ImageBlobs? {
        guard let image = entry.image, try damagedImageBlob(entry) == nil,
              let manifest = FileManager.default.contents(atPath: blobPath(entry.sha256)),
              let parsed = try? JSONDecoder().decode(ImageManifest.self, from: manifest),
              let config = ImageManifest.sha256Hex(parsed.config.digest) else { return nil }
        // damagedImageBlob read the same file: re-check the bytes handed out, in case it changed in between.
        guard Self.hex(SHA256.hash(data: manifest)) == entry.sha256 else { return nil }
        return ImageBlobs(manifest: manifest, manifestMediaType: image.manifestMediaType, configDigest: config,
                          layerDigests: parsed.layers.compactMap { ImageManifest.sha256Hex($0.digest) }, layerMediaTypes: parsed.layers.map(\.mediaType))
    }

    func write(_ entries: [CacheEntry]) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        let data = try encoder.encode(CacheIndexFile(version: CacheIndexFile.currentVersion, entries: entries.sorted { $0.source < $1.source }))
        try AtomicFile.write(data + Data("\n".utf8), to: indexPath)
    }

    /// Moves a verified download into the store and records it (replacing any entry for the same source).
    func add(file path: String, sha256: String, spec: ArtifactSpec, fetchedAt: Date = Date()) throws -> CacheEntry {
        try putBlob(file: path, sha256: sha256)
        let size = (try FileManager.default.attributesOfItem(atPath: blobPath(sha256))[.size] as? NSNumber)?.int64Value ?? 0
        let entry = CacheEntry(name: spec.name, version: spec.version, kind: spec.kind, source: spec.url, checksumURL: spec.checksum?.url,
                               sha256: sha256, size: size, fetchedAt: fetchedAt)
        try addEntry(entry)
        return entry
    }

    /// Records an entry whose blobs are in place, replacing any entry for the same source.
    func addEntry(_ entry: CacheEntry) throws {
        try write(try entries().filter { $0.source != entry.source } + [entry])
    }

    /// Moves a verified file to `blobs/sha256/<sha256>` (a present blob of that name is kept: a corrupt one
    /// was removed by whoever found it, a good one has the same bytes).
    func putBlob(file path: String, sha256: String) throws {
        let blob = blobPath(sha256)
        let fm = FileManager.default
        try fm.createDirectory(atPath: (blob as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        if fm.fileExists(atPath: blob), try Self.sha256(ofFile: blob) == sha256 { try fm.removeItem(atPath: path); return }
        try? fm.removeItem(atPath: blob)
        try fm.moveItem(atPath: path, toPath: blob)
    }

    /// Writes verified bytes (a manifest) as a blob, atomically.
    func putBlob(_ data: Data, sha256: String) throws {
        try AtomicFile.write(data, to: blobPath(sha256))
    }

    /// The first blob of an image entry (manifest, config, layers) that is missing or no longer matches its
    /// name, with the sha256 found ("" when missing); nil when every blob is intact.
    func damagedImageBlob(_ entry: CacheEntry) throws -> (sha256: String, found: String)? {
        func check(_ hex: String) throws -> (String, String)? {
            let path = blobPath(hex)
            guard FileManager.default.fileExists(atPath: path) else { return (hex, "") }
            let found = try Self.sha256(ofFile: path)
            return found == hex ? nil : (hex, found)
        }
        if let bad = try check(entry.sha256) { return bad }
        guard let data = FileManager.default.contents(atPath: blobPath(entry.sha256)),
              let parsed = try? JSONDecoder().decode(ImageManifest.self, from: data) else { return (entry.sha256, "unreadable manifest") }
        for digest in [parsed.config.digest] + parsed.layers.map(\.digest) {
            guard let hex = ImageManifest.sha256Hex(digest) else { return (entry.sha256, "unsupported digest \(digest)") }
            if let bad = try check(hex) { return bad }
        }
        return nil
    }

    /// Forgets an entry and deletes its blob unless another entry shares it.
    func remove(_ entry: CacheEntry) throws {
        let rest = try entries().filter { $0.source != entry.source }
        try write(rest)
        if !rest.contains(where: { $0.sha256 == entry.sha256 }) { try? FileManager.default.removeItem(atPath: blobPath(entry.sha256)) }
    }

    /// The sha256 of a file, read in 1 MiB chunks (release files are hundreds of MB).
    public static func sha256(ofFile path: String) throws -> String {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw LabError(.notFound, "cannot read \(path)", location: .file(path))
        }
        defer { try? handle.close() }
        var hasher = SHA256()
        while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty { hasher.update(data: chunk) }
        return hex(hasher.finalize())
    }

    static func hex<D: Sequence>(_ digest: D) -> String where D.Element == UInt8 {
        digest.map { String(format: "%02x", $0) }.joined()
    }
}
