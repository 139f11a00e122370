import Foundation
import LabKit

/// What the script and manifest templates see (`Resources/scripts`, `Resources/manifests`), one
/// type for the family. The parts that exist only for some targets are optional and then absent,
/// so a cluster template that names `{{node.name}}` fails its render (`Templates.render`) instead
/// of rendering empty text. Optional values inside a part that templates test with
/// `{{#x}}`/`{{^x}}` are written as an explicit null, so they are present.
struct ScriptContext: Encodable {
    struct Script: Encodable { var id, summary, seed: String }
    struct LabInfo: Encodable { var name, user, publicKey: String }
    struct Guest: Encodable { var arch, uname: String }
    struct Network: Encodable {
        var prefix: Int
        var gateway: String
        var dnsList: String
    }
    struct Flags: Encodable {
        var docker, containerd, k8sBinaries, k8sApt, weave, flannel, metallbConfigMap, metallbCRDs, ipvs, netplanGateway4,
            eastwestMeshClusterNetwork: Bool
    }
    struct HostEntry: Encodable { var address, name: String }
    struct ClusterName: Encodable { var name: String }
    struct ClusterNetwork: Encodable { var name, network: String }
    struct Mesh: Encodable {
        var id, node, kubeconfig: String
        var versions: [String]
        var versionList: String
        var tries: Int
    }
    struct Istio: Encodable { var dir, remoteSecretCommand: String }
    /// The base VM or the node a script configures (`{{host.…}}`, `{{base.…}}`).
    struct Machine: Encodable {
        var name, interface: String
        var address: String?

        enum CodingKeys: String, CodingKey { case name, interface, address }
        func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(name, forKey: .name)
            try c.encode(interface, forKey: .interface)
            try c.encode(address, forKey: .address)  // null when absent: `{{^base.address}}` tests it
        }
    }
    struct Node: Encodable { var name, address, interface, role: String }
    struct Cluster: Encodable {
        var name, network, podSubnet, serviceSubnet: String
        var metallb: [String]
        var metallbList, kubernetesServiceIP, controlPlane, apiServer, helloworldVersion: String
    }

    var script: Script
    var lab: LabInfo
    var profile: Profile
    var guest: Guest
    var network: Network
    var flags: Flags
    var hosts: [HostEntry]
    var clusters: [ClusterNetwork]
    var firstCluster: String
    /// The clusters compared with the first one (comparing it with itself proves nothing).
    var clustersAfterFirst: [ClusterName]
    var mesh: Mesh
    var istio: Istio
    var base: Machine
    /// The machine the script configures: base scripts the base VM, node scripts their node.
    var host: Machine?
    /// The node a node script runs for, or a cluster's control plane.
    var node: Node?
    var cluster: Cluster?
    var otherClusters: [ClusterName]?
    /// The cluster's nodes, which `wait-nodes` waits for.
    var waitNodes: [String]?
    /// The node (or base VM) the script runs on.
    var target: String
    /// Scripts only: the manifests they embed, by `StageManifest.contextKey`, without the last newline.
    var manifests: [String: String]?
}
