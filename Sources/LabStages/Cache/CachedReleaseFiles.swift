import Foundation
import LabCache
import LabKit

/// A filled host cache in use: the release files and manifests a rendered script would download are
/// uploaded over SFTP first, and the script's `fetch`/`fetch_verified` (`_lib.sh`) take them from the
/// upload folder instead of the network. Without a cache entry the script downloads as before.
/// `base prepare` and `up` (every script run through `LabServices.runScript`) use the same path.
public struct CachedReleaseFiles: Sendable {
    /// The guest folder the scripts look in: `<key>` (the file) and `<key>.sha256` (its verified sha256),
    /// `<key>` being the sha256 of the origin URL (`_lib.sh`, `cached_sha256`).
    public static let guestDirectory = "/var/cache/labctl/files"

    public var store: CacheStore

    public init(store: CacheStore) {
        self.store = store
    }

    /// Uploads the cached files the script fetches; returns the guest paths written. A blob that no
    /// longer matches its entry is skipped with a warning (the script downloads it), never uploaded.
    @discardableResult
    public func upload(for script: RenderedScript, versions: [String: String], user: String, on session: any GuestSession,
                       _ ctx: StageContext?) async throws -> [String] {
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
        guard !found.isEmpty else { return [] }
        let mkdir = Command(["install", "-d", "-m", "0755", "-o", user, Self.guestDirectory], deadline: .seconds(30), sudo: true)
        let made = try await session.run(mkdir)
        guard made.succeeded else {
            throw LabError(.commandFailed, "cannot create the upload folder for cached files", location: .command(mkdir),
                           hint: "check sudo for \(user) on \(session.endpoint.node)", detail: made.stderrText)
        }
        var written: [String] = []
        for (spec, data, sha256) in found {
            let path = Self.guestDirectory + "/" + CacheStore.key(spec.url)
            written += [path, path + ".sha256"]
            try await session.upload(data, to: path, mode: 0o644)
            try await session.upload(Data(sha256.utf8), to: path + ".sha256", mode: 0o644)
            ctx?.log("uploaded \(spec.name) from the host cache (\(data.count) bytes)")
        }
        return written
    }

    /// Removes the uploaded files, then the folder when nothing else is in it: a script running at the
    /// same time on the same node keeps its own uploads, and the checkpoints (and every clone) do not
    /// carry the files twice.
    public func clean(_ paths: [String], on session: any GuestSession) async throws {
        guard !paths.isEmpty else { return }
        for command in [Command(["rm", "-f", "--"] + paths, deadline: .seconds(60), sudo: true),
                        Command(["rmdir", "--ignore-fail-on-non-empty", "--", Self.guestDirectory], deadline: .seconds(30), sudo: true)] {
            let result = try await session.run(command)
            guard result.succeeded else {
                throw LabError(.commandFailed, "cannot remove the uploaded cached files on \(session.endpoint.node)", location: .command(command),
                               detail: result.stderrText)
            }
        }
    }

    /// Runs `body` with the script's cached files uploaded, and removes them afterwards, also when it fails.
    public func withUploads<T: Sendable>(for script: RenderedScript, versions: [String: String], user: String, on session: any GuestSession,
                                         _ ctx: StageContext?, _ body: () async throws -> T) async throws -> T {
        let uploaded = try await upload(for: script, versions: versions, user: user, on: session, ctx)
        let value: T
        do {
            value = try await body()
        } catch {
            try? await clean(uploaded, on: session)
            throw error
        }
        try await clean(uploaded, on: session)
        return value
    }
}

extension LabServices {
    /// Runs a rendered script on a node (`ScriptRunner.run`), with the host cache's files for it uploaded
    /// first when the lab has a cache (`cache`).
    public func runScript(_ script: RenderedScript, on session: any GuestSession, _ ctx: StageContext?, input: String? = nil,
                          secrets: [String] = []) async throws -> [String: String] {
        guard let cache else { return try await ScriptRunner.run(script, on: session, ctx, input: input, secrets: secrets) }
        return try await cache.withUploads(for: script, versions: scripts.profile.versions, user: lab.ssh.user, on: session, ctx) {
            try await ScriptRunner.run(script, on: session, ctx, input: input, secrets: secrets)
        }
    }
}
