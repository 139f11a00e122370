import Crypto
import _CryptoExtras
import Foundation
import LabKit
import X509

/// The lab's Istio plug-in CA: one root per lab, one intermediate per cluster (docs/pki.md).
///
/// Files, in the layout of Istio's `tools/certs` Makefile run in `LabPaths.pki`:
/// ```
/// <pki>/root-cert.pem  root-key.pem            (root; key 0600)
/// <pki>/<cluster>/ca-cert.pem  ca-key.pem      (the cluster's intermediate; key 0600)
/// <pki>/<cluster>/root-cert.pem                (byte copy of the root: what must match across clusters)
/// <pki>/<cluster>/cert-chain.pem               (ca-cert.pem then root-cert.pem)
/// ```
/// Directories are 0700; every file is written atomically.
///
/// The root is made once and never replaced implicitly: `ensureRoot` loads an existing root and
/// refuses (rather than regenerates) one it cannot trust. Only `replaceRoot` makes a new one.
public struct MeshCA: Sendable {
    /// The CLI command that calls `replaceRoot`; named in hints.
    public static let replaceRootCommand = "labctl ca replace-root"

    public let paths: LabPaths
    /// The profile the root was ensured with; the default for `issueIntermediate`.
    public let profile: CAProfile
    public let root: Certificate
    /// The exact bytes of `<pki>/root-cert.pem`, copied into every cluster.
    public let rootPEM: String
    let rootKey: CAKey

    public var rootCertPath: String { Self.rootCertPath(paths) }
    public var rootKeyPath: String { Self.rootKeyPath(paths) }
    static func rootCertPath(_ paths: LabPaths) -> String { (paths.pki as NSString).appendingPathComponent("root-cert.pem") }
    static func rootKeyPath(_ paths: LabPaths) -> String { (paths.pki as NSString).appendingPathComponent("root-key.pem") }

    /// The directory of one cluster's intermediate.
    public static func clusterDirectory(_ cluster: String, in paths: LabPaths) -> String {
        (paths.pki as NSString).appendingPathComponent(cluster)
    }

    // MARK: Root

    /// Loads the lab's root, or makes it when there is none.
    ///
    /// An existing root is reused whatever `profile` says about key size or validity (the root
    /// outlives profile changes); it must still parse, match its key, be self-signed, be a CA
    /// named `O=Istio, CN=Root CA`, and be valid at `now`. Otherwise this throws `.conflict`
    /// and names `replaceRootCommand`, because a silently new root breaks every issued
    /// intermediate.
    public static func ensureRoot(in paths: LabPaths, profile: CAProfile, now: Date = Date()) throws -> MeshCA {
        let certPath = rootCertPath(paths), keyPath = rootKeyPath(paths)
        let hasCert = SecureFile.exists(certPath), hasKey = SecureFile.exists(keyPath)
        if hasCert || hasKey {
            return try load(in: paths, profile: profile, now: now)
        }
        try SecureFile.ensurePrivateDirectory(paths.pki)
        let (cert, key, pem) = try makeRoot(profile: profile, now: now)
        // Key first: a crash between the two writes leaves a key without a cert, which `load`
        // reports (never a cert whose key is lost). A cert write that fails (a full disk) takes the
        // new key away again: nothing was issued from it, and the next run starts afresh.
        try SecureFile.write(key.pem, to: keyPath, mode: 0o600)
        do {
            try SecureFile.write(pem, to: certPath, mode: 0o644)
        } catch {
            unlink(keyPath)
            throw error
        }
        return MeshCA(paths: paths, profile: profile, root: cert, rootPEM: pem, rootKey: key)
    }

