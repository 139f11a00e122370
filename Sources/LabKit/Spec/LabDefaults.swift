import Foundation

/// Every default lab.json fills in, in one place.
///
/// The same values appear as `default` in `schema/lab.schema.json` and in the
/// README's "lab.json reference"; `LabSchemaTests` checks they agree.
///
/// | Field                              | Default                                              | Why |
/// |------------------------------------|------------------------------------------------------|-----|
/// | `network.vmnet`                    | `vmnet8`                                             | VMware's NAT network |
/// | `network.gateway`                  | subnet `.2`                                          | VMware NAT device (docs/network.md) |
/// | `network.hostAddress`              | subnet `.1`                                          | host virtual adapter (docs/network.md) |
/// | `network.dns`                      | `[gateway]`                                          | the NAT device is also the DNS server |
/// | `network.dhcp`                     | `.128`-`.254` (broadcast - 1)                        | VMware's generated DHCP pool |
/// | `clusters[].podSubnet`             | `10.32.0.0/12` (seed-2021), `10.244.0.0/16` (current) | Weave's default IPALLOC_RANGE; the usual Flannel/Calico /16 |
/// | `clusters[].serviceSubnet`         | `10.96.0.0/12`                                       | kubeadm's default |
/// | `clusters[].nodes[].cpus`          | `2`                                                  | seed 1.3 |
/// | `clusters[].nodes[].memoryMiB`     | `4096`                                               | seed 1.3 (4G) |
/// | `clusters[].nodes[].mac`           | derived from lab and node name                       | `MACAddress.derived(lab:node:)`, stable, in VMware's static range |
/// | `clusters[].nodes[].template`      | the role (`control-plane` or `worker`)               | the vmx-template name |
/// | `base.address`                     | none (the base uses DHCP)                            | |
/// | `base.interface`                   | `ens33`                                              | Ubuntu's name for VMware's first NIC |
/// | `base.workerCheckpoint`            | `snapshot#1`                                         | seed 4.3 |
/// | `base.controlPlaneCheckpoint`      | `snapshot#2`                                         | seed 6.2 |
/// | `base.arch`                        | `amd64`                                              | Workstation's x86-64 guests; `arm64` for Fusion on Apple silicon |
/// | `versions`                         | `{}` (the profile's versions)                        | |
/// | `checkpoints.nodes/kubernetes/kubeconfig/mesh` | `snapshot#2`/`#3`/`#4`/`#5`              | seed 7.6, 10, 11, 14 |
/// | `ssh.port`                         | `22`                                                 | |
/// | `ssh.privateKey`                   | none (labctl creates an ed25519 key in the state dir) | |
/// | `vmware.product`                   | `ws`                                                 | Workstation |
/// | `vmware.vmrun`                     | none (`LABCTL_VMRUN`, OS default, then PATH)         | |
/// | `vmware.vmFolder`                  | `~/vmware/labctl`                                    | |
/// | `vmware.cloneKind`                 | `linked`                                             | docs/vmware-facts.md |
/// | `vmware.timeouts.startSeconds/softStopSeconds/defaultSeconds` | `300`/`30`/`120`              | docs/vmware-driver.md |
///
/// `~/` at the start of `base.vmx`, `ssh.privateKey`, `vmware.vmrun` and
/// `vmware.vmFolder` is expanded to the user's home directory.
public enum LabDefaults {
    public static let profiles = ["seed-2021", "current"]
    public static let vmnet = "vmnet8"
    public static let gatewayHost = 2
    public static let hostAdapterHost = 1
    public static let dhcpFirstHost = 128
    /// The block VMware leaves for static addresses in a /24 (docs/network.md, "VMware's address conventions").
    public static let staticHosts = 3...127
    public static let seedPodSubnet = IPv4Network(address: IPv4Address(0x0a20_0000), prefixLength: 12)    // 10.32.0.0/12
    public static let currentPodSubnet = IPv4Network(address: IPv4Address(0x0af4_0000), prefixLength: 16) // 10.244.0.0/16
    public static let serviceSubnet = IPv4Network(address: IPv4Address(0x0a60_0000), prefixLength: 12)    // 10.96.0.0/12
    public static let cpus = 2
    public static let memoryMiB = 4096
    public static let interface = "ens33"
    public static let workerCheckpoint = "snapshot#1"
    public static let controlPlaneCheckpoint = "snapshot#2"
    public static let arch = GuestArch.amd64
    public static let sshPort = 22

    public static func gateway(_ subnet: IPv4Network) -> IPv4Address { subnet.host(gatewayHost) }
    public static func hostAddress(_ subnet: IPv4Network) -> IPv4Address { subnet.host(hostAdapterHost) }
    public static func dhcp(_ subnet: IPv4Network) -> IPv4Range {
        IPv4Range(subnet.host(dhcpFirstHost), subnet.broadcast.advanced(by: -1))
    }
    /// Weave Net's default allocation range for seed-2021 (Weave 2.8.1's IPALLOC_RANGE),
    /// the usual 10.244.0.0/16 for the current profile.
    public static func podSubnet(profile: String) -> IPv4Network {
        profile == "current" ? currentPodSubnet : seedPodSubnet
    }
}
