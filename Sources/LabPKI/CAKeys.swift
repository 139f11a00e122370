import Crypto
import _CryptoExtras
import Foundation
import LabKit
import X509

/// A CA's private key together with the form it is written in.
struct CAKey: Sendable {
    var key: Certificate.PrivateKey
    /// The PEM text written to `root-key.pem` / `ca-key.pem`.
    var pem: String

    /// Generates a key as `openssl genrsa <bits>` would (e=65537), written in `format`.
    static func generate(_ algorithm: CAProfile.KeyAlgorithm, format: CAProfile.KeyPEMFormat) throws -> CAKey {
        switch algorithm {
        case .rsa(let bits):
            let size: _RSA.Signing.KeySize
            switch bits {
            case 2048: size = .bits2048
            case 3072: size = .bits3072
            case 4096: size = .bits4096
            default:
                throw LabError(.invalidInput, "RSA key size \(bits) is not supported for the Istio CA",
                               hint: "use 2048, 3072 or 4096 bits (Istio's Makefile uses 4096)")
            }
            let rsa = try _RSA.Signing.PrivateKey(keySize: size)
            let pem = format == .pkcs1 ? rsa.pemRepresentation : rsa.pkcs8PEMRepresentation
            return CAKey(key: Certificate.PrivateKey(rsa), pem: terminated(pem))
        case .p256:
            let ec = P256.Signing.PrivateKey()
            return CAKey(key: Certificate.PrivateKey(ec), pem: terminated(ec.pemRepresentation))
        }
    }

    /// Reads a key PEM: `RSA PRIVATE KEY` (PKCS#1), `PRIVATE KEY` (PKCS#8) or `EC PRIVATE KEY`,
    /// the three istiod accepts (docs/pki.md, "Upstream sources").
    static func parse(_ pem: String, path: String) throws -> CAKey {
        do {
            return CAKey(key: try Certificate.PrivateKey(pemEncoded: pem), pem: pem)
        } catch {
            throw LabError(.conflict, "\(path) does not hold a readable private key", location: .file(path),
                           cause: error)
        }
    }

    /// The signature algorithm OpenSSL's `default_md = sha256` picks for this key
    /// (`Certificate.PrivateKey.defaultSignatureAlgorithm` is internal in swift-certificates).
    var signatureAlgorithm: Certificate.SignatureAlgorithm {
        _RSA.Signing.PublicKey(key.publicKey) != nil ? .sha256WithRSAEncryption : .ecdsaWithSHA256
    }
}

/// PEM files end with a newline, so that `cat a.pem b.pem` (the Makefile's cert-chain.pem) is
/// two well-formed blocks.
func terminated(_ pem: String) -> String { pem.hasSuffix("\n") ? pem : pem + "\n" }

/// Parses one certificate PEM, naming the file when it cannot.
func parseCertificate(_ pem: String, path: String) throws -> Certificate {
    do {
        return try Certificate(pemEncoded: pem)
    } catch {
        throw LabError(.conflict, "\(path) does not hold a readable certificate", location: .file(path), cause: error)
    }
}

/// Splits a PEM bundle (cert-chain.pem) into its certificates, in file order.
func parseCertificates(_ pem: String, path: String) throws -> [Certificate] {
    let begin = "-----BEGIN CERTIFICATE-----", end = "-----END CERTIFICATE-----"
    var blocks: [String] = []
    var rest = pem[...]
    while let start = rest.range(of: begin) {
        guard let stop = rest.range(of: end, range: start.upperBound..<rest.endIndex) else {
            throw LabError(.conflict, "\(path) has a certificate without its END line", location: .file(path))
        }
        blocks.append(String(rest[start.lowerBound..<stop.upperBound]))
        rest = rest[stop.upperBound...]
    }
    return try blocks.map { try parseCertificate($0, path: path) }
}

/// A random serial as RFC 5280 §4.1.2.2 wants it: positive and at most 20 octets.
///
/// `Certificate.SerialNumber()` draws 20 bytes and may need a 21st octet for the sign
/// (docs/pki.md, "Upstream sources"); clearing the top bit keeps it to 20, like OpenSSL 3's 159-bit serials.
func randomSerial() -> Certificate.SerialNumber {
    var rng = SystemRandomNumberGenerator()
    var bytes = (0..<20).map { _ in UInt8.random(in: 0...255, using: &rng) }
    bytes[0] &= 0x7F
    // Leading zero octets are dropped by SerialNumber (DER minimal form); an all-zero draw
    // (probability 2^-159) would give serial 0, which RFC 5280 forbids.
    if bytes.allSatisfy({ $0 == 0 }) { bytes[19] = 1 }
    return Certificate.SerialNumber(bytes: bytes)
}

/// The SHA-256 fingerprint of a certificate, as `openssl x509 -noout -fingerprint -sha256`
/// prints it (upper-case hex, colon-separated).
public func sha256Fingerprint(of certificate: Certificate) throws -> String {
    return SHA256.hash(data: try certificate.serializeAsPEM().derBytes)
        .map { byte in
            let hex = String(byte, radix: 16, uppercase: true)
            return hex.count == 1 ? "0" + hex : hex
        }
        .joined(separator: ":")
}

/// Whole seconds: certificate times are encoded to the second (UTCTime), and OpenSSL
/// counts validity from the current second.
func wholeSeconds(_ date: Date) -> Date {
    Date(timeIntervalSince1970: date.timeIntervalSince1970.rounded(.down))
}
