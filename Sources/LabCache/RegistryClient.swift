import Crypto
import Foundation
import LabKit

/// A registry mirror in containerd's convention (containerd/containerd@v2.3.4:docs/hosts.md): a pull of
/// `myregistry.io:5000/image_name:tag_name` through mirror `https://mymirror.io` asks
/// `https://mymirror.io/v2/image_name/manifests/tag_name?ns=myregistry.io:5000`.
public struct RegistryMirror: Sendable, Hashable {
    public var base: String

    public init(_ base: String) throws {
        guard let url = URL(string: base), let scheme = url.scheme, ["http", "https"].contains(scheme), url.host != nil else {
            throw LabError(.invalidInput, "'\(base)' is not a registry mirror URL", location: .option("--registry-mirror"),
                           hint: "give an http:// or https:// URL of a registry that serves /v2/<repository>/…?ns=<registry>")
        }
        self.base = base.hasSuffix("/") ? String(base.dropLast()) : base
    }
}

/// What the cache asks a registry, over host `curl` (distribution/distribution@v2.8.3:docs/spec/api.md,
/// opencontainers/distribution-spec@v1.1.0:spec.md): a manifest by tag or digest with an Accept header naming
/// the four manifest types, the platform's manifest out of an index, then the config and layer blobs, each
/// verified against its digest and stored content-addressed. A 401 with `WWW-Authenticate: Bearer realm=…,
/// service=…,scope=…` is answered once with an anonymous token (docs/spec/auth/token.md).
public struct RegistryClient: Sendable {
    /// Media types: opencontainers/image-spec@v1.1.0:media-types.md and distribution/distribution@v2.8.3:docs/spec/manifest-v2-2.md.
    public static let ociIndex = "application/vnd.oci.image.index.v1+json"
    public static let dockerList = "application/vnd.docker.distribution.manifest.list.v2+json"
    public static let ociManifest = "application/vnd.oci.image.manifest.v1+json"
    public static let dockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
    static let indexTypes: Set<String> = [ociIndex, dockerList]
    static let manifestTypes: Set<String> = [ociManifest, dockerManifest]

    var runner: any CommandRunner
    public var mirror: RegistryMirror?
    /// One manifest or token request (curl retries transient failures 3 times within it).
    var requestDeadline: Duration
    /// One blob.
    var blobDeadline: Duration

    public init(runner: any CommandRunner = HostProcessRunner(), mirror: RegistryMirror? = nil,
                requestDeadline: Duration = .seconds(120), blobDeadline: Duration = .seconds(3600)) {
        self.runner = runner
        self.mirror = mirror
        self.requestDeadline = requestDeadline
        self.blobDeadline = blobDeadline
    }

    /// `https://HOST/v2/REPO/SUFFIX`, or the mirror's `…?ns=REGISTRY`. Docker Hub's registry is
    /// registry-1.docker.io (distribution/reference@v0.6.0:normalize.go, defaultDomain).
    func url(_ reference: ImageReference, _ suffix: String) -> String {
        let path = "/v2/\(reference.repository)/\(suffix)"
        if let mirror { return mirror.base + path + "?ns=" + reference.registry }
        return "https://" + (reference.registry == "docker.io" ? "registry-1.docker.io" : reference.registry) + path
    }

