import Foundation
import LabKit
@testable import LabPKI
import Testing
import X509

/// A lab state directory in a fresh temp dir.
private func makeLab() throws -> (TempDir, LabPaths) {
    let tmp = try TempDir()
    return (tmp, LabPaths(root: tmp.sub(".labctl")))
}

private func labError(_ body: () throws -> Void) -> LabError? {
    do { try body() } catch let e as LabError { return e } catch { return nil }
    return nil
}

// MARK: - Contents compared with Istio's Makefile run by the real openssl

@Suite("Istio CA contents against the Makefile's openssl output")
struct MakefileComparisonTests {
    /// Compares root and intermediate of labctl's CA with those of the Makefile's commands,
    /// field by field, for one profile and key size.
    func compare(profile: CAProfile, bits: Int) throws {
        let (tmp, paths) = try makeLab()
        defer { tmp.cleanup() }
        let ours = try MeshCA.ensureRoot(in: paths, profile: profile.with(keyAlgorithm: .rsa(bits: bits)))
        let issued = try ours.issueIntermediate(cluster: "cluster1")

        let refDir = tmp.sub("makefile")
        try FileManager.default.createDirectory(atPath: refDir, withIntermediateDirectories: true)
        let ref = try IstioMakefile.make(profile: profile, bits: bits, clusters: ["cluster1"], in: refDir)

        let ourRoot = try CertShape.read(ours.rootCertPath)
        let refRoot = try CertShape.read(ref.rootCert)
        #expect(ourRoot == refRoot, "root differs:\nours:     \(ourRoot)\nmakefile: \(refRoot)")
        let ourCA = try CertShape.read(issued.files.caCert)
        let refCA = try CertShape.read(ref.clusterFile("cluster1", "ca-cert.pem"))
        #expect(ourCA == refCA, "intermediate differs:\nours:     \(ourCA)\nmakefile: \(refCA)")

        // The fields spelled out, so a shared parsing mistake cannot hide a wrong certificate.
        #expect(ourRoot.subject == "O = Istio, CN = Root CA")
        #expect(ourRoot.issuer == "O = Istio, CN = Root CA")
        #expect(ourRoot.version == "3 (0x2)")
        #expect(ourRoot.signatureAlgorithm == "sha256WithRSAEncryption")
        #expect(ourRoot.publicKey == "rsaEncryption (\(bits) bit)")
        #expect(ourRoot.validityDays == profile.rootValidityDays)
        #expect(ourRoot.extensionOrder == ["X509v3 Subject Key Identifier", "X509v3 Basic Constraints (critical)",
                                           "X509v3 Key Usage (critical)"])
        #expect(ourRoot.basicConstraints == "CA:TRUE")
        #expect(ourRoot.keyUsage == "Digital Signature, Non Repudiation, Key Encipherment, Certificate Sign")
        #expect(ourCA.subject == "O = Istio, CN = Intermediate CA, L = cluster1")
        #expect(ourCA.issuer == "O = Istio, CN = Root CA")
        #expect(ourCA.validityDays == profile.intermediateValidityDays)
        #expect(ourCA.basicConstraints == "CA:TRUE, pathlen:0")
        #expect(ourCA.keyUsage == "Digital Signature, Non Repudiation, Key Encipherment, Certificate Sign")
        #expect(ourCA.subjectAltName == "DNS:istiod.istio-system.svc")
        #expect(ourCA.hasSubjectKeyIdentifier)
        #expect(ourCA.hasAuthorityKeyIdentifier == profile.intermediateHasAuthorityKeyIdentifier)
        if profile.intermediateHasAuthorityKeyIdentifier {
            // keyid = the root's SKID, as OpenSSL 3 writes it
            #expect(try keyIDLine(issued.files.caCert, extension: "X509v3 Authority Key Identifier")
                    == keyIDLine(ours.rootCertPath, extension: "X509v3 Subject Key Identifier"))
        }

        // Key PEM format: PKCS#1 for seed-2021 (OpenSSL 1.1.1), PKCS#8 for current (OpenSSL 3).
        let expectedHeader = profile.keyPEMFormat == .pkcs1 ? "-----BEGIN RSA PRIVATE KEY-----" : "-----BEGIN PRIVATE KEY-----"
        #expect(try firstLine(issued.files.caKey) == expectedHeader)
        #expect(try firstLine(ref.clusterFile("cluster1", "ca-key.pem")) == expectedHeader)
        #expect(try firstLine(ours.rootKeyPath) == expectedHeader)

        // SKID is the SHA-1 `hash` method: openssl's own computation from the public key agrees.
        let ourSKID = try keyIDLine(ours.rootCertPath, extension: "X509v3 Subject Key Identifier")
        let pub = tmp.sub("root-pub.der")
        try Tool.run(["openssl", "x509", "-noout", "-pubkey", "-in", ours.rootCertPath, "-out", tmp.sub("root-pub.pem")])
        try Tool.run(["openssl", "pkey", "-pubin", "-in", tmp.sub("root-pub.pem"), "-outform", "DER", "-out", pub])
        // SubjectPublicKeyInfo DER → BIT STRING content: `asn1parse -strparse` of the bit string, hashed.
        let spki = try Tool.run(["openssl", "asn1parse", "-inform", "DER", "-in", pub])
        let bitStringOffset = try #require(spki.split(separator: "\n").last { $0.contains("BIT STRING") }?
            .split(separator: ":").first?.trimmingCharacters(in: .whitespaces))
        try Tool.run(["openssl", "asn1parse", "-inform", "DER", "-in", pub, "-strparse", bitStringOffset, "-noout",
                      "-out", tmp.sub("bits.der")])
        let sha1 = try Tool.run(["openssl", "dgst", "-sha1", "-r", tmp.sub("bits.der")]).split(separator: " ").first.map(String.init) ?? ""
        #expect(ourSKID?.replacingOccurrences(of: ":", with: "").lowercased() == sha1)

        // Both chains pass the strict verifier.
        for dir in [issued.files.directory, (refDir as NSString).appendingPathComponent("cluster1")] {
            let out = try Tool.run(["openssl", "verify", "-x509_strict", "-CAfile", "\(dir)/root-cert.pem",
                                    "-untrusted", "\(dir)/cert-chain.pem", "\(dir)/ca-cert.pem"])
            #expect(out.contains("ca-cert.pem: OK"))
        }
    }

    @Test("without AKID (exactly what OpenSSL 1.1.1 made) the chain fails -x509_strict: why seed-2021 keeps the AKID",
          .enabled(if: Tool.hasOpenSSL, "needs the openssl binary as the reference"))
    func noAKIDFailsStrict() throws {
        var exact = CAProfile.seed2021.with(keyAlgorithm: .p256)
        exact.intermediateHasAuthorityKeyIdentifier = false
        let (tmp, paths) = try makeLab()
        defer { tmp.cleanup() }
        let c1 = try MeshCA.ensureRoot(in: paths, profile: exact).issueIntermediate(cluster: "cluster1")
        #expect(try CertShape.read(c1.files.caCert).hasAuthorityKeyIdentifier == false)
        let f = c1.files
        let strict = #expect(throws: Tool.Failure.self) {
            try Tool.run(["openssl", "verify", "-x509_strict", "-CAfile", f.rootCert, f.caCert])
        }
        #expect(strict?.output.contains("Missing Authority Key Identifier") == true)
        #expect(try Tool.run(["openssl", "verify", "-CAfile", f.rootCert, f.caCert]).contains("OK"))
    }

    @Test("seed-2021 (Istio 1.10.1, PKCS#1 keys) matches the Makefile, RSA-2048 for speed",
          .enabled(if: Tool.hasOpenSSL, "needs the openssl binary as the reference"))
    func seedProfile() throws {
        try compare(profile: .seed2021, bits: 2048)
    }

    @Test("current (Istio 1.30 on OpenSSL 3) matches the Makefile with the real RSA-4096 keys",
          .enabled(if: Tool.hasOpenSSL, "needs the openssl binary as the reference"))
    func currentProfileFullSize() throws {
        try compare(profile: .current, bits: 4096)
    }

    @Test("serials are positive and at most 20 octets, as openssl reads them",
          .enabled(if: Tool.hasOpenSSL, "needs the openssl binary as the reference"))
    func serials() throws {
        let (tmp, paths) = try makeLab()
        defer { tmp.cleanup() }
        let ca = try MeshCA.ensureRoot(in: paths, profile: CAProfile.current.with(keyAlgorithm: .p256))
        let issued = try ca.issueIntermediate(cluster: "cluster1")
        for path in [ca.rootCertPath, issued.files.caCert] {
            let hex = try serialHex(path)
            #expect(hex.count <= 40 && !hex.isEmpty)
            #expect((Int(String(try #require(hex.first)), radix: 16) ?? 8) < 8, "serial \(hex) has its sign bit set")
        }
        #expect(try serialHex(ca.rootCertPath) != serialHex(issued.files.caCert))
        for _ in 0..<2000 {
            // `bytes` is the unsigned magnitude; DER adds a 0x00 octet when its top bit is set.
            let bytes = Array(randomSerial().bytes)
            let derOctets = bytes.count + ((bytes.first ?? 0) & 0x80 != 0 ? 1 : 0)
            #expect(derOctets <= 20 && !bytes.isEmpty)
        }
    }
}