    /// Loads the existing root; throws `.notFound` when the lab has none yet.
    public static func load(in paths: LabPaths, profile: CAProfile, now: Date = Date()) throws -> MeshCA {
        let certPath = rootCertPath(paths), keyPath = rootKeyPath(paths)
        let replaceHint = "if this root was never distributed, remove \(certPath) and \(keyPath); otherwise run `\(replaceRootCommand)` and re-issue every cluster's intermediate"
        let certText = try SecureFile.read(certPath)
        let keyText = try SecureFile.read(keyPath)
        switch (certText, keyText) {
        case (nil, nil):
            throw LabError(.notFound, "the lab has no Istio root CA yet", location: .file(certPath),
                           hint: "`labctl up` creates it before the mesh stages")
        case (nil, _?):
            throw LabError(.conflict, "the Istio root CA is incomplete: \(keyPath) exists without root-cert.pem",
                           location: .file(certPath), hint: replaceHint)
        case (_?, nil):
            throw LabError(.conflict, "the Istio root CA is incomplete: \(certPath) exists without root-key.pem",
                           location: .file(keyPath), hint: replaceHint)
        case let (certPEM?, keyPEM?):
            let cert = try wrap(parseCertificate(certPEM, path: certPath), hint: replaceHint)
            let key = try wrap(CAKey.parse(keyPEM, path: keyPath), hint: replaceHint)
            guard key.key.publicKey == cert.publicKey else {
                throw LabError(.security, "root-key.pem does not belong to root-cert.pem", location: .file(keyPath),
                               hint: replaceHint)
            }
            guard cert.issuer == cert.subject, cert.publicKey.isValidSignature(cert.signature, for: cert) else {
                throw LabError(.security, "root-cert.pem is not a self-signed root (bad or foreign signature)",
                               location: .file(certPath), hint: replaceHint)
            }
            let expected = try rootName(profile)
            guard cert.subject == expected else {
                throw LabError(.conflict, "root-cert.pem names '\(cert.subject)', expected '\(expected)'",
                               location: .file(certPath), hint: replaceHint)
            }
            guard case .isCertificateAuthority = try? cert.extensions.basicConstraints else {
                throw LabError(.conflict, "root-cert.pem is not a CA certificate (basicConstraints CA:TRUE missing)",
                               location: .file(certPath), hint: replaceHint)
            }
            guard cert.notValidBefore <= now, now <= cert.notValidAfter else {
                throw LabError(.conflict, "root-cert.pem is valid from \(cert.notValidBefore) to \(cert.notValidAfter), not now",
                               location: .file(certPath),
                               hint: "run `\(replaceRootCommand)`, then re-issue every cluster's intermediate and restart Istio")
            }
            return MeshCA(paths: paths, profile: profile, root: cert, rootPEM: certPEM, rootKey: key)
        }
    }

    /// Makes a new root, keeping the old one in `<pki>/retired/<UTC time>/`, and says what
    /// that breaks. It does not re-issue intermediates: the caller (the CLI) does that next.
    public static func replaceRoot(in paths: LabPaths, profile: CAProfile, now: Date = Date()) throws -> (MeshCA, RootReplacement) {
        let certPath = rootCertPath(paths), keyPath = rootKeyPath(paths)
        try SecureFile.ensurePrivateDirectory(paths.pki)
        var oldFingerprint: String?
        var retiredTo: String?
        if SecureFile.exists(certPath) || SecureFile.exists(keyPath) {
            if let pem = try? SecureFile.read(certPath), let old = try? Certificate(pemEncoded: pem) {
                oldFingerprint = try? sha256Fingerprint(of: old)
            }
            let retired = ((paths.pki as NSString).appendingPathComponent("retired") as NSString)
                .appendingPathComponent(timestamp(now))
            try SecureFile.ensurePrivateDirectory((paths.pki as NSString).appendingPathComponent("retired"))
            try SecureFile.ensurePrivateDirectory(retired)
            for path in [certPath, keyPath] where SecureFile.exists(path) {
                let target = (retired as NSString).appendingPathComponent((path as NSString).lastPathComponent)
                guard rename(path, target) == 0 else {
                    throw LabError(.commandFailed, "cannot move \(path) to \(target)", location: .file(path),
                                   cause: POSIXError.current())
                }
            }
            retiredTo = retired
        }
        let ca = try ensureRoot(in: paths, profile: profile, now: now)
        let stale = try issuedClusters(in: paths).filter { cluster in
            let path = (clusterDirectory(cluster, in: paths) as NSString).appendingPathComponent("root-cert.pem")
            return (try? SecureFile.read(path)) != ca.rootPEM
        }
        return (ca, RootReplacement(oldRootFingerprint: oldFingerprint, newRootFingerprint: try sha256Fingerprint(of: ca.root),
                                    retiredTo: retiredTo, staleClusters: stale))
    }

