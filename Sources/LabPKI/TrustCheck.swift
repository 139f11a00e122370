import Foundation
import LabKit
import X509

/// One cluster's CA files as text: read from `<pki>/<cluster>/` or from the cluster's
/// `istio-system/cacerts` secret (the corrected seed step 12.4 compares what the clusters hold).
public struct ClusterCAMaterial: Sendable, Hashable {
    public var cluster: String
    public var rootCertPEM: String
    public var caCertPEM: String
    public var certChainPEM: String
    /// Optional: checked against ca-cert.pem when present.
    public var caKeyPEM: String?
    /// Where the files came from, for error locations (a directory, or `secret cacerts in <context>`).
    public var source: String

    public init(cluster: String, rootCertPEM: String, caCertPEM: String, certChainPEM: String,
                caKeyPEM: String? = nil, source: String) {
        self.cluster = cluster
        self.rootCertPEM = rootCertPEM
        self.caCertPEM = caCertPEM
        self.certChainPEM = certChainPEM
        self.caKeyPEM = caKeyPEM
        self.source = source
    }

    /// Reads `<pki>/<cluster>/{root-cert,ca-cert,cert-chain,ca-key}.pem`.
    public static func read(cluster: String, in paths: LabPaths) throws -> ClusterCAMaterial {
        let files = ClusterCA.Files(directory: MeshCA.clusterDirectory(cluster, in: paths))
        func need(_ path: String) throws -> String {
            guard let text = try SecureFile.read(path) else {
                throw LabError(.notFound, "cluster \(cluster) has no \((path as NSString).lastPathComponent)",
                               location: .file(path), hint: "issue the cluster's intermediate CA first (`labctl up` does)")
            }
            return text
        }
        return ClusterCAMaterial(cluster: cluster, rootCertPEM: try need(files.rootCert), caCertPEM: try need(files.caCert),
                                 certChainPEM: try need(files.certChain), caKeyPEM: try SecureFile.read(files.caKey),
                                 source: files.directory)
    }
}

/// The outcome of a trust check: every problem found, not just the first.
public struct TrustReport: Sendable {
    public struct ClusterEntry: Sendable, Hashable {
        public var cluster: String
        public var intermediateFingerprint: String
        public var intermediateNotAfter: Date
    }

    /// SHA-256 fingerprint of the shared root (of the first cluster's root when they differ).
    public var rootFingerprint: String?
    public var clusters: [ClusterEntry]
    public var problems: [LabError]

    public var isTrusted: Bool { problems.isEmpty }

    /// Throws the problem (or all of them) when the mesh's trust is broken.
    public func check() throws {
        if problems.count == 1, let only = problems.first { throw only }
        if !problems.isEmpty { throw LabErrors(problems) }
    }
}

extension MeshCA {
    /// The corrected seed step 12.4 on the lab's own files: every cluster's `root-cert.pem` is
    /// byte-identical to the lab root, and each intermediate chains to it.
    public static func verifyTrust(in paths: LabPaths, clusters: [String], now: Date = Date()) throws -> TrustReport {
        var materials: [ClusterCAMaterial] = []
        var problems: [LabError] = []
        for cluster in clusters {
            do { materials.append(try ClusterCAMaterial.read(cluster: cluster, in: paths)) } catch let e as LabError { problems.append(e) }
        }
        let labRoot = try SecureFile.read(rootCertPath(paths))
        var report = verifyTrust(materials, expectedRootPEM: labRoot, now: now)
        report.problems.insert(contentsOf: problems, at: 0)
        return report
    }