// MARK: - Layout, reuse, re-issue, modes

@Suite("Istio CA files in the lab's state directory")
struct MeshCAFilesTests {
    let profile = CAProfile.current.with(keyAlgorithm: .p256)

    @Test("two clusters share the root byte for byte; their intermediates differ; both chains verify",
          .enabled(if: Tool.hasOpenSSL, "verifies with the openssl binary"))
    func twoClusters() throws {
        let (tmp, paths) = try makeLab()
        defer { tmp.cleanup() }
        let ca = try MeshCA.ensureRoot(in: paths, profile: profile)
        let c1 = try ca.issueIntermediate(cluster: "cluster1")
        let c2 = try ca.issueIntermediate(cluster: "cluster2")

        #expect(try fileText(c1.files.rootCert) == fileText(c2.files.rootCert))
        #expect(try fileText(c1.files.rootCert) == fileText(ca.rootCertPath))
        #expect(try fileText(c1.files.caCert) != fileText(c2.files.caCert))
        #expect(c1.certificate.publicKey != c2.certificate.publicKey)
        #expect(c1.certificate.serialNumber != c2.certificate.serialNumber)
        #expect(try CertShape.read(c2.files.caCert).subject == "O = Istio, CN = Intermediate CA, L = cluster2")
        // cert-chain.pem: intermediate first, then the root
        #expect(try fileText(c1.files.certChain) == fileText(c1.files.caCert) + fileText(c1.files.rootCert))
        for c in [c1, c2] {
            let out = try Tool.run(["openssl", "verify", "-x509_strict", "-CAfile", c.files.rootCert,
                                    "-untrusted", c.files.certChain, c.files.caCert])
            #expect(out.contains("OK"))
        }
        // cluster1's root verifies cluster2's intermediate: one trust domain.
        #expect(try Tool.run(["openssl", "verify", "-x509_strict", "-CAfile", c1.files.rootCert, c2.files.caCert]).contains("OK"))
        // the key in ca-key.pem is the one in ca-cert.pem
        let certPub = try Tool.run(["openssl", "x509", "-noout", "-pubkey", "-in", c1.files.caCert])
        let keyPub = try Tool.run(["openssl", "pkey", "-pubout", "-in", c1.files.caKey])
        #expect(certPub == keyPub)

        let report = try MeshCA.verifyTrust(in: paths, clusters: ["cluster1", "cluster2"])
        #expect(report.isTrusted, "\(report.problems)")
        #expect(report.clusters.map(\.cluster) == ["cluster1", "cluster2"])
        #expect(report.rootFingerprint == (try sha256Fingerprint(of: ca.root)))
    }

