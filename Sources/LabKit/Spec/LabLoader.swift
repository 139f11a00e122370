import Foundation

/// Reads lab.json into an effective `Lab`.
///
/// Interim version: decodes the documented shape and fills defaults. The strict
/// loader (unknown keys, JSON paths, every error at once) replaces this body.
public enum LabLoader {
    public static func load(path: String) throws -> LoadedLab {
        let url = URL(fileURLWithPath: path)
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw LabError(.notFound, "cannot read the lab file", location: path, hint: "pass the path of your lab.json with --lab")
        }
        let lab = try decode(data, source: path)
        return LoadedLab(lab: lab, file: url.standardizedFileURL.path, warnings: [])
    }

    public static func decode(_ data: Data, source: String) throws -> Lab {
        struct RawNode: Decodable { var name: String; var role: NodeRole; var address: IPv4Address; var cpus: Int?; var memoryMiB: Int?; var mac: MACAddress?; var template: String? }
        struct RawCluster: Decodable { var name: String; var network: String; var podSubnet: IPv4Network?; var serviceSubnet: IPv4Network?; var metallb: [IPv4Range]; var nodes: [RawNode] }
        struct RawNetwork: Decodable { var vmnet: String?; var subnet: IPv4Network; var gateway: IPv4Address?; var hostAddress: IPv4Address?; var dns: [IPv4Address]?; var dhcp: IPv4Range? }
        struct RawBase: Decodable { var name: String; var vmx: String; var address: IPv4Address?; var interface: String?; var workerCheckpoint: String?; var controlPlaneCheckpoint: String? }
        struct RawLab: Decodable { var apiVersion: String; var name: String; var profile: String; var versions: [String: String]?; var network: RawNetwork; var base: RawBase; var mesh: MeshSpec; var clusters: [RawCluster]; var checkpoints: CheckpointSpec?; var ssh: RawSSH; var vmware: VMwareSpec? }
        struct RawSSH: Decodable { var user: String; var port: Int?; var privateKey: String? }
        let raw: RawLab
        do { raw = try JSONDecoder().decode(RawLab.self, from: data) } catch {
            throw LabError(.invalidInput, "the lab file is not valid", location: source, cause: "\(error)")
        }
        let subnet = raw.network.subnet
        let network = NetworkSpec(
            vmnet: raw.network.vmnet ?? "vmnet8", subnet: subnet,
            gateway: raw.network.gateway ?? subnet.host(2), hostAddress: raw.network.hostAddress ?? subnet.host(1),
            dns: raw.network.dns ?? [raw.network.gateway ?? subnet.host(2)],
            dhcp: raw.network.dhcp ?? IPv4Range(subnet.host(128), subnet.broadcast.advanced(by: -1)))
        let clusters = raw.clusters.map { c in
            ClusterSpec(
                name: c.name, network: c.network,
                podSubnet: c.podSubnet ?? IPv4Network(address: IPv4Address(0x0a20_0000), prefixLength: 12),
                serviceSubnet: c.serviceSubnet ?? IPv4Network(address: IPv4Address(0x0a60_0000), prefixLength: 12),
                metallb: c.metallb,
                nodes: c.nodes.map { n in
                    NodeSpec(name: n.name, role: n.role, address: n.address, cpus: n.cpus ?? 2, memoryMiB: n.memoryMiB ?? 4096,
                             mac: n.mac ?? MACAddress.derived(lab: raw.name, node: n.name),
                             template: n.template ?? n.role.rawValue)
                })
        }
        return Lab(apiVersion: raw.apiVersion, name: raw.name, profile: raw.profile, versions: raw.versions ?? [:],
                   network: network,
                   base: BaseSpec(name: raw.base.name, vmx: expandTilde(raw.base.vmx), address: raw.base.address,
                                  interface: raw.base.interface ?? "ens33",
                                  workerCheckpoint: raw.base.workerCheckpoint ?? "snapshot#1",
                                  controlPlaneCheckpoint: raw.base.controlPlaneCheckpoint ?? "snapshot#2"),
                   mesh: raw.mesh, clusters: clusters, checkpoints: raw.checkpoints ?? CheckpointSpec(),
                   ssh: SSHSpec(user: raw.ssh.user, port: raw.ssh.port ?? 22, privateKey: raw.ssh.privateKey),
                   vmware: raw.vmware ?? VMwareSpec())
    }

    static func expandTilde(_ path: String) -> String {
        guard path.hasPrefix("~/") else { return path }
        return FileManager.default.homeDirectoryForCurrentUser.path + String(path.dropFirst(1))
    }
}

/// A lab as loaded from a file: the effective lab, where it came from, and warnings.
public struct LoadedLab: Sendable {
    public var lab: Lab
    /// Absolute path of the lab file.
    public var file: String
    /// Problems that do not stop labctl (a public subnet, an address outside .3-.127).
    public var warnings: [LabError]
    public var paths: LabPaths { LabPaths(labFile: file) }

    public init(lab: Lab, file: String, warnings: [LabError]) {
        self.lab = lab
        self.file = file
        self.warnings = warnings
    }
}

extension MACAddress {
    /// A stable MAC in VMware's static range, derived from the lab and node name
    /// (FNV-1a, so it never changes between runs or machines).
    public static func derived(lab: String, node: String) -> MACAddress {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in "\(lab)/\(node)".utf8 {
            h ^= UInt64(b)
            h = h &* 0x100_0000_01b3
        }
        return MACAddress(bytes: [0x00, 0x50, 0x56, UInt8(h >> 16 & 0x3f), UInt8(h >> 8 & 0xff), UInt8(h & 0xff)])
    }
}
