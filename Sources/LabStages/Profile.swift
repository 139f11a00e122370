import Foundation
import LabKit
import Mustache

/// A version profile: every version and download URL one lab uses, in one place.
///
/// Profiles are data (`Resources/profiles/<name>.json`), so a new profile is a
/// new file. URL fields are Mustache templates over `versions` (`{{kubernetes}}`),
/// so lab.json's `versions` map can override a single version and every URL that
/// uses it follows. For each version `x` the derived `xMinor` (`1.36.1` → `1.36`)
/// is available too. Overrides are meant for patch releases: the behaviour
/// switches (`istio.client`, `metallb.config`, …) belong to the profile.
public struct Profile: Sendable, Hashable, Codable {
    public var name: String
    public var summary: String
    /// The effective versions (the profile's, with lab.json's overrides applied).
    public var versions: [String: String]
    public var os: OS
    public var runtime: Runtime
    public var kubernetes: Kubernetes
    public var cni: CNI
    public var metallb: MetalLB
    public var istio: Istio
    public var tools: Tools
    /// The guest architecture the URLs were rendered for (lab.json `base.arch`).
    public var arch: GuestArch

    public struct OS: Sendable, Hashable, Codable {
        /// The Ubuntu release the base image must run (`20.04`); checked by the base scripts.
        public var ubuntuVersion: String
        public var codename: String
        /// `gateway4` (netplan on 20.04) or `routes` (`routes: - to: default`, netplan ≥ 0.103; gateway4 is deprecated).
        public var netplanGateway: NetplanGateway
        public var sources: [String]
    }

    public enum NetplanGateway: String, Sendable, Hashable, Codable { case gateway4, routes }

    public struct Runtime: Sendable, Hashable, Codable {
        public var kind: RuntimeKind
        public var criSocket: String
        // Docker (seed-2021)
        public var dockerAptRepository: String?
        public var dockerGPGKey: String?
        public var dockerPackageVersion: String?
        public var containerdPackageVersion: String?
        // containerd release binaries (current)
        public var containerdURL: String?
        public var containerdServiceURL: String?
        public var runcURL: String?
        public var sources: [String]
    }

    public enum RuntimeKind: String, Sendable, Hashable, Codable { case docker, containerd }

    public struct Kubernetes: Sendable, Hashable, Codable {
        public var version: String
        public var install: KubernetesInstall
        // binaries (dl.k8s.io)
        public var binaryBaseURL: String?
        public var kubeletServiceURL: String?
        public var kubeadmDropInURL: String?
        public var crictlURL: String?
        // apt (pkgs.k8s.io)
        public var aptRepository: String?
        public var aptKeyURL: String?
        public var packageVersion: String?
        public var cniPluginsURL: String
        public var kubeadmAPIVersion: String
        public var imageRepository: String
        /// kubeadm 1.21 derives CoreDNS's path from a custom imageRepository without the
        /// `coredns/` sub-path; this sets it explicitly (`dns.imageRepository`).
        public var dnsImageRepository: String?
        /// `iptables`, `nftables` or `ipvs`; MetalLB's strictARP is patched only for `ipvs`.
        public var kubeProxyMode: String
        public var sources: [String]
    }

    public enum KubernetesInstall: String, Sendable, Hashable, Codable { case binaries, apt }

    public struct CNI: Sendable, Hashable, Codable {
        public var kind: CNIKind
        public var version: String
        public var manifestURL: String
        /// The pod network the manifest ships with; labctl rewrites it to the cluster's pod subnet.
        public var defaultPodSubnet: String
        public var sources: [String]
    }

    public enum CNIKind: String, Sendable, Hashable, Codable { case weave, flannel }

    public struct MetalLB: Sendable, Hashable, Codable {
        public var version: String
        /// `configmap` (≤ 0.12) or `crds` (IPAddressPool + L2Advertisement, ≥ 0.13).
        public var config: MetalLBConfig
        public var manifestURLs: [String]
        public var sources: [String]
    }