    @Test("the fingerprint is openssl's SHA-256 fingerprint", .enabled(if: Tool.hasOpenSSL, "compares with openssl"))
    func fingerprint() throws {
        let (tmp, paths) = try makeLab()
        defer { tmp.cleanup() }
        let ca = try MeshCA.ensureRoot(in: paths, profile: profile)
        let out = try Tool.run(["openssl", "x509", "-noout", "-fingerprint", "-sha256", "-in", ca.rootCertPath])
        #expect(out.trimmingCharacters(in: .whitespacesAndNewlines).hasSuffix("=" + (try sha256Fingerprint(of: ca.root))))
    }

    @Test("ensureRoot reuses an existing root and leaves its files untouched")
    func rootIsReused() throws {
        let (tmp, paths) = try makeLab()
        defer { tmp.cleanup() }
        let first = try MeshCA.ensureRoot(in: paths, profile: profile)
        let cert = try fileText(first.rootCertPath), key = try fileText(first.rootKeyPath)
        // Another profile (other key type) must not cause a new root either.
        let second = try MeshCA.ensureRoot(in: paths, profile: CAProfile.seed2021.with(keyAlgorithm: .rsa(bits: 2048)))
        #expect(second.root == first.root)
        #expect(try fileText(first.rootCertPath) == cert)
        #expect(try fileText(first.rootKeyPath) == key)
    }

