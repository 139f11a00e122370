import CLibSSH2
import Foundation
import LabKit

/// The lab's own known_hosts (OpenSSH format), so `labctl ssh` and the system `ssh`
/// see the same pins. The user's `~/.ssh/known_hosts` is never read or written.
///
/// Lines are `host keytype base64 labctl:node` with `[host]:port` when the port is not 22;
/// the trailing comment names the node so errors and `--forget` can speak in node names.
public struct KnownHosts: Sendable {
    public var path: String

    public init(path: String) { self.path = path }

    public struct Entry: Sendable, Hashable {
        public var hostPattern: String
        public var keyType: String
        public var key: Data
        public var comment: String?
        public var fingerprint: String { SHA256Digest.fingerprint(ofKeyBlob: key) }

        /// Plain names (`host`, `[host]:port`, comma-separated) or OpenSSH's hashed form
        /// `|1|base64(salt)|base64(HMAC-SHA1(salt, name))`, which the system ssh writes when
        /// HashKnownHosts is on (Debian's default).
        public func matches(_ name: String) -> Bool {
            if hostPattern.hasPrefix("|1|") {
                let parts = hostPattern.split(separator: "|", omittingEmptySubsequences: true)
                guard parts.count == 3, let salt = Data(base64Encoded: String(parts[1])) else { return false }
                var out = [UInt8](repeating: 0, count: 20)
                let ok = salt.withUnsafeBytes { s in
                    Array(name.utf8).withUnsafeBytes { d in
                        cssh2_hmac_sha1(s.baseAddress, Int32(s.count), d.baseAddress, d.count, &out)
                    }
                }
                return ok == 1 && Data(out).base64EncodedString() == parts[2]
            }
            return hostPattern.split(separator: ",").contains(Substring(name))
        }
    }

    public enum Verdict: Sendable, Equatable {
        case match
        case notFound
        /// Pinned keys of the same type that differ from the presented one.
        case mismatch(pinned: [Entry])
    }

    /// Serialises writers in this process; rewrites are atomic (temporary file + rename).
    private static let lock = NSLock()

    public static func hostPattern(host: String, port: Int) -> String {
        port == 22 ? host : "[\(host)]:\(port)"
    }

    public func entries() -> [Entry] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return [] }
        return text.split(separator: "\n").compactMap { Self.parse(String($0)) }
    }

    /// One known_hosts line; nil for comments, blank lines, markers (`@revoked`) and lines it cannot read.
    public static func parse(_ line: String) -> Entry? {
        let trimmed = line.trimmingCharacters(in: .whitespaces)
        guard !trimmed.isEmpty, !trimmed.hasPrefix("#") else { return nil }
        var fields = trimmed.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
        if fields.first?.hasPrefix("@") == true { return nil }   // @revoked / @cert-authority: not ours
        guard fields.count >= 3, let key = Data(base64Encoded: fields[2]) else { return nil }
        let comment = fields.count > 3 ? fields[3...].joined(separator: " ") : nil
        fields = Array(fields.prefix(3))
        return Entry(hostPattern: fields[0], keyType: fields[1], key: key, comment: comment)
    }

    /// Entries pinned for this host and port.
    public func pins(host: String, port: Int) -> [Entry] {
        let pattern = Self.hostPattern(host: host, port: port)
        return entries().filter { $0.matches(pattern) }
    }

    public func check(host: String, port: Int, keyType: String, key: Data) -> Verdict {
        let pinned = pins(host: host, port: port)
        if pinned.contains(where: { $0.key == key }) { return .match }
        let sameType = pinned.filter { $0.keyType == keyType }
        if !sameType.isEmpty { return .mismatch(pinned: sameType) }
        // Pinned under another type only: the connection prefers the pinned type before the
        // handshake (see SSHConnection), so a server that now offers only a different type changed.
        if !pinned.isEmpty { return .mismatch(pinned: pinned) }
        return .notFound
    }

    /// Records a key (trust on first use, or a deliberate replacement).
    public func add(host: String, port: Int, keyType: String, key: Data, node: String) throws {
        try rewrite { lines in
            lines.append("\(Self.hostPattern(host: host, port: port)) \(keyType) \(key.base64EncodedString()) labctl:\(node)")
        }
    }

    /// Removes every pin for this host and port; returns how many were removed.
    @discardableResult
    public func remove(host: String, port: Int) throws -> Int {
        let pattern = Self.hostPattern(host: host, port: port)
        var removed = 0
        try rewrite { lines in
            lines.removeAll { line in
                guard let e = Self.parse(line), e.matches(pattern) else { return false }
                removed += 1
                return true
            }
        }
        return removed
    }

    private func rewrite(_ change: (inout [String]) -> Void) throws {
        Self.lock.lock()
        defer { Self.lock.unlock() }
        let fm = FileManager.default
        let dir = (path as NSString).deletingLastPathComponent
        if !dir.isEmpty { try fm.createDirectory(atPath: dir, withIntermediateDirectories: true) }
        var lines = ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
        change(&lines)
        let tmp = path + ".tmp-\(getpid())"
        let text = lines.isEmpty ? "" : lines.joined(separator: "\n") + "\n"
        guard fm.createFile(atPath: tmp, contents: Data(text.utf8), attributes: [.posixPermissions: 0o644]) else {
            throw LabError(.internalError, "cannot write the lab's known_hosts", location: .file(tmp))
        }
        guard rename(tmp, path) == 0 else {
            throw LabError(.internalError, "cannot replace the lab's known_hosts", location: .file(path), cause: POSIXError.current())
        }
    }
}
