import Foundation
import LabKit

/// The lab's SSH user key: created on first use, checked before every use.
public enum SSHKeys {
    /// Key types libssh2 1.10 can sign with against current OpenSSH.
    static let usableTypes: Set<String> = ["ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521"]

    /// Returns the path of the lab's private key, creating an ed25519 pair in the state
    /// directory (private 0600, public 0644) when there is none yet.
    ///
    /// `configured` is lab.json's `ssh.privateKey`: when set, it is used as is (never created),
    /// after checking that its type is one labctl can use.
    @discardableResult
    public static func ensureLabKey(paths: LabPaths, configured: String? = nil) throws -> String {
        if let configured {
            guard FileManager.default.fileExists(atPath: configured) else {
                throw LabError(.notFound, "the SSH key named in lab.json does not exist", location: .file(configured),
                               hint: "fix ssh.privateKey in lab.json, or remove it to let labctl create a key in \(paths.root)")
            }
            try checkUsable(configured)
            return configured
        }
        let key = paths.privateKey
        let fm = FileManager.default
        if fm.fileExists(atPath: key) {
            try checkUsable(key)
            return key
        }
        try fm.createDirectory(atPath: paths.root, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        guard let keygen = LocalProcess.find("ssh-keygen") else {
            throw LabError(.notFound, "ssh-keygen is not installed; labctl needs it to create the lab's SSH key",
                           hint: "install openssh-client (scripts/install-deps)")
        }
        let out = try LocalProcess.run(keygen, ["-q", "-t", "ed25519", "-N", "", "-C", "labctl", "-f", key])
        guard out.status == 0 else {
            // ssh-keygen may have left part of the pair (a full disk fails the second file): it was
            // not there before, so it goes, and the next run makes a whole new pair.
            unlink(key)
            unlink(key + ".pub")
            let detail = out.stderr.trimmingCharacters(in: .whitespacesAndNewlines)
            // ssh-keygen reports the failed write only as text (strerror), so that is what is matched.
            let full = detail.contains(String(cString: strerror(ENOSPC))) || detail.contains(String(cString: strerror(EDQUOT)))
            guard full else {
                throw LabError(.commandFailed, "ssh-keygen could not create the lab's SSH key", location: .file(key), detail: detail)
            }
            var error = LabError.writeFailed(ENOSPC, "create the lab's SSH key (ssh-keygen)", path: key)
            error.detail = detail
            throw error
        }
        try fm.setAttributes([.posixPermissions: 0o600], ofItemAtPath: key)
        try fm.setAttributes([.posixPermissions: 0o644], ofItemAtPath: key + ".pub")
        return key
    }

    /// Throws a clear `.security` error for RSA and DSA keys, which libssh2 1.10 cannot use.
    public static func checkUsable(_ privateKey: String) throws {
        guard let type = keyType(privateKey) else {
            // Unknown format (PKCS#8 without .pub): let libssh2 try, its error names the file.
            return
        }
        if type == "ssh-rsa" || type == "ssh-dss" {
            let kind = type == "ssh-rsa" ? "an RSA" : "a DSA"
            throw LabError(
                .security, "the SSH key \(privateKey) is \(kind) key, which labctl cannot use",
                location: .file(privateKey),
                hint: "libssh2 1.10 signs RSA keys only with ssh-rsa (SHA-1), which OpenSSH 8.8 and later refuse. "
                    + "Use an ed25519 (or ecdsa) key: ssh-keygen -t ed25519 -f ~/.ssh/labctl_ed25519, "
                    + "or remove ssh.privateKey from lab.json and labctl creates one.",
                detail: "key type \(type)")
        }
    }

    /// The key's type (`ssh-ed25519`, `ecdsa-sha2-nistp256`, `ssh-rsa`), read from the file
    /// without decrypting it: the public half of an OpenSSH key is stored in clear.
    public static func keyType(_ privateKey: String) -> String? {
        if let pub = try? String(contentsOfFile: privateKey + ".pub", encoding: .utf8),
           let first = pub.split(separator: " ").first {
            return String(first)
        }
        guard let text = try? String(contentsOfFile: privateKey, encoding: .utf8) else { return nil }
        if text.contains("BEGIN RSA PRIVATE KEY") { return "ssh-rsa" }
        if text.contains("BEGIN DSA PRIVATE KEY") { return "ssh-dss" }
        if text.contains("BEGIN EC PRIVATE KEY") { return "ecdsa-sha2-nistp256" }
        guard text.contains("BEGIN OPENSSH PRIVATE KEY") else { return nil }
        let body = text.split(separator: "\n").filter { !$0.hasPrefix("-----") }.joined()
        guard let blob = Data(base64Encoded: body) else { return nil }
        // openssh-key-v1\0, string cipher, string kdf, string kdfoptions, uint32 n, string pubkey(string type, ...)
        var reader = SSHWireReader(blob)
        guard reader.skipMagic("openssh-key-v1\0"), reader.string() != nil, reader.string() != nil,
              reader.string() != nil, reader.uint32() != nil, let pubkey = reader.string() else { return nil }
        var inner = SSHWireReader(pubkey)
        return inner.string().map { String(decoding: $0, as: UTF8.self) }
    }

    /// The public key line (`ssh-ed25519 AAAA… comment`) to install in a guest's authorized_keys.
    public static func publicKeyLine(_ privateKey: String) throws -> String {
        if let pub = try? String(contentsOfFile: privateKey + ".pub", encoding: .utf8) {
            return pub.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        guard let keygen = LocalProcess.find("ssh-keygen") else {
            throw LabError(.notFound, "ssh-keygen is not installed", hint: "install openssh-client")
        }
        let out = try LocalProcess.run(keygen, ["-y", "-f", privateKey])
        guard out.status == 0 else {
            throw LabError(.commandFailed, "cannot read the public half of the SSH key", location: .file(privateKey), detail: out.stderr)
        }
        return out.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

/// Reads SSH wire-format fields (RFC 4251 §5).
struct SSHWireReader {
    private let data: [UInt8]
    private var offset = 0
    init(_ data: Data) { self.data = [UInt8](data) }

    mutating func skipMagic(_ magic: String) -> Bool {
        let m = Array(magic.utf8)
        guard data.count >= m.count, Array(data[0..<m.count]) == m else { return false }
        offset = m.count
        return true
    }

    mutating func uint32() -> UInt32? {
        guard offset + 4 <= data.count else { return nil }
        let v = data[offset..<offset + 4].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        offset += 4
        return v
    }

    mutating func string() -> Data? {
        guard let n = uint32(), offset + Int(n) <= data.count else { return nil }
        let s = Data(data[offset..<offset + Int(n)])
        offset += Int(n)
        return s
    }
}