    @Test("re-issuing cluster2 keeps the root and cluster1 byte-identical")
    func reissueKeepsOthers() throws {
        let (tmp, paths) = try makeLab()
        defer { tmp.cleanup() }
        let ca = try MeshCA.ensureRoot(in: paths, profile: profile)
        let c1 = try ca.issueIntermediate(cluster: "cluster1")
        let c2 = try ca.issueIntermediate(cluster: "cluster2")
        let before = try (c1.files.all + [ca.rootCertPath, ca.rootKeyPath]).map { try fileText($0) }
        let c2Before = try fileText(c2.files.caCert)

        // rebuild cluster2: a new process loads the root and issues again
        let again = try MeshCA.ensureRoot(in: paths, profile: profile)
        let c2New = try again.issueIntermediate(cluster: "cluster2")

        let after = try (c1.files.all + [ca.rootCertPath, ca.rootKeyPath]).map { try fileText($0) }
        #expect(after == before)
        #expect(try fileText(c2New.files.caCert) != c2Before)
        #expect(try fileText(c2New.files.rootCert) == fileText(c1.files.rootCert))
        #expect(try MeshCA.verifyTrust(in: paths, clusters: ["cluster1", "cluster2"]).isTrusted)
    }

    @Test("keys are 0600, certificates 0644, directories 0700, no temp files left")
    func modes() throws {
        let (tmp, paths) = try makeLab()
        defer { tmp.cleanup() }
        let ca = try MeshCA.ensureRoot(in: paths, profile: profile)
        let c1 = try ca.issueIntermediate(cluster: "cluster1")
        _ = try ca.issueIntermediate(cluster: "cluster1")  // the re-issue path renames over existing files
        #expect(try mode(ca.rootKeyPath) == 0o600)
        #expect(try mode(c1.files.caKey) == 0o600)
        #expect(try mode(ca.rootCertPath) == 0o644)
        #expect(try mode(c1.files.caCert) == 0o644)
        #expect(try mode(c1.files.certChain) == 0o644)
        #expect(try mode(paths.pki) == 0o700)
        #expect(try mode(c1.files.directory) == 0o700)
        let leftovers = try FileManager.default.subpathsOfDirectory(atPath: paths.pki).filter { $0.contains(".tmp-") }
        #expect(leftovers.isEmpty)
        #expect(try FileManager.default.contentsOfDirectory(atPath: c1.files.directory).sorted()
                == ["ca-cert.pem", "ca-key.pem", "cert-chain.pem", "root-cert.pem"])
    }

    @Test("cluster names that are not DNS labels are refused", arguments: ["", "../x", "Cluster1", "a/b", "-x", "retired"])
    func badClusterNames(name: String) throws {
        let (tmp, paths) = try makeLab()
        defer { tmp.cleanup() }
        let ca = try MeshCA.ensureRoot(in: paths, profile: profile)
        #expect(labError { try ca.issueIntermediate(cluster: name) }?.code == .invalidInput)
    }
}