    /// The corrected seed step 12.4: the seed compared `ca-cert.pem`, which differs by design
    /// (own key, serial and `L=`); what must match is `root-cert.pem`, the trust anchor istiod
    /// hands to workloads (docs/pki.md, "What must match across clusters"). Then each intermediate must chain to that root:
    /// issuer name, signature by the root's key, validity, CA with pathlen 0, cert-chain.pem =
    /// ca-cert.pem + root-cert.pem, and ca-key.pem belonging to ca-cert.pem (istiod's own
    /// `KeyCertBundle.Verify` checks, docs/pki.md "Upstream sources").
    ///
    /// - Parameter expectedRootPEM: the lab's `root-cert.pem`; when given, every cluster must hold
    ///   exactly these bytes (a cluster still on a replaced root is caught here).
    public static func verifyTrust(_ materials: [ClusterCAMaterial], expectedRootPEM: String? = nil,
                                   now: Date = Date()) -> TrustReport {
        var problems: [LabError] = []
        var entries: [TrustReport.ClusterEntry] = []
        let reissue = { (cluster: String) in
            "re-issue \(cluster)'s intermediate under the lab root and recreate its cacerts secret before installing Istio"
        }
        guard let first = materials.first else {
            return TrustReport(rootFingerprint: nil, clusters: [], problems: [
                LabError(.invalidInput, "no cluster to check the Istio trust of")])
        }
        let anchorPEM = expectedRootPEM ?? first.rootCertPEM
        var rootFingerprint: String?
        var root: Certificate?
        do {
            let r = try parseCertificate(anchorPEM, path: expectedRootPEM == nil ? "\(first.source)/root-cert.pem" : "root-cert.pem")
            if r.issuer == r.subject, r.publicKey.isValidSignature(r.signature, for: r) {
                root = r
                rootFingerprint = try? sha256Fingerprint(of: r)
            } else {
                problems.append(LabError(.security, "the root certificate is not self-signed",
                                         location: .file("\(first.source)/root-cert.pem"), hint: reissue(first.cluster)))
            }
        } catch let e as LabError { problems.append(e) } catch { problems.append(LabError(.internalError, "\(error)")) }

        for m in materials {
            let loc = { (file: String) in "\(m.source)/\(file)" }
            if m.rootCertPEM != anchorPEM {
                let what = expectedRootPEM == nil ? "\(first.cluster)'s" : "the lab's"
                problems.append(LabError(.security, "\(m.cluster) holds a root-cert.pem that differs from \(what): the clusters will not trust each other",
                                         location: .file(loc("root-cert.pem")), hint: reissue(m.cluster)))
            }
            let ca: Certificate
            do { ca = try parseCertificate(m.caCertPEM, path: loc("ca-cert.pem")) } catch let e as LabError {
                problems.append(e); continue
            } catch { problems.append(LabError(.internalError, "\(error)")); continue }
            entries.append(TrustReport.ClusterEntry(cluster: m.cluster,
                                                    intermediateFingerprint: (try? sha256Fingerprint(of: ca)) ?? "?",
                                                    intermediateNotAfter: ca.notValidAfter))
            if let root {
                if ca.issuer != root.subject || !root.publicKey.isValidSignature(ca.signature, for: ca) {
                    problems.append(LabError(.security, "\(m.cluster)'s ca-cert.pem is not signed by the shared root",
                                             location: .file(loc("ca-cert.pem")), hint: reissue(m.cluster)))
                }
                if let akid = try? ca.extensions.authorityKeyIdentifier?.keyIdentifier,
                   let skid = try? root.extensions.subjectKeyIdentifier?.keyIdentifier, akid != skid {
                    problems.append(LabError(.security, "\(m.cluster)'s ca-cert.pem names another root key (authorityKeyIdentifier)",
                                             location: .file(loc("ca-cert.pem")), hint: reissue(m.cluster)))
                }
            }
            if !(ca.notValidBefore <= now && now <= ca.notValidAfter) {
                problems.append(LabError(.security, "\(m.cluster)'s intermediate is valid from \(ca.notValidBefore) to \(ca.notValidAfter), not now",
                                         location: .file(loc("ca-cert.pem")), hint: reissue(m.cluster)))
            }
            if case .isCertificateAuthority(let pathLen) = (try? ca.extensions.basicConstraints) ?? .notCertificateAuthority, pathLen == 0 {
                // as the Makefile makes it
            } else {
                problems.append(LabError(.security, "\(m.cluster)'s ca-cert.pem is not a CA with pathlen 0",
                                         location: .file(loc("ca-cert.pem")), hint: reissue(m.cluster)))
            }
            if m.certChainPEM != m.caCertPEM + m.rootCertPEM {
                problems.append(LabError(.security, "\(m.cluster)'s cert-chain.pem is not ca-cert.pem followed by root-cert.pem",
                                         location: .file(loc("cert-chain.pem")), hint: reissue(m.cluster)))
            }
            if let keyPEM = m.caKeyPEM {
                if let key = try? CAKey.parse(keyPEM, path: loc("ca-key.pem")) {
                    if key.key.publicKey != ca.publicKey {
                        problems.append(LabError(.security, "\(m.cluster)'s ca-key.pem does not belong to its ca-cert.pem",
                                                 location: .file(loc("ca-key.pem")), hint: reissue(m.cluster)))
                    }
                } else {
                    problems.append(LabError(.security, "\(m.cluster)'s ca-key.pem is not a readable private key",
                                             location: .file(loc("ca-key.pem")), hint: reissue(m.cluster)))
                }
            }
        }
        return TrustReport(rootFingerprint: rootFingerprint, clusters: entries, problems: problems)
    }
}