    public enum MetalLBConfig: String, Sendable, Hashable, Codable { case configmap, crds }

    public struct Istio: Sendable, Hashable, Codable {
        public var version: String
        public var releaseURL: String
        /// istioctl's words before the flags: `x create-remote-secret` (≤ 1.11) or `create-remote-secret`.
        public var remoteSecretCommand: [String]
        public var eastWestGatewayFlags: EastWestFlags
        /// apiVersion of the expose-services Gateway.
        public var networkingAPIVersion: String
        /// The sample client: `sleep` (1.10) or `curl` (≥ 1.24).
        public var client: String
        public var sources: [String]
    }

    /// `mesh-cluster-network`: 1.10's gen-eastwest-gateway.sh needs `--mesh --cluster --network`;
    /// `network`: since 1.12 only `--network` matters.
    public enum EastWestFlags: String, Sendable, Hashable, Codable {
        case meshClusterNetwork = "mesh-cluster-network"
        case network
    }

    public struct Tools: Sendable, Hashable, Codable {
        public var k9sURL: String
        /// The goreleaser checksum file next to the k9s archive (`hash  name` lines, one per asset).
        public var k9sChecksumsURL: String
        public var dnsutilsImage: String
    }
}

extension Profile {
    /// The profiles shipped with labctl.
    public static var builtInNames: [String] {
        let dir = EmbeddedResources.directory("profiles")
        let files = (try? FileManager.default.contentsOfDirectory(atPath: dir?.path ?? "")) ?? []
        return files.filter { $0.hasSuffix(".json") }.map { String($0.dropLast(5)) }.sorted()
    }

    /// Loads a built-in profile and applies lab.json's `versions` overrides.
    ///
    /// An override key the profile does not know is an error naming `versions.<key>`
    /// and the known keys; so is a value that is not a plain version string (it ends
    /// up in scripts and URLs).
    public static func load(named name: String, overrides: [String: String] = [:], arch: GuestArch = LabDefaults.arch) throws -> Profile {
        guard let url = EmbeddedResources.url("profiles", "\(name).json"),
              let data = try? Data(contentsOf: url)
        else {
            throw LabError(.invalidInput, "unknown profile '\(name)'", location: .lab("profile"),
                           hint: "use one of: \(builtInNames.joined(separator: ", "))")
        }
        return try decode(data, source: "profile \(name)", overrides: overrides, arch: arch)
    }

    /// The profile lab.json names, with its overrides, for the base's guest architecture.
    public static func load(for lab: Lab) throws -> Profile {
        try load(named: lab.profile, overrides: lab.versions, arch: lab.base.arch)
    }

    static func decode(_ data: Data, source: String, overrides: [String: String], arch: GuestArch) throws -> Profile {
        guard var object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              var versions = object["versions"] as? [String: String]
        else {
            throw LabError(.internalError, "the profile is not valid JSON with a versions map", location: .file(source))
        }
        let known = versions.keys.sorted()
        var errors: [LabError] = []
        for (key, value) in overrides.sorted(by: { $0.key < $1.key }) {
            guard versions[key] != nil else {
                errors.append(LabError(.invalidInput, "unknown version '\(key)' for profile \(object["name"] as? String ?? source)",
                                       location: .lab("versions.\(key)"), hint: "known versions: \(known.joined(separator: ", "))"))
                continue
            }
            guard isPlainVersion(value) else {
                errors.append(LabError(.invalidInput, "'\(value)' is not a version", location: .lab("versions.\(key)"),
                                       hint: "write the version only, for example \"\(versions[key] ?? "1.2.3")\""))
                continue
            }
            versions[key] = value
        }
        if errors.count == 1, let only = errors.first { throw only }
        if !errors.isEmpty { throw LabErrors(errors) }

        // Template context: the versions plus `<key>Minor`, and the guest architecture in each project's
        // naming: `arch` (amd64/arm64, Debian and Go) and `archX86_64` (x86_64/arm64, goreleaser's old replacement).
        var context: [String: Any] = ["arch": arch.rawValue, "archX86_64": arch.x86_64Name]
        for (key, value) in versions {
            context[key] = value
            let parts = value.split(separator: ".")
            if parts.count >= 2 { context[key + "Minor"] = parts[0] + "." + parts[1] }
        }
        object["versions"] = versions
        object["arch"] = arch.rawValue
        let expanded = try expand(object, context: context, source: source)
        do {
            let json = try JSONSerialization.data(withJSONObject: expanded)
            return try JSONDecoder().decode(Profile.self, from: json)
        } catch {
            throw LabError(.internalError, "the profile does not match the Profile type", location: .file(source), cause: error)
        }
    }