    /// Fetches one image for one platform into the store and records it. Returns the entry and the bytes
    /// that came over the network. Blobs already in the store (verified) are not fetched again.
    func pull(_ reference: ImageReference, platform: String, store: CacheStore, spec: ArtifactSpec,
              events: @escaping @Sendable (CacheEvent) -> Void) async throws -> (CacheEntry, Int64) {
        try FileManager.default.createDirectory(atPath: store.partialDirectory, withIntermediateDirectories: true)
        let session = Session(client: self, reference: reference, authFile: store.partialDirectory + "/auth-" + UUID().uuidString)
        defer { try? FileManager.default.removeItem(atPath: session.authFile) }
        var bytes: Int64 = 0

        var (body, mediaType) = try await session.manifest(reference.manifestReference, accept: Self.indexTypes.union(Self.manifestTypes),
                                                           expected: reference.digest)
        bytes += Int64(body.count)
        var indexDigest: String?
        if Self.indexTypes.contains(mediaType) {
            indexDigest = "sha256:" + CacheStore.hex(SHA256.hash(data: body))
            let descriptor = try Self.select(platform, in: body, reference: reference)
            (body, mediaType) = try await session.manifest(descriptor, accept: Self.manifestTypes, expected: descriptor)
            bytes += Int64(body.count)
        }
        guard Self.manifestTypes.contains(mediaType), let manifest = try? JSONDecoder().decode(ImageManifest.self, from: body),
              let configHex = ImageManifest.sha256Hex(manifest.config.digest) else {
            throw LabError(.unsupported, "\(reference) is served as \(mediaType), which labctl cannot store", location: .other(reference.description),
                           hint: "labctl caches OCI and Docker schema 2 images; pull this one with the runtime instead")
        }
        var blobs = [(configHex, manifest.config.size)]
        for layer in manifest.layers {
            guard let hex = ImageManifest.sha256Hex(layer.digest) else {
                throw LabError(.unsupported, "\(reference) has a layer digest labctl cannot verify: \(layer.digest)", location: .other(reference.description))
            }
            blobs.append((hex, layer.size))
        }
        for (hex, size) in blobs {
            bytes += try await session.blob(hex, size: size, store: store, spec: spec, events: events)
        }
        try Self.checkPlatform(store.blobPath(configHex), platform: platform, reference: reference)
        let manifestHex = CacheStore.hex(SHA256.hash(data: body))
        try store.putBlob(body, sha256: manifestHex)
        let entry = CacheEntry(name: reference.name, version: spec.version, kind: .image, source: spec.url, checksumURL: nil,
                               sha256: manifestHex, size: Int64(body.count) + blobs.reduce(0) { $0 + $1.1 }, fetchedAt: Date(),
                               image: CachedImage(reference: reference.description, platform: platform, manifestMediaType: mediaType, indexDigest: indexDigest))
        try store.addEntry(entry)
        return (entry, bytes)
    }

    /// The digest of the index entry for `platform` (`os/arch`; arm64's variant may be absent or v8).
    static func select(_ platform: String, in index: Data, reference: ImageReference) throws -> String {
        struct Index: Decodable {
            struct Entry: Decodable {
                struct Platform: Decodable { var os: String; var architecture: String; var variant: String? }
                var digest: String
                var platform: Platform?
            }
            var manifests: [Entry]
        }
        let parts = platform.split(separator: "/").map(String.init)
        guard let index = try? JSONDecoder().decode(Index.self, from: index) else {
            throw LabError(.commandFailed, "the index of \(reference) cannot be read", location: .other(reference.description))
        }
        let match = index.manifests.first {
            guard let p = $0.platform, parts.count == 2 else { return false }
            return p.os == parts[0] && p.architecture == parts[1] && (p.variant == nil || p.variant == "v8" || parts[1] != "arm64")
        }
        guard let match else {
            let offered = index.manifests.compactMap { $0.platform.map { "\($0.os)/\($0.architecture)" } }
            throw LabError(.unsupported, "\(reference) has no image for \(platform) (it has \(offered.joined(separator: ", ")))",
                           location: .other(reference.description), hint: "use a lab.json base.arch the image supports, or another image")
        }
        return match.digest
    }

    /// A single-platform image named by tag: its config must be for the lab's platform.
    static func checkPlatform(_ configPath: String, platform: String, reference: ImageReference) throws {
        struct Config: Decodable { var os: String?; var architecture: String? }
        guard let data = FileManager.default.contents(atPath: configPath), let config = try? JSONDecoder().decode(Config.self, from: data) else {
            throw LabError(.commandFailed, "the config of \(reference) cannot be read", location: .file(configPath))
        }
        let found = "\(config.os ?? "?")/\(config.architecture ?? "?")"
        guard found == platform else {
            throw LabError(.unsupported, "\(reference) is an image for \(found), not \(platform)", location: .other(reference.description),
                           hint: "use a lab.json base.arch the image supports, or another image")
        }
    }

    /// One image's requests: the token a 401 asked for is kept (in a 0600 file curl reads, never on a command line).
    final class Session: @unchecked Sendable {
        let client: RegistryClient
        let reference: ImageReference
        let authFile: String
        private var tokenFetched = false

        init(client: RegistryClient, reference: ImageReference, authFile: String) {
            self.client = client
            self.reference = reference
            self.authFile = authFile
        }

        var authArguments: [String] { tokenFetched ? ["-H", "@" + authFile] : [] }