// MARK: - A root that cannot be trusted is an error, never regenerated

@Suite("Istio root CA problems")
struct RootProblemTests {
    let profile = CAProfile.current.with(keyAlgorithm: .p256)

    /// Runs ensureRoot on a damaged root and checks it fails with `code` and leaves the files as they were.
    func expectRefused(_ paths: LabPaths, code: LabError.Code, _ comment: Comment) throws {
        let certPath = (paths.pki as NSString).appendingPathComponent("root-cert.pem")
        let keyPath = (paths.pki as NSString).appendingPathComponent("root-key.pem")
        let before = [try? fileText(certPath), try? fileText(keyPath)]
        let error = labError { _ = try MeshCA.ensureRoot(in: paths, profile: profile) }
        #expect(error?.code == code, comment)
        #expect(error?.hint?.contains(MeshCA.replaceRootCommand) == true, "the hint names the explicit way out")
        #expect([try? fileText(certPath), try? fileText(keyPath)] == before, "the damaged root was left as it was")
    }

    @Test("a corrupted root-cert.pem is an error")
    func corruptedCert() throws {
        let (tmp, paths) = try makeLab()
        defer { tmp.cleanup() }
        let ca = try MeshCA.ensureRoot(in: paths, profile: profile)
        let lines = try fileText(ca.rootCertPath).split(separator: "\n")
        // keep the BEGIN/END lines, lose half of the base64 body: a truncated file
        let body = lines.dropFirst().dropLast()
        let damaged = ([lines[0]] + body.prefix(body.count / 2) + [lines[lines.count - 1]]).joined(separator: "\n") + "\n"
        try damaged.write(toFile: ca.rootCertPath, atomically: true, encoding: .utf8)
        try expectRefused(paths, code: .conflict, "unreadable or badly signed root")
    }

    @Test("a root key from another root is an error")
    func mismatchedKey() throws {
        let (tmp, paths) = try makeLab()
        defer { tmp.cleanup() }
        let (otherTmp, otherPaths) = try makeLab()
        defer { otherTmp.cleanup() }
        let ca = try MeshCA.ensureRoot(in: paths, profile: profile)
        let other = try MeshCA.ensureRoot(in: otherPaths, profile: profile)
        try fileText(other.rootKeyPath).write(toFile: ca.rootKeyPath, atomically: true, encoding: .utf8)
        try expectRefused(paths, code: .security, "key does not match the certificate")
    }

    @Test("a root made by someone else (other subject) is an error")
    func foreignSubject() throws {
        let (tmp, paths) = try makeLab()
        defer { tmp.cleanup() }
        var foreign = profile
        foreign.rootCommonName = "Not Istio"
        _ = try MeshCA.ensureRoot(in: paths, profile: foreign)
        try expectRefused(paths, code: .conflict, "subject mismatch")
    }

    @Test("half a root (key without certificate) is an error")
    func incomplete() throws {
        let (tmp, paths) = try makeLab()
        defer { tmp.cleanup() }
        let ca = try MeshCA.ensureRoot(in: paths, profile: profile)
        try FileManager.default.removeItem(atPath: ca.rootCertPath)
        try expectRefused(paths, code: .conflict, "incomplete root")
    }

    @Test("an expired root is an error")
    func expired() throws {
        let (tmp, paths) = try makeLab()
        defer { tmp.cleanup() }
        _ = try MeshCA.ensureRoot(in: paths, profile: profile, now: Date(timeIntervalSinceNow: -3651 * 86_400))
        try expectRefused(paths, code: .conflict, "expired root")
    }