    /// A version as it may appear in a URL or a shell word: `1.21.3`, `5:20.10.7~3-0`, `v1.9.1-flannel3`.
    static func isPlainVersion(_ s: String) -> Bool {
        !s.isEmpty && s.count <= 64 && s.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || ".-_+~:".contains($0)) }
    }

    private static func expand(_ value: Any, context: [String: Any], source: String) throws -> Any {
        switch value {
        case let s as String:
            guard s.contains("{{") else { return s }
            let template: MustacheTemplate
            do { template = try MustacheTemplate(string: "{{% CONTENT_TYPE: TEXT}}" + s) } catch {
                throw LabError(.internalError, "bad template in the profile: \(s)", location: .file(source), cause: error)
            }
            return template.render(context)
        case let a as [Any]:
            return try a.map { try expand($0, context: context, source: source) }
        case let d as [String: Any]:
            var out: [String: Any] = [:]
            for (k, v) in d { out[k] = try expand(v, context: context, source: source) }
            return out
        default:
            return value
        }
    }
}

// The optional fields are written as explicit nulls, not left out: templates test them with
// `{{#profile.kubernetes.dnsImageRepository}}`, and the strict render (`Templates`) refuses a name
// the context does not have.
extension Profile.Runtime {
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(kind, forKey: .kind)
        try c.encode(criSocket, forKey: .criSocket)
        try c.encode(dockerAptRepository, forKey: .dockerAptRepository)
        try c.encode(dockerGPGKey, forKey: .dockerGPGKey)
        try c.encode(dockerPackageVersion, forKey: .dockerPackageVersion)
        try c.encode(containerdPackageVersion, forKey: .containerdPackageVersion)
        try c.encode(containerdURL, forKey: .containerdURL)
        try c.encode(containerdServiceURL, forKey: .containerdServiceURL)
        try c.encode(runcURL, forKey: .runcURL)
        try c.encode(sources, forKey: .sources)
    }
}

extension Profile.Kubernetes {
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(version, forKey: .version)
        try c.encode(install, forKey: .install)
        try c.encode(binaryBaseURL, forKey: .binaryBaseURL)
        try c.encode(kubeletServiceURL, forKey: .kubeletServiceURL)
        try c.encode(kubeadmDropInURL, forKey: .kubeadmDropInURL)
        try c.encode(crictlURL, forKey: .crictlURL)
        try c.encode(aptRepository, forKey: .aptRepository)
        try c.encode(aptKeyURL, forKey: .aptKeyURL)
        try c.encode(packageVersion, forKey: .packageVersion)
        try c.encode(cniPluginsURL, forKey: .cniPluginsURL)
        try c.encode(kubeadmAPIVersion, forKey: .kubeadmAPIVersion)
        try c.encode(imageRepository, forKey: .imageRepository)
        try c.encode(dnsImageRepository, forKey: .dnsImageRepository)
        try c.encode(kubeProxyMode, forKey: .kubeProxyMode)
        try c.encode(sources, forKey: .sources)
    }
}
