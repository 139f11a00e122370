import Foundation
import LabKit

/// Every script labctl runs in a guest, one per seed step.
///
/// The order of the cases is the order `labctl up` runs them in (within their scope).
/// `docs/stages.md` maps each to its seed section.
public enum StageScript: String, CaseIterable, Sendable, Codable {
    // Base image (seed 2.2-6), on the base VM.
    case baseAccess = "base-access"
    case baseSwap = "base-swap"
    case baseNetwork = "base-network"
    case baseKernel = "base-kernel"
    case baseRuntime = "base-runtime"
    case baseKubernetes = "base-kubernetes"
    case baseTools = "base-tools"
    // Node identity (seed 7), on every node.
    case nodeIdentity = "node-identity"
    case nodeVerify = "node-verify"
    // Kubernetes (seed 8-10), per cluster.
    case kubeadmInit = "kubeadm-init"
    case cni = "cni"
    case waitControlPlane = "wait-control-plane"
    case joinCommand = "join-command"
    case kubeadmJoin = "kubeadm-join"
    case waitNodes = "wait-nodes"
    case metallb = "metallb"
    case dnsCheck = "dns-check"
    // Kubeconfig (seed 11).
    case adminKubeconfig = "admin-kubeconfig"
    case meshKubeconfig = "mesh-kubeconfig"
    // Mesh (seed 12-14), on the mesh node (cluster 1's control plane) with the merged kubeconfig.
    case istioCACerts = "istio-cacerts"
    case istioRootCheck = "istio-root-check"
    case istioInstall = "istio-install"
    case istioEastWest = "istio-eastwest"
    case istioRemoteSecret = "istio-remote-secret"
    case meshSample = "mesh-sample"
    case meshVerify = "mesh-verify"

    /// What a script is rendered for.
    public enum Scope: String, Sendable {
        /// The base VM (no cluster, no node).
        case base
        /// One node (`node:` required).
        case node
        /// One cluster (`cluster:` required); runs on its control plane or, for mesh scripts, on the mesh node.
        case cluster
        /// The whole lab; runs on the mesh node.
        case lab
    }

    public var scope: Scope {
        switch self {
        case .baseAccess, .baseSwap, .baseNetwork, .baseKernel, .baseRuntime, .baseKubernetes, .baseTools: .base
        case .nodeIdentity, .nodeVerify, .kubeadmJoin: .node
        case .istioRootCheck, .meshKubeconfig: .lab
        default: .cluster
        }
    }

    /// Base-image scripts that run before the worker checkpoint (seed 4.3, `base.workerCheckpoint`):
    /// everything a worker needs. Workers are cloned from that snapshot.
    public static let baseForWorkers: [StageScript] = [.baseAccess, .baseSwap, .baseNetwork, .baseKernel, .baseRuntime, .baseKubernetes]
    /// Base-image scripts between the worker and the control-plane checkpoint (seed 5, 6, 6.2).
    public static let baseForControlPlanes: [StageScript] = [.baseTools]

    /// The seed sections the script automates.
    public var seed: String {
        switch self {
        case .baseAccess: "2.2, 2.3"
        case .baseSwap: "2.4"
        case .baseNetwork: "2.5"
        case .baseKernel: "4.1"
        case .baseRuntime: "3"
        case .baseKubernetes: "4.2"
        case .baseTools: "5, 6"
        case .nodeIdentity: "7.1-7.4"
        case .nodeVerify: "7.5"
        case .kubeadmInit: "8.1"
        case .cni: "8.3"
        case .waitControlPlane, .waitNodes: "8.3 (watch kubectl get pods -A)"
        case .joinCommand, .kubeadmJoin: "8.2"
        case .metallb: "9"
        case .dnsCheck: "10"
        case .adminKubeconfig, .meshKubeconfig: "11"
        case .istioCACerts: "12.2, 12.3"
        case .istioRootCheck: "12.4 (corrected)"
        case .istioInstall: "13.1, 13.4 (corrected)"
        case .istioEastWest: "13.2, 13.3, 13.5, 13.6"
        case .istioRemoteSecret: "13.7"
        case .meshSample: "14 (deploy)"
        case .meshVerify: "14 (verify)"
        }
    }

