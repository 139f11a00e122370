import Foundation
import LabCache
import LabKit

/// `base prepare` with a filled host cache: the release files a base script would download are
/// uploaded over SFTP first, and the script's `fetch`/`fetch_verified` (`_lib.sh`) take them from the
/// upload folder instead of the network. Without a cache entry the script downloads as before.
public struct CachedReleaseFiles: Sendable {
    /// The guest folder the scripts look in: `<key>` (the file) and `<key>.sha256` (its verified sha256),
    /// `<key>` being the sha256 of the origin URL (`_lib.sh`, `cached_sha256`).
    public static let guestDirectory = "/var/cache/labctl/files"

    public var store: CacheStore

    public init(store: CacheStore) {
        self.store = store
    }

    /// Uploads the cached files the script fetches; returns how many. A blob that no longer matches
    /// its entry is skipped with a warning (the script downloads it), never uploaded.
    @discardableResult
    public func upload(for script: RenderedScript, versions: [String: String], user: String, on session: any GuestSession,
                       _ ctx: StageContext?) async throws -> Int {
        let specs = try ReleaseDownloads.artifacts(in: script.text, script: script.name, versions: versions)
        var found: [(ArtifactSpec, Data, String)] = []
        for spec in specs {
            guard let entry = try store.entry(for: spec.url) else { continue }
            guard let data = try store.verifiedContents(entry) else {
                ctx?.warn("the cached \(entry.name) is corrupt: not used (labctl cache verify removes it; the script downloads it)")
                continue
            }
            found.append((spec, data, entry.sha256))
        }
        guard !found.isEmpty else { return 0 }
        let mkdir = Command(["install", "-d", "-m", "0755", "-o", user, Self.guestDirectory], deadline: .seconds(30), sudo: true)
        let made = try await session.run(mkdir)
        guard made.succeeded else {
            throw LabError(.commandFailed, "cannot create the upload folder for cached files", location: .command(mkdir),
                           hint: "check sudo for \(user) on the base", detail: made.stderrText)
        }
        for (spec, data, sha256) in found {
            let path = Self.guestDirectory + "/" + CacheStore.key(spec.url)
            try await session.upload(data, to: path, mode: 0o644)
            try await session.upload(Data(sha256.utf8), to: path + ".sha256", mode: 0o644)
            ctx?.log("uploaded \(spec.name) from the host cache (\(data.count) bytes)")
        }
        return found.count
    }

    /// Removes the upload folder, so the checkpoints (and every clone) do not carry the files twice.
    public func clean(on session: any GuestSession) async throws {
        let rm = Command(["rm", "-rf", "--", Self.guestDirectory], deadline: .seconds(60), sudo: true)
        let result = try await session.run(rm)
        guard result.succeeded else {
            throw LabError(.commandFailed, "cannot remove the uploaded cached files", location: .command(rm), detail: result.stderrText)
        }
    }
}