        /// GET a manifest; on a 401 fetch a token once and ask again. Verifies the body against `expected`
        /// (a digest reference or index descriptor) or the `Docker-Content-Digest` header.
        func manifest(_ ref: String, accept: Set<String>, expected: String?) async throws -> (Data, String) {
            let target = client.url(reference, "manifests/" + ref)
            var response = try await get(target, accept: accept)
            if response.status == 401, !tokenFetched {
                try await fetchToken(response.headers["www-authenticate"], for: target)
                response = try await get(target, accept: accept)
            }
            guard response.status == 200 else { throw failure(response, what: "manifest \(ref)", url: target) }
            let digest = "sha256:" + CacheStore.hex(SHA256.hash(data: response.body))
            for want in [expected, response.headers["docker-content-digest"]].compactMap({ $0 }) where want != digest {
                throw LabError(.security, "the manifest \(ref) of \(reference) has digest \(digest), not \(want)", location: .other(target),
                               hint: "the registry or mirror served other bytes; run labctl cache fill again, and report it if it persists")
            }
            let type = (response.headers["content-type"] ?? "").split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
            return (response.body, type)
        }

        /// Downloads a blob into the store unless a verified copy is there; resumes a partial download (Range).
        func blob(_ hex: String, size: Int64, store: CacheStore, spec: ArtifactSpec, events: @escaping @Sendable (CacheEvent) -> Void) async throws -> Int64 {
            let path = store.blobPath(hex)
            if FileManager.default.fileExists(atPath: path), try CacheStore.sha256(ofFile: path) == hex { return 0 }
            let partial = store.partialPath(for: "sha256:" + hex)
            let target = client.url(reference, "blobs/sha256:" + hex)
            var fetched: Int64 = 0
            // Two tries: a resumed partial file that does not verify may hold other bytes; the second starts from zero.
            for attempt in 1 ... 2 {
                let resumeFrom = CacheFiller.size(partial)
                events(.downloading(spec, resumeFrom: resumeFrom))
                if resumeFrom < size {
                    try await CacheFiller.withProgress(spec, partial: partial, startedWith: resumeFrom, interval: .milliseconds(500), events: events) {
                        try await self.download(target, to: partial, resume: resumeFrom > 0)
                    }
                }
                fetched += CacheFiller.size(partial) - resumeFrom
                let got = try CacheStore.sha256(ofFile: partial)
                if got == hex {
                    try store.putBlob(file: partial, sha256: hex)
                    return fetched
                }
                try? FileManager.default.removeItem(atPath: partial)
                if resumeFrom > 0 && attempt == 1 { continue }
                throw LabError(.security, "blob sha256:\(hex) of \(reference) arrived as sha256:\(got)", location: .other(target),
                               hint: "the registry or mirror served other bytes; run labctl cache fill again, and report it if it persists")
            }
            throw LabError(.internalError, "the download loop of blob sha256:\(hex) ended without a result")
        }

        private func download(_ target: String, to partial: String, resume: Bool) async throws {
            func command(resume: Bool) -> Command {
                Command(["curl", "-fsSL", "--retry", "3", "--retry-delay", "2", "--connect-timeout", "20",
                         "--max-time", String(client.blobDeadline.components.seconds)] + authArguments
                    + (resume ? ["-C", "-"] : []) + ["-o", partial, target], deadline: client.blobDeadline + .seconds(30))
            }
            var result = try await client.runner.run(command(resume: resume))
            if resume, result.exitStatus == CurlDownloader.rangeNotSupported {
                try? FileManager.default.removeItem(atPath: partial)
                result = try await client.runner.run(command(resume: false))
            }
            guard result.succeeded else {
                throw LabError(.commandFailed, "cannot download \(target) (curl exit \(result.exitStatus))", location: .command(command(resume: resume)),
                               hint: "check the host's connection or the --registry-mirror URL, then run labctl cache fill again (it resumes)",
                               detail: result.stderrText.trimmingCharacters(in: .whitespacesAndNewlines))
            }
        }

        struct Response { var status: Int; var headers: [String: String]; var body: Data }