    public var summary: String {
        switch self {
        case .baseAccess: "the lab's SSH key and passwordless sudo"
        case .baseSwap: "swap off, permanently"
        case .baseNetwork: "the base VM's static address"
        case .baseKernel: "kernel modules and sysctls for Kubernetes"
        case .baseRuntime: "the container runtime with the systemd cgroup driver"
        case .baseKubernetes: "kubeadm, kubelet and kubectl, pinned"
        case .baseTools: "istioctl and k9s"
        case .nodeIdentity: "hosts, hostname, machine-id, SSH host keys and static address of a clone"
        case .nodeVerify: "the node's identity as key=value lines"
        case .kubeadmInit: "kubeadm init and the lab user's kubeconfig"
        case .cni: "the pod network"
        case .waitControlPlane: "wait until the control plane node is Ready"
        case .joinCommand: "a fresh join command (secret output)"
        case .kubeadmJoin: "join a worker (secret input)"
        case .waitNodes: "wait until every node is Ready"
        case .metallb: "MetalLB and the cluster's address pool"
        case .dnsCheck: "resolve kubernetes.default from a pod"
        case .adminKubeconfig: "print the admin kubeconfig (secret output)"
        case .meshKubeconfig: "install the merged kubeconfig (secret input)"
        case .istioCACerts: "istio-system, its network label and the cacerts secret (secret input)"
        case .istioRootCheck: "both clusters share root-cert.pem"
        case .istioInstall: "Istio with this cluster's values, in this cluster's context"
        case .istioEastWest: "the east-west gateway and exposed services"
        case .istioRemoteSecret: "this cluster's remote secret in every other cluster"
        case .meshSample: "the sample namespace, helloworld and the client"
        case .meshVerify: "cross-cluster calls until every helloworld version answered"
        }
    }

    /// The template file, `Resources/scripts/<file>.sh` (two scripts share `wait-nodes`).
    var templateName: String {
        switch self {
        case .waitControlPlane: "wait-nodes"
        default: rawValue
        }
    }

    /// Whether the script runs as root (`sudo -n`).
    public var sudo: Bool {
        switch self {
        case .baseAccess, .nodeVerify, .meshKubeconfig, .istioCACerts, .istioRootCheck, .istioInstall, .istioEastWest,
             .istioRemoteSecret, .meshSample, .meshVerify:
            false
        default:
            true
        }
    }

    /// The longest the script may take; longer than the sum of its own bounded waits.
    public var deadline: Duration {
        switch self {
        case .baseRuntime, .baseKubernetes, .baseTools: .seconds(1800)
        case .kubeadmInit: .seconds(1200)
        case .kubeadmJoin, .cni, .waitControlPlane, .waitNodes, .metallb, .istioInstall, .istioEastWest, .meshSample: .seconds(900)
        case .dnsCheck, .meshVerify: .seconds(600)
        case .nodeIdentity, .baseAccess, .baseSwap, .baseNetwork, .baseKernel: .seconds(120)
        default: .seconds(120)
        }
    }

    /// The secret the stage sends after the script on standard input, if any.
    public var input: SecretInput? {
        switch self {
        case .baseAccess: .sudoPassword
        case .kubeadmJoin: .joinCommand
        case .meshKubeconfig: .kubeconfig
        case .istioCACerts: .caCertificates
        default: nil
        }
    }

    /// Whether stdout is a secret that must never be logged (it is then passed on, not printed).
    public var outputIsSecret: Bool {
        self == .joinCommand || self == .adminKubeconfig
    }
}

/// A secret a script reads from standard input, after its own text.
public enum SecretInput: String, Sendable, Hashable {
    /// The lab user's sudo password, one line.
    case sudoPassword
    /// `kubeadm join …`, one line, as `join-command` printed it.
    case joinCommand
    /// The merged kubeconfig, base64 on one line (`StageInputs.kubeconfig`).
    case kubeconfig
    /// The cluster's four CA files, `name base64` per line (`StageInputs.caCertificates`).
    case caCertificates
}
