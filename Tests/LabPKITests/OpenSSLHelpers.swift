import Foundation
import LabPKI
import Testing

/// Runs host tools for the certificate tests. openssl is the reference the CA is held against.
enum Tool {
    struct Failure: Error, CustomStringConvertible {
        var command: [String]
        var status: Int32
        var output: String
        var description: String { "\(command.joined(separator: " ")) exited \(status): \(output)" }
    }

    /// True when `openssl` can be run: the certificate comparisons need the real tool
    /// (scripts/install-deps installs it; every Debian image has it).
    static let hasOpenSSL: Bool = (try? run(["openssl", "version"])) != nil

    /// Runs `command` in `directory`, returns stdout+stderr, throws on a non-zero exit.
    @discardableResult
    static func run(_ command: [String], in directory: String? = nil) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = command
        if let directory { p.currentDirectoryURL = URL(fileURLWithPath: directory) }
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = pipe
        p.standardInput = FileHandle.nullDevice
        try p.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        let out = String(decoding: data, as: UTF8.self)
        guard p.terminationStatus == 0 else { throw Failure(command: command, status: p.terminationStatus, output: out) }
        return out
    }
}

/// A fresh temporary directory, removed by `cleanup()`.
struct TempDir {
    let path: String
    init() throws {
        path = (NSTemporaryDirectory() as NSString).appendingPathComponent("labpki-\(UUID().uuidString)")
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    func sub(_ name: String) -> String { (path as NSString).appendingPathComponent(name) }
    func cleanup() { try? FileManager.default.removeItem(atPath: path) }
}

/// Istio's `tools/certs/Makefile.selfsigned.mk` targets `root-ca` and `<cluster>-cacerts`,
/// as the openssl commands they run, so the tests need neither make nor an Istio checkout.
///
/// The config files are reconstructed from the table in docs/pki.md ("What the certificates contain") (which lists
/// every directive's effect but does not quote the files) and checked against the stored
/// istio/istio `tools/certs/common.mk`: `[ req ]` with encrypt_key=no, prompt=no, utf8=yes,
/// default_md=sha256, `req_ext` used for both the CSR and the certificate, `req_dn` with O, CN
/// (and L for the intermediate).
///
/// The host has OpenSSL 3. For a PKCS#1 profile (seed-2021, as the seed's Ubuntu 20.04
/// OpenSSL 1.1.1 wrote keys) `-traditional` keeps `genrsa`'s PKCS#1 output; for a profile
/// without AKID, `authorityKeyIdentifier = none` turns off OpenSSL 3's default AKID, which
/// 1.1.1 never added (see `CAProfile.seed2021` for why labctl keeps the AKID).
/// `-sha256` on `x509 -req` appears in the Makefile since Istio 1.17 (c4e33198a5b); 1.10.1
/// relied on the default digest, which is SHA-256 in both 1.1.1 and 3.
enum IstioMakefile {
    struct Output {
        var directory: String
        var rootCert: String { (directory as NSString).appendingPathComponent("root-cert.pem") }
        func clusterFile(_ cluster: String, _ name: String) -> String {
            ((directory as NSString).appendingPathComponent(cluster) as NSString).appendingPathComponent(name)
        }
    }

    static func rootConf(bits: Int, org: String = "Istio", cn: String = "Root CA") -> String {
        """
        [ req ]
        encrypt_key = no
        prompt = no
        utf8 = yes
        default_md = sha256
        default_bits = \(bits)
        req_extensions = req_ext
        x509_extensions = req_ext
        distinguished_name = req_dn
        [ req_ext ]
        subjectKeyIdentifier = hash
        basicConstraints = critical, CA:true
        keyUsage = critical, digitalSignature, nonRepudiation, keyEncipherment, keyCertSign
        [ req_dn ]
        O = \(org)
        CN = \(cn)

        """
    }

    static func intermediateConf(bits: Int, cluster: String, noAKID: Bool) -> String {
        """
        [ req ]
        encrypt_key = no
        prompt = no
        utf8 = yes
        default_md = sha256
        default_bits = \(bits)
        req_extensions = req_ext
        x509_extensions = req_ext
        distinguished_name = req_dn
        [ req_ext ]
        subjectKeyIdentifier = hash
        basicConstraints = critical, CA:true, pathlen:0
        keyUsage = critical, digitalSignature, nonRepudiation, keyEncipherment, keyCertSign
        subjectAltName=@san
        \(noAKID ? "authorityKeyIdentifier = none\n" : "")[ san ]
        DNS.1 = istiod.istio-system.svc
        [ req_dn ]
        O = Istio
        CN = Intermediate CA
        L = \(cluster)

        """
    }

