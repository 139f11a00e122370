import Foundation
import LabKit
import Yams

/// Seed 11: one kubeconfig with a context per cluster, made from the clusters' admin.conf files.
///
/// kubeadm names everything after `clusterName` (`kubernetes-admin@cluster1`), but the user is
/// `kubernetes-admin` in both files, so a naive merge loses one cluster's credentials. Here the
/// cluster, the user and the context are all renamed after the lab's cluster (`cluster1`), and
/// each server is set to the control plane's lab address, which both the host and the other
/// cluster reach (`create-remote-secret` embeds it; docs/stages.md, "Remote secrets name a reachable API server").
public enum KubeconfigMerge {
    public struct Entry: Sendable, Hashable {
        public var cluster: String
        public var adminConf: String
        /// `https://<address>:6443`; nil keeps the server admin.conf names.
        public var server: String?
        public init(cluster: String, adminConf: String, server: String? = nil) {
            self.cluster = cluster
            self.adminConf = adminConf
            self.server = server
        }
    }

    /// Merges admin.conf files, keeping each file's server.
    public static func merge(_ configs: [(cluster: String, adminConf: String)]) throws -> String {
        try merge(entries: configs.map { Entry(cluster: $0.cluster, adminConf: $0.adminConf) })
    }

    /// Merges the lab's admin.conf files (by cluster name), each server set to its control plane.
    public static func merge(lab: Lab, adminConfs: [String: String]) throws -> String {
        let entries = try lab.clusters.map { cluster -> Entry in
            guard let conf = adminConfs[cluster.name] else {
                throw LabError(.internalError, "no admin.conf for \(cluster.name)", location: .other("cluster \(cluster.name)"))
            }
            guard let cp = cluster.controlPlane else {
                throw LabError(.invalidInput, "cluster \(cluster.name) has no control-plane node", location: .lab("clusters"))
            }
            return Entry(cluster: cluster.name, adminConf: conf, server: "https://\(cp.address):6443")
        }
        return try merge(entries: entries)
    }

    public static func merge(entries: [Entry]) throws -> String {
        var clusters: [[String: Any]] = []
        var users: [[String: Any]] = []
        var contexts: [[String: Any]] = []
        var seen = Set<String>()
        for entry in entries {
            guard seen.insert(entry.cluster).inserted else {
                throw LabError(.internalError, "cluster \(entry.cluster) appears twice in the kubeconfig merge")
            }
            let location = "admin.conf of \(entry.cluster)"
            let root: Node?
            do { root = try Yams.compose(yaml: entry.adminConf) } catch {
                throw LabError(.commandFailed, "the admin kubeconfig is not YAML", location: .other(location), cause: error)
            }
            if let root, let problem = unsafeYAML(root, limit: maxExpandedNodes) {
                throw LabError(.commandFailed, "the admin kubeconfig cannot be read: \(problem)", location: .other(location),
                               hint: "kubeadm writes admin.conf with string keys and without aliases; check the file on the control plane")
            }
            let object = root?.any
            guard let config = object as? [String: Any] else {
                throw LabError(.commandFailed, "the admin kubeconfig is not a YAML mapping", location: .other(location))
            }
            let allContexts = config["contexts"] as? [[String: Any]] ?? []
            let current = config["current-context"] as? String
            guard let context = allContexts.first(where: { $0["name"] as? String == current }) ?? allContexts.first,
                  let body = context["context"] as? [String: Any],
                  let clusterName = body["cluster"] as? String, let userName = body["user"] as? String
            else {
                throw LabError(.commandFailed, "the admin kubeconfig has no usable context", location: .other(location))
            }
            guard var cluster = (config["clusters"] as? [[String: Any]])?.first(where: { $0["name"] as? String == clusterName })?["cluster"] as? [String: Any] else {
                throw LabError(.commandFailed, "the admin kubeconfig has no cluster '\(clusterName)'", location: .other(location))
            }
            guard let user = (config["users"] as? [[String: Any]])?.first(where: { $0["name"] as? String == userName })?["user"] as? [String: Any] else {
                throw LabError(.commandFailed, "the admin kubeconfig has no user '\(userName)'", location: .other(location))
            }
            if let server = entry.server { cluster["server"] = server }
            clusters.append(["name": entry.cluster, "cluster": cluster])
            users.append(["name": entry.cluster, "user": user])
            var renamed = body
            renamed["cluster"] = entry.cluster
            renamed["user"] = entry.cluster
            contexts.append(["name": entry.cluster, "context": renamed])
        }
        let merged: [String: Any] = [
            "apiVersion": "v1", "kind": "Config", "preferences": [String: Any](),
            "clusters": clusters, "users": users, "contexts": contexts,
            "current-context": entries.first?.cluster ?? "",
        ]
        do { return try Yams.dump(object: merged, sortKeys: true) } catch {
            throw LabError(.internalError, "cannot write the merged kubeconfig as YAML", cause: error)
        }
    }

    /// An admin.conf has a few dozen nodes; this leaves room for many clusters, users and extensions.
    static let maxExpandedNodes = 100_000

    /// What in a composed document would break turning it into values (docs/robustness.md, "Fuzzing"):
    /// - Composing shares an aliased node; `any` copies it at every alias, so a few hundred bytes of
    ///   nested aliases ("billion laughs") take minutes and GiBs. The walk counts the nodes the tree
    ///   expands to and stops past `limit`.
    /// - `any` force-unwraps every mapping key as a string and traps on a sequence or mapping as a key
    ///   (`[a, b]: c`; Yams 6.2.2 `Constructor.swift`, `private_construct_mapping`).
    static func unsafeYAML(_ root: Node, limit: Int) -> String? {
        var count = 0
        var pending = [root]
        while let node = pending.popLast() {
            count += 1
            if count > limit { return "it expands to more than \(limit) YAML nodes (nested aliases)" }
            switch node {
            case .mapping(let mapping):
                for (key, value) in mapping {
                    guard case .scalar = key else {
                        return "a mapping key is not a string" + (key.mark.map { " (line \($0.line))" } ?? "")
                    }
                    pending.append(key)
                    pending.append(value)
                }
            case .sequence(let sequence):
                pending.append(contentsOf: sequence)
            case .scalar, .alias:
                break
            }
        }
        return nil
    }

    /// Writes the merged kubeconfig to the lab's state directory (`LabPaths.kubeconfig`), mode 0600.
    public static func write(_ text: String, paths: LabPaths) throws {
        try write(text, to: paths.kubeconfig)
    }

    /// Writes atomically with mode 0600 (`AtomicFile`: a unique private temp file in the same
    /// directory, fsync, rename), so no reader ever sees a partial file, the client key is never
    /// world-readable, and a full disk leaves the previous kubeconfig as it was.
    public static func write(_ text: String, to path: String) throws {
        try AtomicFile.createDirectory(for: path, mode: 0o700)
        try AtomicFile.write(Data(text.utf8), to: path, mode: 0o600)
    }
}