        /// One GET through curl; the status and headers of the last response (after redirects).
        private func get(_ target: String, accept: Set<String>) async throws -> Response {
            let headerFile = authFile + ".headers"
            defer { try? FileManager.default.removeItem(atPath: headerFile) }
            let command = Command(["curl", "-sSL", "--retry", "3", "--retry-delay", "1", "--connect-timeout", "20",
                                   "--max-time", String(client.requestDeadline.components.seconds), "-D", headerFile,
                                   "-H", "Accept: " + accept.sorted().joined(separator: ", ")] + authArguments + ["-w", "\n%{http_code}", target],
                                  deadline: client.requestDeadline + .seconds(30))
            let result = try await client.runner.run(command)
            guard result.succeeded, let split = result.stdout.lastIndex(of: UInt8(ascii: "\n")),
                  let status = Int(String(decoding: result.stdout[(split + 1)...], as: UTF8.self)) else {
                throw LabError(.commandFailed, "cannot reach \(target) (curl exit \(result.exitStatus))", location: .command(command),
                               hint: "check the host's connection or the --registry-mirror URL, then run labctl cache fill again",
                               detail: result.stderrText.trimmingCharacters(in: .whitespacesAndNewlines))
            }
            let headerText = (try? String(contentsOfFile: headerFile, encoding: .utf8)) ?? ""
            let lastBlock = headerText.components(separatedBy: "\r\n\r\n").filter { !$0.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty }.last ?? ""
            var headers: [String: String] = [:]
            for line in lastBlock.components(separatedBy: "\r\n").dropFirst() {
                guard let colon = line.firstIndex(of: ":") else { continue }
                headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            }
            return Response(status: status, headers: headers, body: Data(result.stdout[..<split]))
        }

        /// The anonymous token dance: GET realm?service=…&scope=…, then `Authorization: Bearer <token or access_token>`.
        private func fetchToken(_ challenge: String?, for target: String) async throws {
            guard let challenge, challenge.lowercased().hasPrefix("bearer ") else {
                throw LabError(.security, "\(target) wants credentials (401 without a Bearer challenge)", location: .other(target),
                               hint: "labctl pulls anonymously; use a mirror that serves this image without credentials (--registry-mirror)")
            }
            var params: [String: String] = [:]
            for match in challenge.matches(of: /(\w+)="([^"]*)"/) { params[String(match.1)] = String(match.2) }
            guard let realm = params["realm"], var components = URLComponents(string: realm), ["http", "https"].contains(components.scheme ?? "") else {
                throw LabError(.security, "\(target) sent a Bearer challenge without a usable realm: \(challenge)", location: .other(target))
            }
            components.queryItems = (components.queryItems ?? []) + ["service", "scope"].compactMap { key in params[key].map { URLQueryItem(name: key, value: $0) } }
            guard let tokenURL = components.string else { throw LabError(.internalError, "cannot build the token URL from \(realm)") }
            let command = Command(["curl", "-fsSL", "--retry", "3", "--connect-timeout", "20", "--max-time", String(client.requestDeadline.components.seconds), tokenURL],
                                  deadline: client.requestDeadline + .seconds(30))
            let result = try await client.runner.run(command)
            struct Token: Decodable { var token: String?; var access_token: String? }
            guard result.succeeded, let decoded = try? JSONDecoder().decode(Token.self, from: result.stdout),
                  let token = decoded.token ?? decoded.access_token, !token.isEmpty, !token.contains(where: \.isNewline) else {
                throw LabError(.security, "no anonymous token for \(reference) from \(realm) (curl exit \(result.exitStatus))", location: .command(command),
                               hint: "the registry may need credentials, which labctl does not send; use --registry-mirror",
                               detail: result.stderrText.trimmingCharacters(in: .whitespacesAndNewlines))
            }
            FileManager.default.createFile(atPath: authFile, contents: nil, attributes: [.posixPermissions: 0o600])
            try Data("Authorization: Bearer \(token)\n".utf8).write(to: URL(fileURLWithPath: authFile))
            tokenFetched = true
        }

        /// A registry error: the status and the `errors` body (distribution/distribution@v2.8.3:docs/spec/api.md, "Errors").
        private func failure(_ response: Response, what: String, url: String) -> LabError {
            struct Body: Decodable { struct E: Decodable { var code: String; var message: String? }; var errors: [E] }
            let errors = (try? JSONDecoder().decode(Body.self, from: response.body))?.errors.map { "\($0.code): \($0.message ?? "")" }.joined(separator: "; ")
            let detail = errors ?? String(decoding: response.body.prefix(300), as: UTF8.self)
            switch response.status {
            case 404:
                return LabError(.notFound, "\(reference.registry) has no \(what) of \(reference.repository) (HTTP 404)", location: .other(url),
                                hint: "check the image reference in the manifest or profile; an image deleted upstream can be served by a --registry-mirror",
                                detail: detail)
            case 401, 403:
                return LabError(.security, "\(url) refused the anonymous pull (HTTP \(response.status))", location: .other(url),
                                hint: "labctl pulls anonymously; use a mirror that serves this image (--registry-mirror)", detail: detail)
            default:
                return LabError(.commandFailed, "\(url) answered HTTP \(response.status) for \(what)", location: .other(url),
                                hint: "try again later, or use a --registry-mirror", detail: detail)
            }
        }
    }
}