    /// The clusters that have a directory with CA files under `<pki>`.
    public static func issuedClusters(in paths: LabPaths) throws -> [String] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: paths.pki)) ?? []
        return entries.filter { name in
            name != "retired" && !name.hasPrefix(".")
                && SecureFile.exists(((clusterDirectory(name, in: paths)) as NSString).appendingPathComponent("ca-cert.pem"))
        }.sorted()
    }

    // MARK: Intermediates

    /// Issues a new intermediate for `cluster` under this root and writes its four files.
    ///
    /// Re-issuing (rebuild cluster2) replaces only that cluster's files; the root and the other
    /// clusters' files are not touched.
    @discardableResult
    public func issueIntermediate(cluster: String, profile: CAProfile? = nil, now: Date = Date()) throws -> ClusterCA {
        try Self.validateClusterName(cluster)
        let profile = profile ?? self.profile
        let key = try CAKey.generate(profile.keyAlgorithm, format: profile.keyPEMFormat)
        let notBefore = wholeSeconds(now)
        let rootSKID = try root.extensions.subjectKeyIdentifier
        let cert = try Certificate(
            version: .v3,
            serialNumber: randomSerial(),
            publicKey: key.key.publicKey,
            notValidBefore: notBefore,
            notValidAfter: notBefore.addingTimeInterval(Double(profile.intermediateValidityDays) * 86_400),
            issuer: root.subject,
            subject: try Self.intermediateName(profile, cluster: cluster),
            signatureAlgorithm: rootKey.signatureAlgorithm,
            extensions: try Certificate.Extensions {
                // Order as OpenSSL emits them from intermediate.conf: SKID, basicConstraints,
                // keyUsage, SAN, then the AKID OpenSSL 3 adds (docs/pki.md, "Upstream sources").
                SubjectKeyIdentifier(hash: key.key.publicKey)
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                Critical(Self.caKeyUsage)
                SubjectAlternativeNames([.dnsName(profile.istiodSAN)])
                if profile.intermediateHasAuthorityKeyIdentifier, let keyID = rootSKID?.keyIdentifier {
                    AuthorityKeyIdentifier(keyIdentifier: keyID)
                }
            },
            issuerPrivateKey: rootKey.key)
        let certPEM = terminated(try cert.serializeAsPEM().pemString)

        let dir = Self.clusterDirectory(cluster, in: paths)
        try SecureFile.ensurePrivateDirectory(paths.pki)
        try SecureFile.ensurePrivateDirectory(dir)
        let files = ClusterCA.Files(directory: dir)
        try SecureFile.write(key.pem, to: files.caKey, mode: 0o600)
        try SecureFile.write(certPEM, to: files.caCert, mode: 0o644)
        try SecureFile.write(rootPEM, to: files.rootCert, mode: 0o644)
        // The Makefile's `cat ca-cert.pem root-cert.pem`: intermediate first, then the root.
        try SecureFile.write(certPEM + rootPEM, to: files.certChain, mode: 0o644)
        return ClusterCA(cluster: cluster, certificate: cert, files: files)
    }

    /// Cluster names become directory names and the `L=` of the intermediate's subject.
    static func validateClusterName(_ name: String) throws {
        let allowed = name.utf8.allSatisfy { c in
            (c >= 0x61 && c <= 0x7A) || (c >= 0x30 && c <= 0x39) || c == 0x2D  // a-z 0-9 -
        }
        guard !name.isEmpty, name.count <= 63, allowed, name.first != "-", name.last != "-", name != "retired" else {
            throw LabError(.invalidInput, "cluster name '\(name)' cannot name an Istio CA directory",
                           hint: "cluster names are DNS labels: lower-case letters, digits and '-', at most 63 characters")
        }
    }

    // MARK: Certificate contents (docs/pki.md, "What the certificates contain")

    /// keyUsage of both CAs: critical digitalSignature, nonRepudiation, keyEncipherment, keyCertSign.
    static let caKeyUsage = KeyUsage(digitalSignature: true, nonRepudiation: true, keyEncipherment: true, keyCertSign: true)

    /// `O=Istio, CN=Root CA` (RDN order O then CN, as root-ca.conf lists them).
    static func rootName(_ profile: CAProfile) throws -> DistinguishedName {
        try DistinguishedName {
            OrganizationName(profile.organization)
            CommonName(profile.rootCommonName)
        }
    }

    /// `O=Istio, CN=Intermediate CA, L=<cluster>` (order O, CN, L, as intermediate.conf lists them).
    static func intermediateName(_ profile: CAProfile, cluster: String) throws -> DistinguishedName {
        try DistinguishedName {
            OrganizationName(profile.organization)
            CommonName(profile.intermediateCommonName)
            LocalityName(cluster)
        }
    }

    static func makeRoot(profile: CAProfile, now: Date) throws -> (Certificate, CAKey, String) {
        let key = try CAKey.generate(profile.keyAlgorithm, format: profile.keyPEMFormat)
        let name = try rootName(profile)
        let notBefore = wholeSeconds(now)
        let cert = try Certificate(
            version: .v3,
            serialNumber: randomSerial(),
            publicKey: key.key.publicKey,
            notValidBefore: notBefore,
            notValidAfter: notBefore.addingTimeInterval(Double(profile.rootValidityDays) * 86_400),
            issuer: name,
            subject: name,
            signatureAlgorithm: key.signatureAlgorithm,
            extensions: try Certificate.Extensions {
                // root-ca.conf's req_ext: no pathlen, no SAN; self-signed, so no AKID in either
                // OpenSSL era (`openssl x509 -req -signkey`).
                SubjectKeyIdentifier(hash: key.key.publicKey)
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: nil))
                Critical(caKeyUsage)
            },
            issuerPrivateKey: key.key)
        return (cert, key, terminated(try cert.serializeAsPEM().pemString))
    }

    private static func wrap<T>(_ body: @autoclosure () throws -> T, hint: String) throws -> T {
        do {
            return try body()
        } catch var error as LabError {
            if error.hint == nil { error.hint = hint }
            throw error
        }
    }

    private static func timestamp(_ date: Date) -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = "yyyyMMdd'T'HHmmss'Z'"
        return f.string(from: date)
    }
}