    @Test("load without a root says so")
    func missing() throws {
        let (tmp, paths) = try makeLab()
        defer { tmp.cleanup() }
        #expect(labError { _ = try MeshCA.load(in: paths, profile: profile) }?.code == .notFound)
    }
}

// MARK: - Replacing the root, and the trust check

@Suite("Replacing the root and checking trust")
struct TrustTests {
    let profile = CAProfile.current.with(keyAlgorithm: .p256)

    @Test("replaceRoot keeps the old root, names every stale cluster, and trust fails until they are re-issued")
    func replaceRoot() throws {
        let (tmp, paths) = try makeLab()
        defer { tmp.cleanup() }
        let ca = try MeshCA.ensureRoot(in: paths, profile: profile)
        try ca.issueIntermediate(cluster: "cluster1")
        try ca.issueIntermediate(cluster: "cluster2")
        let oldPEM = try fileText(ca.rootCertPath)

        let (newCA, replacement) = try MeshCA.replaceRoot(in: paths, profile: profile)
        #expect(newCA.root != ca.root)
        #expect(replacement.oldRootFingerprint == (try sha256Fingerprint(of: ca.root)))
        #expect(replacement.newRootFingerprint == (try sha256Fingerprint(of: newCA.root)))
        #expect(replacement.staleClusters == ["cluster1", "cluster2"])
        let retired = try #require(replacement.retiredTo)
        #expect(try fileText((retired as NSString).appendingPathComponent("root-cert.pem")) == oldPEM)
        #expect(try mode((retired as NSString).appendingPathComponent("root-key.pem")) == 0o600)
        #expect(replacement.consequences.joined().contains("cluster1, cluster2"))
        #expect(replacement.consequences.joined().contains("Restart istiod"))
        #expect(try MeshCA.issuedClusters(in: paths) == ["cluster1", "cluster2"])

        let broken = try MeshCA.verifyTrust(in: paths, clusters: ["cluster1", "cluster2"])
        #expect(!broken.isTrusted)
        #expect(broken.problems.contains { $0.message.contains("cluster1 holds a root-cert.pem that differs") })
        #expect(broken.problems.contains { $0.message.contains("cluster2's ca-cert.pem is not signed by the shared root") })

        try newCA.issueIntermediate(cluster: "cluster1")
        try newCA.issueIntermediate(cluster: "cluster2")
        #expect(try MeshCA.verifyTrust(in: paths, clusters: ["cluster1", "cluster2"]).isTrusted)
        // and a later ensureRoot reuses the new root
        #expect(try MeshCA.ensureRoot(in: paths, profile: profile).root == newCA.root)
    }

    @Test("the seed's 12.4 check is wrong: ca-cert.pem differs while trust holds; root-cert.pem is what matters")
    func seedCheck() throws {
        let (tmp, paths) = try makeLab()
        defer { tmp.cleanup() }
        let ca = try MeshCA.ensureRoot(in: paths, profile: profile)
        let c1 = try ca.issueIntermediate(cluster: "cluster1")
        let c2 = try ca.issueIntermediate(cluster: "cluster2")
        #expect(try fileText(c1.files.caCert) != fileText(c2.files.caCert))  // what the seed diffed
        let m1 = try ClusterCAMaterial.read(cluster: "cluster1", in: paths)
        let m2 = try ClusterCAMaterial.read(cluster: "cluster2", in: paths)
        #expect(MeshCA.verifyTrust([m1, m2]).isTrusted)
    }

