import Foundation

/// The lab, as `lab.json` describes it, with every default filled in.
///
/// This is the *effective* lab: `LabLoader` reads lab.json strictly, fills
/// defaults and validates; everything else in labctl consumes this value.
/// `labctl validate --effective` prints it as JSON.
public struct Lab: Sendable, Hashable, Codable {
    public static let apiVersion = "labctl.dev/v1"

    public var apiVersion: String
    /// A short name, used for the VM folder, the derived MACs and the state directory.
    public var name: String
    /// The version profile: `seed-2021` or `current`.
    public var profile: String
    /// Single versions that override the profile's (`{"kubernetes": "1.21.3"}`).
    public var versions: [String: String]
    public var network: NetworkSpec
    public var base: BaseSpec
    public var mesh: MeshSpec
    public var clusters: [ClusterSpec]
    public var checkpoints: CheckpointSpec
    public var ssh: SSHSpec
    public var vmware: VMwareSpec

    public init(apiVersion: String = Lab.apiVersion, name: String, profile: String, versions: [String: String] = [:],
                network: NetworkSpec, base: BaseSpec, mesh: MeshSpec, clusters: [ClusterSpec],
                checkpoints: CheckpointSpec = CheckpointSpec(), ssh: SSHSpec, vmware: VMwareSpec = VMwareSpec()) {
        self.apiVersion = apiVersion
        self.name = name
        self.profile = profile
        self.versions = versions
        self.network = network
        self.base = base
        self.mesh = mesh
        self.clusters = clusters
        self.checkpoints = checkpoints
        self.ssh = ssh
        self.vmware = vmware
    }

    /// Every node of every cluster, in file order.
    public var nodes: [NodeSpec] { clusters.flatMap(\.nodes) }
    public func node(named name: String) -> NodeSpec? { nodes.first { $0.name == name } }
    public func cluster(named name: String) -> ClusterSpec? { clusters.first { $0.name == name } }
    public func cluster(of node: NodeSpec) -> ClusterSpec? { clusters.first { $0.nodes.contains { $0.name == node.name } } }
}

/// The VMware NAT network (VMnet8) the lab lives on.
public struct NetworkSpec: Sendable, Hashable, Codable {
    /// The VMware virtual network, `vmnet8` for NAT.
    public var vmnet: String
    public var subnet: IPv4Network
    /// VMware's NAT gateway, by convention `.2`.
    public var gateway: IPv4Address
    /// The host's own adapter on the network, by convention `.1`.
    public var hostAddress: IPv4Address
    public var dns: [IPv4Address]
    public var dhcp: IPv4Range

    public init(vmnet: String = "vmnet8", subnet: IPv4Network, gateway: IPv4Address, hostAddress: IPv4Address,
                dns: [IPv4Address], dhcp: IPv4Range) {
        self.vmnet = vmnet
        self.subnet = subnet
        self.gateway = gateway
        self.hostAddress = hostAddress
        self.dns = dns
        self.dhcp = dhcp
    }
}

/// A guest CPU architecture, named as Debian and Go name it (`dpkg --print-architecture`, GOARCH).
public enum GuestArch: String, Sendable, Hashable, Codable, CaseIterable {
    case amd64
    case arm64

    /// What `uname -m` prints on such a guest (the Linux kernel's names: x86_64, aarch64).
    public var unameMachine: String {
        switch self {
        case .amd64: "x86_64"
        case .arm64: "aarch64"
        }
    }

    /// The name goreleaser's old `amd64: x86_64` replacement gives (derailed/k9s@v0.24.15:.goreleaser.yml).
    public var x86_64Name: String {
        switch self {
        case .amd64: "x86_64"
        case .arm64: "arm64"
        }
    }
}

/// The prepared base VM that nodes are cloned from (seed sections 2-6).
public struct BaseSpec: Sendable, Hashable, Codable {
    public var name: String
    /// Absolute path of the base VM's .vmx (`~` is expanded by the loader).
    public var vmx: String
    /// The base's static address (seed 2.5), or nil when the base uses DHCP.
    public var address: IPv4Address?
    /// The guest's network interface name (`ens33` on VMware's vmxnet3/e1000 Ubuntu guests).
    public var interface: String
    /// Snapshot that worker nodes clone from (seed 4.3).
    public var workerCheckpoint: String
    /// Snapshot that control-plane nodes clone from (seed 6.2).
    public var controlPlaneCheckpoint: String
    /// The guest architecture of the base image, which every node clones (Fusion on Apple silicon runs arm64).
    public var arch: GuestArch

    public init(name: String, vmx: String, address: IPv4Address?, interface: String = "ens33",
                workerCheckpoint: String = "snapshot#1", controlPlaneCheckpoint: String = "snapshot#2",
                arch: GuestArch = .amd64) {
        self.arch = arch
        self.name = name
        self.vmx = vmx
        self.address = address
        self.interface = interface
        self.workerCheckpoint = workerCheckpoint
        self.controlPlaneCheckpoint = controlPlaneCheckpoint
    }
}

