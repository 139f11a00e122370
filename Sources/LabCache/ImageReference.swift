import Foundation
import LabKit

/// A container image reference, normalised as Docker, containerd and the kubelet normalise it
/// (distribution/reference@v0.6.0 `ParseDockerRef`, normalize.go): a name without a registry is on
/// Docker Hub (`docker.io`), a Docker Hub name without a `/` is in `library/`, `index.docker.io` is
/// `docker.io`, no tag and no digest means `:latest`, and a tag next to a digest is dropped (the
/// digest names the content). The grammar is the one of regexp.go in the same tag.
///
/// Only `sha256` digests are accepted: the cache stores blobs by sha256 (docs/cache.md), and every
/// image the lab runs is named by a tag or a sha256 digest.
public struct ImageReference: Sendable, Hashable, Codable, CustomStringConvertible {
    /// `docker.io`, `registry.k8s.io`, `quay.io`, `ghcr.io`, `127.0.0.1:5000`.
    public var registry: String
    /// The path on the registry: `library/nginx`, `istio/pilot`, `kube-apiserver`.
    public var repository: String
    /// nil only when `digest` is set.
    public var tag: String?
    /// `sha256:<64 hex>`.
    public var digest: String?

    public init(registry: String, repository: String, tag: String?, digest: String?) {
        self.registry = registry
        self.repository = repository
        self.tag = digest == nil ? (tag ?? "latest") : nil
        self.digest = digest
    }

    public init(parsing text: String) throws {
        func invalid(_ why: String) -> LabError {
            LabError(.invalidInput, "'\(text)' is not an image reference: \(why)", location: .other(text),
                     hint: "write it as [registry/]repository[:tag][@sha256:digest], lowercase, e.g. registry.k8s.io/pause:3.10")
        }
        if text.isEmpty { throw invalid("it is empty") }
        if Self.matches(Self.anchoredIdentifier, text) { throw invalid("a 64-hex string is an image ID, not a name") }
        let (domain, remainder) = Self.splitDockerDomain(text)
        let remote = remainder.firstIndex(of: ":").map { String(remainder[..<$0]) } ?? remainder
        if remote.lowercased() != remote { throw invalid("the repository name must be lowercase") }
        guard let groups = Self.captures(Self.reference, domain + "/" + remainder) else {
            throw invalid("it does not follow the reference grammar")
        }
        guard let name = groups[0], let nameGroups = Self.captures(Self.anchoredName, name),
              let registry = nameGroups[0], let path = nameGroups[1] else {
            throw invalid("it has no repository name")
        }
        if path.count > Self.repositoryNameTotalLengthMax {
            throw invalid("the repository name is longer than \(Self.repositoryNameTotalLengthMax) characters")
        }
        if let digest = groups[2] {
            let parts = digest.split(separator: ":", maxSplits: 1)
            guard parts.count == 2, parts[0] == "sha256" else { throw invalid("only sha256 digests are supported") }
            guard parts[1].count == 64, parts[1].allSatisfy({ $0.isHexDigit && !$0.isUppercase }) else {
                throw invalid("a sha256 digest has 64 lowercase hex digits")
            }
        }
        self.init(registry: registry, repository: path, tag: groups[1], digest: groups[2])
    }

    /// `docker.io/library/nginx:latest`, `registry.k8s.io/pause@sha256:…`.
    public var description: String { name + (digest.map { "@" + $0 } ?? tag.map { ":" + $0 } ?? "") }

    /// `registry/repository`, without tag or digest.
    public var name: String { registry + "/" + repository }

    /// What the registry's manifest endpoint takes: the digest when there is one, else the tag.
    public var manifestReference: String { digest ?? tag ?? "latest" }

    // MARK: The grammar, distribution/reference@v0.6.0:regexp.go (ASCII classes spelled out: Go's \w is ASCII)

    static let repositoryNameTotalLengthMax = 255 // reference.go RepositoryNameTotalLengthMax
    private static let alphanumeric = "[a-z0-9]+"
    private static let separator = "(?:[._]|__|[-]+)"
    private static let domainNameComponent = "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
    private static let optionalPort = "(?::[0-9]+)?"
    private static let tagPattern = "[0-9A-Za-z_][0-9A-Za-z_.-]{0,127}"
    private static let digestPattern = "[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*[:][0-9A-Fa-f]{32,}"
    private static let ipv6address = "\\[(?:[a-fA-F0-9:]+)\\]"
    private static let domainName = domainNameComponent + "(?:\\." + domainNameComponent + ")*"
    private static let domainAndPort = "(?:" + domainName + "|" + ipv6address + ")" + optionalPort
    private static let pathComponent = alphanumeric + "(?:" + separator + alphanumeric + ")*"
    private static let remoteName = pathComponent + "(?:/" + pathComponent + ")*"
    private static let namePattern = "(?:" + domainAndPort + "/)?" + remoteName

    private static let reference = regex("^(" + namePattern + ")(?::(" + tagPattern + "))?(?:@(" + digestPattern + "))?$")
    private static let anchoredName = regex("^(?:(" + domainAndPort + ")/)?(" + remoteName + ")$")
    private static let anchoredIdentifier = regex("^[a-f0-9]{64}$")

    private static func regex(_ pattern: String) -> NSRegularExpression? { try? NSRegularExpression(pattern: pattern) }

    private static func matches(_ regex: NSRegularExpression?, _ text: String) -> Bool { captures(regex, text) != nil }

    /// The capture groups of a whole-string match (nil for a group that did not take part), or nil.
    private static func captures(_ regex: NSRegularExpression?, _ text: String) -> [String?]? {
        let ns = text as NSString
        guard let regex, let match = regex.firstMatch(in: text, range: NSRange(location: 0, length: ns.length)) else { return nil }
        return (1 ..< max(match.numberOfRanges, 1)).map { index in
            let range = match.range(at: index)
            return range.location == NSNotFound ? nil : ns.substring(with: range)
        }
    }

    /// normalize.go `splitDockerDomain`.
    private static func splitDockerDomain(_ name: String) -> (String, String) {
        guard let slash = name.firstIndex(of: "/") else { return ("docker.io", "library/" + name) }
        let maybeDomain = String(name[..<slash])
        let maybeRemote = String(name[name.index(after: slash)...])
        var domain: String
        var remote: String
        if maybeDomain == "localhost" {
            (domain, remote) = (maybeDomain, maybeRemote)
        } else if maybeDomain == "index.docker.io" {
            (domain, remote) = ("docker.io", maybeRemote)
        } else if maybeDomain.contains(".") || maybeDomain.contains(":") || maybeDomain.lowercased() != maybeDomain {
            (domain, remote) = (maybeDomain, maybeRemote)
        } else {
            (domain, remote) = ("docker.io", name)
        }
        if domain == "docker.io" && !remote.contains("/") { remote = "library/" + remote }
        return (domain, remote)
    }
}
