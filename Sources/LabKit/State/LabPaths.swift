import Foundation

/// Where a lab keeps its state: `.labctl/` next to lab.json (git-ignored).
///
/// Everything labctl learns or makes for a lab lives here, so deleting the folder
/// forgets the lab without touching any VM.
public struct LabPaths: Sendable, Hashable {
    /// The state directory, `<dir of lab.json>/.labctl`.
    public var root: String

    public init(labFile: String) {
        let dir = (labFile as NSString).deletingLastPathComponent
        root = ((dir.isEmpty ? "." : dir) as NSString).appendingPathComponent(".labctl")
    }

    public init(root: String) { self.root = root }

    private func path(_ name: String) -> String { (root as NSString).appendingPathComponent(name) }

    /// The lab's SSH key pair (mode 0600), created on first use unless lab.json names one.
    public var privateKey: String { path("id_ed25519") }
    public var publicKey: String { path("id_ed25519.pub") }
    /// Host-key pins for the lab's guests; the user's ~/.ssh/known_hosts is never touched.
    public var knownHosts: String { path("known_hosts") }
    /// The stage journal.
    public var journal: String { path("journal.json") }
    /// Held while a labctl runs on this lab; holds its PID.
    public var lock: String { path("lock") }
    /// One log per node, plus `host.log`.
    public var logs: String { path("logs") }
    public func log(node: String) -> String { (logs as NSString).appendingPathComponent("\(node).log") }
    /// Lab snapshot manifests.
    public var snapshots: String { path("snapshots") }
    /// The Istio CA: root and one intermediate per cluster (keys 0600).
    public var pki: String { path("pki") }
    /// The merged kubeconfig (mode 0600).
    public var kubeconfig: String { path("kubeconfig") }
    /// Stage timings of the last runs.
    public var timings: String { path("timings") }
}