    /// Runs the `root-ca` and `<cluster>-cacerts` targets for `profile` in `directory`.
    static func make(profile: CAProfile, bits: Int, clusters: [String], in directory: String) throws -> Output {
        let old = profile.keyPEMFormat == .pkcs1
        let genrsa = { (out: String) in ["openssl", "genrsa"] + (old ? ["-traditional"] : []) + ["-out", out, "\(bits)"] }
        let digest = old ? [String]() : ["-sha256"]
        try rootConf(bits: bits).write(toFile: directory + "/root-ca.conf", atomically: true, encoding: .utf8)
        try Tool.run(genrsa("root-key.pem"), in: directory)
        try Tool.run(["openssl", "req", "-new", "-key", "root-key.pem", "-config", "root-ca.conf", "-out", "root-cert.csr"], in: directory)
        try Tool.run(["openssl", "x509", "-req"] + digest + ["-days", "\(profile.rootValidityDays)", "-signkey", "root-key.pem",
                      "-extensions", "req_ext", "-extfile", "root-ca.conf", "-in", "root-cert.csr", "-out", "root-cert.pem"], in: directory)
        for cluster in clusters {
            try FileManager.default.createDirectory(atPath: directory + "/" + cluster, withIntermediateDirectories: true)
            try intermediateConf(bits: bits, cluster: cluster, noAKID: !profile.intermediateHasAuthorityKeyIdentifier)
                .write(toFile: "\(directory)/\(cluster)/intermediate.conf", atomically: true, encoding: .utf8)
            try Tool.run(genrsa("\(cluster)/ca-key.pem"), in: directory)
            try Tool.run(["openssl", "req", "-new", "-config", "\(cluster)/intermediate.conf", "-key", "\(cluster)/ca-key.pem",
                          "-out", "\(cluster)/cluster-ca.csr"], in: directory)
            try Tool.run(["openssl", "x509", "-req"] + digest + ["-days", "\(profile.intermediateValidityDays)",
                          "-CA", "root-cert.pem", "-CAkey", "root-key.pem", "-CAcreateserial",
                          "-extensions", "req_ext", "-extfile", "\(cluster)/intermediate.conf",
                          "-in", "\(cluster)/cluster-ca.csr", "-out", "\(cluster)/ca-cert.pem"], in: directory)
            let chain = try String(contentsOfFile: "\(directory)/\(cluster)/ca-cert.pem", encoding: .utf8)
                + String(contentsOfFile: "\(directory)/root-cert.pem", encoding: .utf8)
            try chain.write(toFile: "\(directory)/\(cluster)/cert-chain.pem", atomically: true, encoding: .utf8)
            try FileManager.default.copyItem(atPath: "\(directory)/root-cert.pem", toPath: "\(directory)/\(cluster)/root-cert.pem")
        }
        return Output(directory: directory)
    }
}

/// The fields of `openssl x509 -text -noout` that define a CA certificate's shape
/// (everything but serial, keys, key ids and the exact dates).
struct CertShape: Equatable, CustomStringConvertible {
    var version: String
    var signatureAlgorithm: String
    var subject: String
    var issuer: String
    var validityDays: Int
    var publicKey: String
    /// Extension names in the order they appear, with `critical` marked.
    var extensionOrder: [String]
    /// Values of the extensions whose values are comparable across keys.
    var basicConstraints: String?
    var keyUsage: String?
    var subjectAltName: String?
    var hasSubjectKeyIdentifier: Bool
    var hasAuthorityKeyIdentifier: Bool

    var description: String {
        """
        version=\(version) sig=\(signatureAlgorithm) subject=\(subject) issuer=\(issuer) days=\(validityDays) key=\(publicKey)
        extensions=\(extensionOrder) bc=\(basicConstraints ?? "-") ku=\(keyUsage ?? "-") san=\(subjectAltName ?? "-") \
        skid=\(hasSubjectKeyIdentifier) akid=\(hasAuthorityKeyIdentifier)
        """
    }

