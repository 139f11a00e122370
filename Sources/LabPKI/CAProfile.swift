import LabKit

/// What the lab's Istio CA looks like: the contents Istio's `tools/certs` Makefiles produce
/// for one Istio version and one OpenSSL era (docs/pki.md, "What the certificates contain").
///
/// Both profiles share what never changed in the Makefiles: RSA-4096 keys, subjects
/// `O=Istio, CN=Root CA` and `O=Istio, CN=Intermediate CA, L=<cluster>`, a 3650-day root,
/// sha256WithRSAEncryption, SKID `hash`, critical basicConstraints (pathlen 0 on the
/// intermediate), critical keyUsage digitalSignature+nonRepudiation+keyEncipherment+keyCertSign,
/// and the SAN `DNS:istiod.istio-system.svc` on the intermediate.
public struct CAProfile: Sendable, Hashable {
    /// The key the root and every intermediate get.
    public enum KeyAlgorithm: Sendable, Hashable, CustomStringConvertible {
        /// RSA with e=65537, as `openssl genrsa <bits>` makes it.
        case rsa(bits: Int)
        /// ECDSA P-256: not what Istio's Makefile makes; only for fast unit tests
        /// (an RSA-4096 key takes ~1.6 s in a debug build, docs/pki.md). Its key PEM is
        /// always PKCS#8, whatever `keyPEMFormat` says (PKCS#1 is RSA-only).
        case p256

        public var description: String {
            switch self {
            case .rsa(let bits): return "RSA-\(bits)"
            case .p256: return "ECDSA P-256"
            }
        }
    }

    /// How private keys are written.
    public enum KeyPEMFormat: String, Sendable, Hashable {
        /// `-----BEGIN RSA PRIVATE KEY-----`: what `openssl genrsa` writes with OpenSSL 1.1.1.
        case pkcs1
        /// `-----BEGIN PRIVATE KEY-----`: what `openssl genrsa` writes with OpenSSL 3.
        case pkcs8
    }

    /// `seed-2021` or `current` (lab.json `profile`), or a test profile's name.
    public var name: String
    /// The Istio version whose Makefile this profile follows (documentation only).
    public var istioVersion: String
    public var keyAlgorithm: KeyAlgorithm
    /// `ROOTCA_DAYS`.
    public var rootValidityDays: Int
    /// `INTERMEDIATE_DAYS`: 730 up to Istio 1.17, 3650 since 1.18 (istio/istio commit dedfe35a4c6).
    public var intermediateValidityDays: Int
    public var keyPEMFormat: KeyPEMFormat
    /// Whether the intermediate carries an authorityKeyIdentifier (keyid = root SKID).
    /// The Makefile's config never asks for one; OpenSSL 3 adds it by default to
    /// certificates that are not self-signed, OpenSSL 1.1.1 does not (x509v3_config(5)).
    public var intermediateHasAuthorityKeyIdentifier: Bool

    public var organization = "Istio"
    public var rootCommonName = "Root CA"
    public var intermediateCommonName = "Intermediate CA"
    /// `INTERMEDIATE_SAN_DNS`: the name istiod serves its CA under. DNS only, no URI SAN.
    public var istiodSAN = "istiod.istio-system.svc"

    public init(name: String, istioVersion: String, keyAlgorithm: KeyAlgorithm, rootValidityDays: Int,
                intermediateValidityDays: Int, keyPEMFormat: KeyPEMFormat,
                intermediateHasAuthorityKeyIdentifier: Bool) {
        self.name = name
        self.istioVersion = istioVersion
        self.keyAlgorithm = keyAlgorithm
        self.rootValidityDays = rootValidityDays
        self.intermediateValidityDays = intermediateValidityDays
        self.keyPEMFormat = keyPEMFormat
        self.intermediateHasAuthorityKeyIdentifier = intermediateHasAuthorityKeyIdentifier
    }

    /// The seed guide's CA: `make -f ~/istio-1.10.1/tools/certs/Makefile.selfsigned.mk` run on the
    /// guide's Ubuntu 20.04.2 host, whose OpenSSL is 1.1.1f.
    ///
    /// Choice: follow Istio 1.10.1's Makefile (intermediate 730 days, `INTERMEDIATE_DAYS`) and
    /// the 1.1.1 key format (`openssl genrsa` writes PKCS#1, `BEGIN RSA PRIVATE KEY`), but keep
    /// the authorityKeyIdentifier that OpenSSL 1.1.1 left out. Without it the intermediate
    /// breaks RFC 5280 §4.2.1.1 (AKID MUST be present in certificates a CA issues) and
    /// `openssl verify -x509_strict` (OpenSSL 3) rejects the chain with "error 85: Missing
    /// Authority Key Identifier" (the tests show both). istiod 1.10 does not care either way
    /// (Go's `x509.Verify` chains by name and signature, docs/pki.md "Upstream sources"), so the AKID costs
    /// nothing and makes the chain pass strict checkers. Set
    /// `intermediateHasAuthorityKeyIdentifier = false` to get the exact 1.1.1 output.
    public static let seed2021 = CAProfile(
        name: "seed-2021", istioVersion: "1.10.1", keyAlgorithm: .rsa(bits: 4096),
        rootValidityDays: 3650, intermediateValidityDays: 730, keyPEMFormat: .pkcs1,
        intermediateHasAuthorityKeyIdentifier: true)

    /// Today's Makefile (Istio 1.30) under OpenSSL 3: intermediate 3650 days, PKCS#8 keys,
    /// AKID keyid on the intermediate.
    public static let current = CAProfile(
        name: "current", istioVersion: "1.30.3", keyAlgorithm: .rsa(bits: 4096),
        rootValidityDays: 3650, intermediateValidityDays: 3650, keyPEMFormat: .pkcs8,
        intermediateHasAuthorityKeyIdentifier: true)

    /// The profile for lab.json's `profile`, with the intermediate's validity following an
    /// `istio` version override (`versions: {"istio": "1.17.2"}` → 730 days).
    public static func named(_ name: String, istioVersion: String? = nil) throws -> CAProfile {
        var profile: CAProfile
        switch name {
        case seed2021.name: profile = seed2021
        case current.name: profile = current
        default:
            throw LabError(.invalidInput, "unknown profile '\(name)' for the Istio CA",
                           location: .lab("profile"), hint: "use \"seed-2021\" or \"current\"")
        }
        if let istioVersion {
            let parts = istioVersion.split(separator: ".").compactMap { Int($0) }
            guard parts.count >= 2 else {
                throw LabError(.invalidInput, "cannot read Istio version '\(istioVersion)'",
                               location: .lab("versions.istio"), hint: "write it as MAJOR.MINOR.PATCH, e.g. 1.10.1")
            }
            profile.istioVersion = istioVersion
            // The Makefile's INTERMEDIATE_DAYS went from 730 to 3650 in 1.18 (commit dedfe35a4c6).
            profile.intermediateValidityDays = (parts[0], parts[1]) < (1, 18) ? 730 : 3650
        }
        return profile
    }

    /// The same profile with another key: tests use `.p256` or `.rsa(bits: 2048)` for speed.
    public func with(keyAlgorithm: KeyAlgorithm) -> CAProfile {
        var copy = self
        copy.keyAlgorithm = keyAlgorithm
        return copy
    }
}
