import Foundation
import LabKit

/// Every script labctl runs in a guest, one per seed step.
///
/// Each script is one case and one row in `declaration`: its template, where it runs, sudo, deadline,
/// the secret it reads, the manifests it embeds, its seed sections and summary. The rows have no
/// defaults and the switch has no `default:` arm, so the compiler refuses a script without every
/// property. The order of the cases is the order `labctl up` runs them in (within their scope);
/// `docs/stages.md` ("Adding a script") has the recipe and maps each to its seed section.
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

    /// Everything about one script. Every field is spelled out in every row.
    public struct Declaration: Sendable {
        /// The template file, `Resources/scripts/<template>.sh` (two scripts may share one).
        public var template: String
        /// What the script is rendered for and where it runs.
        public var target: Target
        /// Whether the script runs as root (`sudo -n`).
        public var sudo: Bool
        /// The longest the script may take; longer than the sum of its own bounded waits.
        public var deadline: Duration
        /// The secret the stage sends after the script on standard input, if any.
        public var input: SecretInput?
        /// Whether stdout is a secret that must never be logged (it is then passed on, not printed).
        public var outputIsSecret: Bool
        /// The manifests the script embeds (`{{{manifests.<key>}}}`).
        public var manifests: [StageManifest]
        /// The seed sections the script automates.
        public var seed: String
        public var summary: String
    }

    /// What a script is rendered for and the machine it runs on.
    public enum Target: Sendable, Equatable {
        /// The base VM (no cluster, no node), in the part of `base prepare` before that checkpoint.
        case base(before: BaseCheckpoint)
        /// Each selected node (`node:` required), on that node.
        case node(NodeSelection)
        /// One cluster (`cluster:` required), on `ClusterHost`.
        case cluster(on: ClusterHost)
        /// The whole lab, on the mesh node.
        case lab
    }

    /// The base VM's two checkpoints (seed 4.3 and 6.2): workers and control planes are cloned from them.
    public enum BaseCheckpoint: Sendable, Equatable { case workers, controlPlanes }
    /// Which nodes a node script is rendered for.
    public enum NodeSelection: Sendable, Equatable { case all, workers }
    /// Where a cluster script runs: its control plane, or the mesh node with the merged kubeconfig.
    public enum ClusterHost: Sendable, Equatable { case controlPlane, meshNode }

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

    /// The table: one row per script.
    public var declaration: Declaration {
        switch self {
        case .baseAccess:
            Declaration(template: "base-access", target: .base(before: .workers), sudo: false, deadline: .seconds(120),
                        input: .sudoPassword, outputIsSecret: false, manifests: [],
                        seed: "2.2, 2.3", summary: "the lab's SSH key and passwordless sudo")
        case .baseSwap:
            Declaration(template: "base-swap", target: .base(before: .workers), sudo: true, deadline: .seconds(120),
                        input: nil, outputIsSecret: false, manifests: [],
                        seed: "2.4", summary: "swap off, permanently")
        case .baseNetwork:
            Declaration(template: "base-network", target: .base(before: .workers), sudo: true, deadline: .seconds(120),
                        input: nil, outputIsSecret: false, manifests: [.netplan],
                        seed: "2.5", summary: "the base VM's static address")
        case .baseKernel:
            Declaration(template: "base-kernel", target: .base(before: .workers), sudo: true, deadline: .seconds(120),
                        input: nil, outputIsSecret: false, manifests: [],
                        seed: "4.1", summary: "kernel modules and sysctls for Kubernetes")
        case .baseRuntime:
            Declaration(template: "base-runtime", target: .base(before: .workers), sudo: true, deadline: .seconds(1800),
                        input: nil, outputIsSecret: false, manifests: [],
                        seed: "3", summary: "the container runtime with the systemd cgroup driver")
        case .baseKubernetes:
            Declaration(template: "base-kubernetes", target: .base(before: .workers), sudo: true, deadline: .seconds(1800),
                        input: nil, outputIsSecret: false, manifests: [],
                        seed: "4.2", summary: "kubeadm, kubelet and kubectl, pinned")
        case .baseTools:
            Declaration(template: "base-tools", target: .base(before: .controlPlanes), sudo: true, deadline: .seconds(1800),
                        input: nil, outputIsSecret: false, manifests: [],
                        seed: "5, 6", summary: "istioctl and k9s")
        case .nodeIdentity:
            Declaration(template: "node-identity", target: .node(.all), sudo: true, deadline: .seconds(120),
                        input: nil, outputIsSecret: false, manifests: [.netplan],
                        seed: "7.1-7.4", summary: "hosts, hostname, machine-id, SSH host keys and static address of a clone")
        case .nodeVerify:
            Declaration(template: "node-verify", target: .node(.all), sudo: false, deadline: .seconds(120),
                        input: nil, outputIsSecret: false, manifests: [],
                        seed: "7.5", summary: "the node's identity as key=value lines")
        case .kubeadmInit:
            Declaration(template: "kubeadm-init", target: .cluster(on: .controlPlane), sudo: true, deadline: .seconds(1200),
                        input: nil, outputIsSecret: false, manifests: [.kubeadmConfig],
                        seed: "8.1", summary: "kubeadm init and the lab user's kubeconfig")
        case .cni:
            Declaration(template: "cni", target: .cluster(on: .controlPlane), sudo: true, deadline: .seconds(900),
                        input: nil, outputIsSecret: false, manifests: [],
                        seed: "8.3", summary: "the pod network")
        case .joinCommand:
            Declaration(template: "join-command", target: .cluster(on: .controlPlane), sudo: true, deadline: .seconds(120),
                        input: nil, outputIsSecret: true, manifests: [],
                        seed: "8.2", summary: "a fresh join command (secret output)")
        case .kubeadmJoin:
            Declaration(template: "kubeadm-join", target: .node(.workers), sudo: true, deadline: .seconds(900),
                        input: .joinCommand, outputIsSecret: false, manifests: [],
                        seed: "8.2", summary: "join a worker (secret input)")
        case .waitNodes:
            Declaration(template: "wait-nodes", target: .cluster(on: .controlPlane), sudo: true, deadline: .seconds(900),
                        input: nil, outputIsSecret: false, manifests: [],
                        seed: "8.3 (watch kubectl get pods -A)", summary: "wait until every node is Ready")
        case .metallb:
            Declaration(template: "metallb", target: .cluster(on: .controlPlane), sudo: true, deadline: .seconds(900),
                        input: nil, outputIsSecret: false, manifests: [.metallbPool],
                        seed: "9", summary: "MetalLB and the cluster's address pool")
        case .dnsCheck:
            Declaration(template: "dns-check", target: .cluster(on: .controlPlane), sudo: true, deadline: .seconds(600),
                        input: nil, outputIsSecret: false, manifests: [.dnsutils],
                        seed: "10", summary: "resolve kubernetes.default from a pod")
        case .adminKubeconfig:
            Declaration(template: "admin-kubeconfig", target: .cluster(on: .controlPlane), sudo: true, deadline: .seconds(120),
                        input: nil, outputIsSecret: true, manifests: [],
                        seed: "11", summary: "print the admin kubeconfig (secret output)")
        case .meshKubeconfig:
            Declaration(template: "mesh-kubeconfig", target: .lab, sudo: false, deadline: .seconds(120),
                        input: .kubeconfig, outputIsSecret: false, manifests: [],
                        seed: "11", summary: "install the merged kubeconfig (secret input)")
        case .istioCACerts:
            Declaration(template: "istio-cacerts", target: .cluster(on: .meshNode), sudo: false, deadline: .seconds(120),
                        input: .caCertificates, outputIsSecret: false, manifests: [],
                        seed: "12.2, 12.3", summary: "istio-system, its network label and the cacerts secret (secret input)")
        case .istioRootCheck:
            Declaration(template: "istio-root-check", target: .lab, sudo: false, deadline: .seconds(120),
                        input: nil, outputIsSecret: false, manifests: [],
                        seed: "12.4 (corrected)", summary: "both clusters share root-cert.pem")
        case .istioInstall:
            Declaration(template: "istio-install", target: .cluster(on: .meshNode), sudo: false, deadline: .seconds(900),
                        input: nil, outputIsSecret: false, manifests: [.istioOperator],
                        seed: "13.1, 13.4 (corrected)", summary: "Istio with this cluster's values, in this cluster's context")
        case .istioEastWest:
            Declaration(template: "istio-eastwest", target: .cluster(on: .meshNode), sudo: false, deadline: .seconds(900),
                        input: nil, outputIsSecret: false, manifests: [.exposeServices],
                        seed: "13.2, 13.3, 13.5, 13.6", summary: "the east-west gateway and exposed services")
        case .istioRemoteSecret:
            Declaration(template: "istio-remote-secret", target: .cluster(on: .meshNode), sudo: false, deadline: .seconds(120),
                        input: nil, outputIsSecret: false, manifests: [],
                        seed: "13.7", summary: "this cluster's remote secret in every other cluster")
        case .meshSample:
            Declaration(template: "mesh-sample", target: .cluster(on: .meshNode), sudo: false, deadline: .seconds(900),
                        input: nil, outputIsSecret: false, manifests: [],
                        seed: "14 (deploy)", summary: "the sample namespace, helloworld and the client")
        case .meshVerify:
            Declaration(template: "mesh-verify", target: .cluster(on: .meshNode), sudo: false, deadline: .seconds(600),
                        input: nil, outputIsSecret: false, manifests: [],
                        seed: "14 (verify)", summary: "cross-cluster calls until every helloworld version answered")
        }
    }

    public var scope: Scope {
        switch declaration.target {
        case .base: .base
        case .node: .node
        case .cluster: .cluster
        case .lab: .lab
        }
    }

    /// The base-image scripts before one of the base's checkpoints, in `base prepare` order.
    public static func base(before checkpoint: BaseCheckpoint) -> [StageScript] {
        allCases.filter { $0.declaration.target == .base(before: checkpoint) }
    }

    public var seed: String { declaration.seed }
    public var summary: String { declaration.summary }
    var templateName: String { declaration.template }
    public var sudo: Bool { declaration.sudo }
    public var deadline: Duration { declaration.deadline }
    public var input: SecretInput? { declaration.input }
    public var outputIsSecret: Bool { declaration.outputIsSecret }
    public var manifests: [StageManifest] { declaration.manifests }
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