    /// Reads `openssl x509 -text -noout -in path`.
    static func read(_ path: String) throws -> CertShape {
        let text = try Tool.run(["openssl", "x509", "-text", "-noout", "-in", path])
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        func value(after prefix: String) -> String? {
            lines.lazy.map { $0.trimmingCharacters(in: .whitespaces) }.first { $0.hasPrefix(prefix) }
                .map { String($0.dropFirst(prefix.count)).trimmingCharacters(in: .whitespaces) }
        }
        // Extensions: a header at 12 spaces ("X509v3 Key Usage: critical"), values indented deeper.
        var order: [String] = []
        var values: [String: [String]] = [:]
        var current: String?
        var inExtensions = false
        for line in lines {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed == "X509v3 extensions:" { inExtensions = true; continue }
            guard inExtensions else { continue }
            let indent = line.prefix { $0 == " " }.count
            if indent <= 8 { inExtensions = false; current = nil; continue }  // "Signature Algorithm" after the extensions
            if indent == 12, trimmed.contains(":") {
                let parts = trimmed.split(separator: ":", maxSplits: 1).map { String($0).trimmingCharacters(in: .whitespaces) }
                let name = parts[0]
                order.append(parts.count > 1 && parts[1] == "critical" ? "\(name) (critical)" : name)
                current = name
                values[name] = []
            } else if let current {
                values[current, default: []].append(trimmed)
            }
        }
        let notBefore = try date(value(after: "Not Before:") ?? "")
        let notAfter = try date(value(after: "Not After :") ?? "")
        return CertShape(
            version: value(after: "Version:") ?? "?",
            signatureAlgorithm: value(after: "Signature Algorithm:") ?? "?",
            subject: value(after: "Subject:") ?? "?",
            issuer: value(after: "Issuer:") ?? "?",
            validityDays: Int((notAfter.timeIntervalSince(notBefore) / 86_400).rounded()),
            publicKey: [value(after: "Public Key Algorithm:"), value(after: "Public-Key:")].compactMap { $0 }.joined(separator: " "),
            extensionOrder: order,
            basicConstraints: values["X509v3 Basic Constraints"]?.joined(separator: " "),
            keyUsage: values["X509v3 Key Usage"]?.joined(separator: " "),
            subjectAltName: values["X509v3 Subject Alternative Name"]?.joined(separator: " "),
            hasSubjectKeyIdentifier: values["X509v3 Subject Key Identifier"] != nil,
            hasAuthorityKeyIdentifier: values["X509v3 Authority Key Identifier"] != nil)
    }

    /// "Nov 27 10:56:11 2026 GMT" (day padded with a space).
    static func date(_ s: String) throws -> Date {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = "MMM d HH:mm:ss yyyy zzz"
        let squeezed = s.split(separator: " ").joined(separator: " ")
        guard let d = f.date(from: squeezed) else { throw Tool.Failure(command: ["parse date"], status: 1, output: s) }
        return d
    }
}

/// `openssl x509 -noout -serial`: "serial=7A3F...".
func serialHex(_ path: String) throws -> String {
    let out = try Tool.run(["openssl", "x509", "-noout", "-serial", "-in", path]).trimmingCharacters(in: .whitespacesAndNewlines)
    return String(out.drop { $0 != "=" }.dropFirst())
}

/// The key id hex of an extension value line as openssl prints it (upper-case, colon-separated).
func keyIDLine(_ path: String, extension name: String) throws -> String? {
    let text = try Tool.run(["openssl", "x509", "-text", "-noout", "-in", path])
    let lines = text.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
    guard let i = lines.firstIndex(where: { $0.hasPrefix(name) }), i + 1 < lines.count else { return nil }
    return lines[i + 1].replacingOccurrences(of: "keyid:", with: "")
}

func firstLine(_ path: String) throws -> String {
    try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").first.map(String.init) ?? ""
}

func fileText(_ path: String) throws -> String { try String(contentsOfFile: path, encoding: .utf8) }

func mode(_ path: String) throws -> Int {
    let attrs = try FileManager.default.attributesOfItem(atPath: path)
    return (attrs[.posixPermissions] as? NSNumber)?.intValue ?? -1
}