    @Test("a cluster with its own root (istiod self-signed, or another lab's CA) is caught")
    func foreignRoot() throws {
        let (tmp, paths) = try makeLab()
        defer { tmp.cleanup() }
        let (otherTmp, otherPaths) = try makeLab()
        defer { otherTmp.cleanup() }
        let ca = try MeshCA.ensureRoot(in: paths, profile: profile)
        try ca.issueIntermediate(cluster: "cluster1")
        let other = try MeshCA.ensureRoot(in: otherPaths, profile: profile)
        try other.issueIntermediate(cluster: "cluster2")
        let m1 = try ClusterCAMaterial.read(cluster: "cluster1", in: paths)
        let m2 = try ClusterCAMaterial.read(cluster: "cluster2", in: otherPaths)
        let report = MeshCA.verifyTrust([m1, m2])
        #expect(!report.isTrusted)
        #expect(report.problems.allSatisfy { $0.message.hasPrefix("cluster2") })
        #expect(report.problems.contains { $0.message.contains("differs from cluster1's") })
        #expect(report.problems.first?.hint?.contains("re-issue cluster2") == true)
        #expect(throws: LabErrors.self) { try report.check() }
    }

    @Test("a chain in the wrong order and a key of another cluster are caught")
    func brokenFiles() throws {
        let (tmp, paths) = try makeLab()
        defer { tmp.cleanup() }
        let ca = try MeshCA.ensureRoot(in: paths, profile: profile)
        try ca.issueIntermediate(cluster: "cluster1")
        try ca.issueIntermediate(cluster: "cluster2")
        var m1 = try ClusterCAMaterial.read(cluster: "cluster1", in: paths)
        let m2 = try ClusterCAMaterial.read(cluster: "cluster2", in: paths)
        m1.certChainPEM = m1.rootCertPEM + m1.caCertPEM
        m1.caKeyPEM = m2.caKeyPEM
        let report = MeshCA.verifyTrust([m1, m2])
        #expect(report.problems.map(\.message).sorted() == [
            "cluster1's ca-key.pem does not belong to its ca-cert.pem",
            "cluster1's cert-chain.pem is not ca-cert.pem followed by root-cert.pem",
        ])
        #expect(throws: LabErrors.self) { try report.check() }
    }

    @Test("a missing cluster directory is reported, not crashed on")
    func missingCluster() throws {
        let (tmp, paths) = try makeLab()
        defer { tmp.cleanup() }
        let ca = try MeshCA.ensureRoot(in: paths, profile: profile)
        try ca.issueIntermediate(cluster: "cluster1")
        let report = try MeshCA.verifyTrust(in: paths, clusters: ["cluster1", "cluster2"])
        #expect(report.problems.map(\.code) == [.notFound])
    }
}

// MARK: - Profiles

@Suite("CA profiles")
struct CAProfileTests {
    @Test func namedProfiles() throws {
        let seed = try CAProfile.named("seed-2021")
        #expect(seed.intermediateValidityDays == 730 && seed.rootValidityDays == 3650)
        #expect(seed.keyPEMFormat == .pkcs1 && seed.intermediateHasAuthorityKeyIdentifier)
        #expect(seed.keyAlgorithm == .rsa(bits: 4096))
        let current = try CAProfile.named("current")
        #expect(current.intermediateValidityDays == 3650 && current.keyPEMFormat == .pkcs8)
        #expect(current.intermediateHasAuthorityKeyIdentifier && current.keyAlgorithm == .rsa(bits: 4096))
    }

    @Test("an istio version override picks the Makefile's INTERMEDIATE_DAYS of that version",
          arguments: [("1.10.1", 730), ("1.17.8", 730), ("1.18.0", 3650), ("1.30.3", 3650), ("2.0.0", 3650)])
    func versionOverride(version: String, days: Int) throws {
        #expect(try CAProfile.named("seed-2021", istioVersion: version).intermediateValidityDays == days)
        #expect(try CAProfile.named("current", istioVersion: version).intermediateValidityDays == days)
    }

    @Test func badInput() {
        #expect(labError { _ = try CAProfile.named("2019") }?.code == .invalidInput)
        #expect(labError { _ = try CAProfile.named("current", istioVersion: "latest") }?.location?.description == "lab.json: versions.istio")
    }
}