public struct MeshSpec: Sendable, Hashable, Codable {
    public var id: String
    public init(id: String) { self.id = id }
}

public struct ClusterSpec: Sendable, Hashable, Codable {
    public var name: String
    /// The Istio network this cluster's pods live on (`topology.istio.io/network`).
    public var network: String
    public var podSubnet: IPv4Network
    public var serviceSubnet: IPv4Network
    /// MetalLB address pools for LoadBalancer services (seed 9.4/9.5).
    public var metallb: [IPv4Range]
    public var nodes: [NodeSpec]

    public init(name: String, network: String, podSubnet: IPv4Network, serviceSubnet: IPv4Network,
                metallb: [IPv4Range], nodes: [NodeSpec]) {
        self.name = name
        self.network = network
        self.podSubnet = podSubnet
        self.serviceSubnet = serviceSubnet
        self.metallb = metallb
        self.nodes = nodes
    }

    public var controlPlane: NodeSpec? { nodes.first { $0.role == .controlPlane } }
    public var workers: [NodeSpec] { nodes.filter { $0.role == .worker } }
}

public enum NodeRole: String, Sendable, Hashable, Codable, CaseIterable {
    case controlPlane = "control-plane"
    case worker
}

public struct NodeSpec: Sendable, Hashable, Codable {
    public var name: String
    public var role: NodeRole
    public var address: IPv4Address
    public var cpus: Int
    public var memoryMiB: Int
    /// Static MAC in VMware's range; derived from the lab and node name when lab.json has none.
    public var mac: MACAddress
    /// The vmx-template this node's VMX settings are rendered from.
    public var template: String

    public init(name: String, role: NodeRole, address: IPv4Address, cpus: Int = 2, memoryMiB: Int = 4096,
                mac: MACAddress, template: String) {
        self.name = name
        self.role = role
        self.address = address
        self.cpus = cpus
        self.memoryMiB = memoryMiB
        self.mac = mac
        self.template = template
    }
}

/// Names of the lab-wide checkpoints `labctl up` takes along the way.
public struct CheckpointSpec: Sendable, Hashable, Codable {
    /// After the nodes have their identity (seed 7.6).
    public var nodes: String
    /// After each cluster is up with CNI, MetalLB and a DNS check (seed 10).
    public var kubernetes: String
    /// After the kubeconfigs are merged (seed 11).
    public var kubeconfig: String
    /// After the mesh is verified (seed 14).
    public var mesh: String

    public init(nodes: String = "snapshot#2", kubernetes: String = "snapshot#3", kubeconfig: String = "snapshot#4", mesh: String = "snapshot#5") {
        self.nodes = nodes
        self.kubernetes = kubernetes
        self.kubeconfig = kubeconfig
        self.mesh = mesh
    }
}

public struct SSHSpec: Sendable, Hashable, Codable {
    /// The admin account on the base image (seed 2.1).
    public var user: String
    public var port: Int
    /// Private key; nil means labctl creates an ed25519 key in the lab's state directory.
    public var privateKey: String?

    public init(user: String, port: Int = 22, privateKey: String? = nil) {
        self.user = user
        self.port = port
        self.privateKey = privateKey
    }
}

public enum VMwareProduct: String, Sendable, Hashable, Codable, CaseIterable {
    case ws, fusion, player
}

public struct VMwareSpec: Sendable, Hashable, Codable {
    public var product: VMwareProduct
    /// vmrun's path; nil means: `LABCTL_VMRUN`, then the host OS's default, then PATH.
    public var vmrun: String?
    /// Where the nodes' VMs are created (`<vmFolder>/<node>/<node>.vmx`).
    public var vmFolder: String
    public var cloneKind: CloneKind
    public var timeouts: VMwareTimeouts

    public init(product: VMwareProduct = .ws, vmrun: String? = nil, vmFolder: String = "~/vmware/labctl",
                cloneKind: CloneKind = .linked, timeouts: VMwareTimeouts = VMwareTimeouts()) {
        self.product = product
        self.vmrun = vmrun
        self.vmFolder = vmFolder
        self.cloneKind = cloneKind
        self.timeouts = timeouts
    }
}

/// Deadlines for vmrun calls (docs/vmware-driver.md, "Deadlines, retries and serialisation": Vagrant's 300 s start, GNS3's 120 s).
public struct VMwareTimeouts: Sendable, Hashable, Codable {
    public var startSeconds: Int
    public var softStopSeconds: Int
    public var defaultSeconds: Int
    public init(startSeconds: Int = 300, softStopSeconds: Int = 30, defaultSeconds: Int = 120) {
        self.startSeconds = startSeconds
        self.softStopSeconds = softStopSeconds
        self.defaultSeconds = defaultSeconds
    }
}
