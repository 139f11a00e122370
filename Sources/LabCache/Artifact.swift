import Foundation
import LabKit

/// One thing the lab downloads, as the cache knows it before fetching it.
///
/// The list of artifacts is never written by hand: LabStages derives it from the rendered base
/// scripts (`ReleaseDownloads`), so the cache holds exactly the URLs the guests would fetch.
public struct ArtifactSpec: Sendable, Hashable, Codable {
    /// A short name (`kubeadm`, `istio-1.30.3-linux-amd64.tar.gz`): the URL's last path component.
    public var name: String
    /// The version the profile pins this artifact to (`1.36.1`), or `-` when the URL carries none.
    public var version: String
    public var kind: ArtifactKind
    /// The origin URL, exactly as the guest script fetches it.
    public var url: String
    /// How the download is checked; `nil` when upstream publishes no checksum for it (the cache
    /// then records the sha256 it fetched and re-checks that on every use).
    public var checksum: PublishedChecksum?

    public init(name: String, version: String, kind: ArtifactKind = .file, url: String, checksum: PublishedChecksum?) {
        self.name = name
        self.version = version
        self.kind = kind
        self.url = url
        self.checksum = checksum
    }
}

/// A release file (one blob) or a container image for one platform (a manifest, a config and layer
/// blobs: `CacheEntry.image`).
public enum ArtifactKind: String, Sendable, Hashable, Codable { case file, image }

/// A checksum file the project publishes next to a release file, read as the base scripts'
/// `fetch_verified` reads it (Sources/LabStages/Resources/scripts/_lib.sh): with `entry`, the first
/// field of the line whose second field is `entry` or `*entry`; without it, the first field of line 1.
public struct PublishedChecksum: Sendable, Hashable, Codable {
    public var url: String
    public var entry: String?

    public init(url: String, entry: String?) {
        self.url = url
        self.entry = entry
    }

    /// The lowercase hex sha256 the file publishes, or nil when it names none.
    public func digest(in text: String) -> String? {
        let lines = text.split(whereSeparator: \.isNewline).map { $0.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init) }
        let field: String?
        if let entry {
            field = lines.first { $0.count >= 2 && ($0[1] == entry || $0[1] == "*" + entry) }?.first
        } else {
            field = lines.first?.first
        }
        guard let hex = field?.lowercased(), hex.count == 64, hex.allSatisfy(\.isHexDigit) else { return nil }
        return hex
    }
}

/// Rewrites origin URLs onto a mirror: `https://dl.k8s.io/release/x` with mirror
/// `http://127.0.0.1:8080` becomes `http://127.0.0.1:8080/dl.k8s.io/release/x`.
///
/// The tests use it to serve the stub catalog's files from a loopback server; a user can point it
/// at an internal mirror laid out the same way.
public struct Mirror: Sendable, Hashable {
    public var base: String

    public init(_ base: String) throws {
        guard let url = URL(string: base), let scheme = url.scheme, ["http", "https", "file"].contains(scheme) else {
            throw LabError(.invalidInput, "'\(base)' is not a mirror URL", location: .option("--mirror"),
                           hint: "give an http://, https:// or file:// URL whose paths are <host>/<path> of the origin URLs")
        }
        self.base = base.hasSuffix("/") ? String(base.dropLast()) : base
    }

    public func rewrite(_ origin: String) -> String {
        guard let range = origin.range(of: "://") else { return origin }
        return base + "/" + origin[range.upperBound...]
    }
}