/// One cluster's intermediate CA as written.
public struct ClusterCA: Sendable {
    public struct Files: Sendable, Hashable {
        public var directory: String
        public var caCert: String { (directory as NSString).appendingPathComponent("ca-cert.pem") }
        public var caKey: String { (directory as NSString).appendingPathComponent("ca-key.pem") }
        public var rootCert: String { (directory as NSString).appendingPathComponent("root-cert.pem") }
        public var certChain: String { (directory as NSString).appendingPathComponent("cert-chain.pem") }
        /// The four files of the `cacerts` secret, in the order of Istio's plugin-ca-cert task.
        public var all: [String] { [caCert, caKey, rootCert, certChain] }
        public init(directory: String) { self.directory = directory }
    }

    public var cluster: String
    public var certificate: Certificate
    public var files: Files
}

/// What `replaceRoot` did, and what it broke.
public struct RootReplacement: Sendable, Hashable {
    /// SHA-256 fingerprint of the root that was replaced (nil if there was none or it was unreadable).
    public var oldRootFingerprint: String?
    public var newRootFingerprint: String
    /// Where the old root-cert.pem and root-key.pem were moved.
    public var retiredTo: String?
    /// Clusters whose intermediates were signed by the old root: until they are re-issued and
    /// Istio restarted there, their workloads and the other clusters' do not trust each other.
    public var staleClusters: [String]

    /// The consequences, one sentence each, for the CLI to print.
    public var consequences: [String] {
        var lines: [String] = []
        if let oldRootFingerprint {
            lines.append("The old root (SHA-256 \(oldRootFingerprint)) no longer signs anything; it was kept in \(retiredTo ?? "retired/").")
        }
        lines.append("New root: SHA-256 \(newRootFingerprint).")
        if staleClusters.isEmpty {
            lines.append("No cluster had an intermediate yet; nothing else to do.")
        } else {
            let list = staleClusters.joined(separator: ", ")
            lines.append("The intermediates of \(list) chain to the old root: re-issue each one and recreate its cacerts secret.")
            lines.append("Restart istiod (Istio before 1.12 reads cacerts only at start) and then every meshed workload in \(list): until then they hold certificates and a root the other clusters reject, and cross-cluster mTLS fails.")
            lines.append("Remote secrets are not affected (they hold Kubernetes API credentials, not Istio certificates).")
        }
        return lines
    }
}
