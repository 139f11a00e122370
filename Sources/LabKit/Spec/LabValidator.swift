import Foundation

/// Checks an effective `Lab` against every rule of the lab file: names, roles,
/// sizes, profile (here) and the network plan (`NetworkPlanCheck.swift`).
///
/// Pure: no file, network or VMware access. Errors make the lab invalid;
/// warnings are printed and do not.
public enum LabValidator {
    /// What a check found; paths are lab.json paths.
    public struct Report: Sendable {
        public var errors: [LabProblem] = []
        public var warnings: [LabProblem] = []
        public init() {}
        mutating func error(_ path: String, _ message: String, hint: String? = nil) {
            errors.append(LabProblem(path: path, message: message, hint: hint))
        }
        mutating func warning(_ path: String, _ message: String, hint: String? = nil) {
            warnings.append(LabProblem(path: path, message: message, hint: hint, blocking: false))
        }
    }

    public static func check(_ lab: Lab) -> Report {
        var r = Report()
        checkNames(lab, into: &r)
        checkNetwork(lab, into: &r)
        checkScriptWords(lab, into: &r)
        return r
    }

    /// RFC 1123 hostname: dot-separated labels of lower-case letters, digits and
    /// '-', each 1-63 long, starting and ending alphanumeric, 253 in all.
    /// Lower case only, because Kubernetes node names must be (RFC 1123 subdomain).
    public static func isValidHostname(_ name: String) -> Bool {
        guard !name.isEmpty, name.count <= 253 else { return false }
        return name.split(separator: ".", omittingEmptySubsequences: false).allSatisfy(isValidLabel)
    }

    static func isValidLabel<S: StringProtocol>(_ label: S) -> Bool {
        guard (1...63).contains(label.count), let f = label.first, let l = label.last else { return false }
        func alnum(_ c: Character) -> Bool { c.isASCII && (c.isLowercase || c.isNumber) }
        return alnum(f) && alnum(l) && label.allSatisfy { alnum($0) || $0 == "-" }
    }

    static func checkNames(_ lab: Lab, into r: inout Report) {
        let hostnameHint = "use lower-case letters, digits and '-', starting and ending with a letter or digit (RFC 1123), like cluster1-worker-node01"
        if !isValidLabel(lab.name) {
            r.error("name", "lab name \"\(lab.name)\" is not a valid name: it names the VM folder and the state directory",
                    hint: "use lower-case letters, digits and '-' (at most 63), like istio-multicluster")
        }
        if !LabDefaults.profiles.contains(lab.profile) {
            r.error("profile", "unknown profile \"\(lab.profile)\"; known: \(LabDefaults.profiles.joined(separator: ", "))")
        }
        if lab.mesh.id.trimmingCharacters(in: .whitespaces).isEmpty {
            r.error("mesh.id", "the mesh id must not be empty", hint: "use a name like mesh1 (Istio's meshID)")
        }
        if !isValidHostname(lab.base.name) {
            r.error("base.name", "base name \"\(lab.base.name)\" is not a valid hostname", hint: hostnameHint)
        }
        if lab.ssh.user.isEmpty {
            r.error("ssh.user", "the SSH user must not be empty", hint: "the admin account of the base image (seed 2.1)")
        }
        if !(1...65535).contains(lab.ssh.port) {
            r.error("ssh.port", "SSH port \(lab.ssh.port) is not a TCP port", hint: "use 1-65535; the default is 22")
        }
        let t = lab.vmware.timeouts
        for (key, v) in [("startSeconds", t.startSeconds), ("softStopSeconds", t.softStopSeconds), ("defaultSeconds", t.defaultSeconds)] where v < 1 {
            r.error("vmware.timeouts.\(key)", "timeout \(v) must be at least 1 second", hint: "leave it out to use the default")
        }
        for (key, v) in lab.versions.sorted(by: { $0.key < $1.key }) where v.trimmingCharacters(in: .whitespaces).isEmpty {
            r.error("versions.\(key)", "version of \(key) must not be empty")
        }
        if lab.clusters.isEmpty {
            r.error("clusters", "the lab has no cluster", hint: "add at least one cluster with a control-plane node")
        }
        var clusterNames: [String: Int] = [:]
        var networks: [String: Int] = [:]
        for (ci, c) in lab.clusters.enumerated() {
            let cp = "clusters[\(ci)]"
            if !isValidLabel(c.name) {
                r.error("\(cp).name", "cluster name \"\(c.name)\" is not a valid name", hint: "use lower-case letters, digits and '-', like cluster1")
            }
            if let first = clusterNames[c.name] {
                r.error("\(cp).name", "cluster name \"\(c.name)\" is not unique: clusters[\(first)] has it too", hint: "give every cluster its own name")
            } else {
                clusterNames[c.name] = ci
            }
            if c.network.trimmingCharacters(in: .whitespaces).isEmpty {
                r.error("\(cp).network", "the network name of cluster \(c.name) must not be empty", hint: "use a name like network1 (topology.istio.io/network)")
            } else if let first = networks[c.network] {
                // Same network name = Istio assumes pods reach each other directly; in this
                // lab each cluster has its own pod network behind an east-west gateway (seed 12).
                r.warning("\(cp).network", "clusters[\(first)] uses the same Istio network \"\(c.network)\"",
                          hint: "clusters on separate pod networks need separate network names for the east-west gateway")
            } else {
                networks[c.network] = ci
            }
            let controlPlanes = c.nodes.enumerated().filter { $0.element.role == .controlPlane }
            if controlPlanes.count != 1 {
                let found = controlPlanes.isEmpty ? "none" : "\(controlPlanes.count) (\(controlPlanes.map { "nodes[\($0.offset)]" }.joined(separator: ", ")))"
                r.error(controlPlanes.count > 1 ? "\(cp).nodes[\(controlPlanes[1].offset)].role" : "\(cp).nodes",
                        "cluster \(c.name) needs exactly one control-plane node, found \(found)",
                        hint: "set \"role\": \"control-plane\" on one node and \"worker\" on the others")
            }
            for (ni, n) in c.nodes.enumerated() {
                let np = "\(cp).nodes[\(ni)]"
                if !isValidHostname(n.name) {
                    r.error("\(np).name", "node name \"\(n.name)\" is not a valid hostname", hint: hostnameHint)
                }
                for p in n.sizeProblems {
                    r.error("\(np).\(p.key)", p.message, hint: p.hint)
                }
                if n.template.trimmingCharacters(in: .whitespaces).isEmpty {
                    r.error("\(np).template", "template of node \(n.name) must not be empty")
                }
            }
        }
    }
}

extension NodeSpec {
    /// What is wrong with the node's CPUs and memory, checked here only: lab.json's validation and
    /// the vmx-template renderer both ask. `key` is the node's lab.json key.
    public var sizeProblems: [(key: String, message: String, hint: String)] {
        var problems: [(key: String, message: String, hint: String)] = []
        if cpus < 1 {
            problems.append(("cpus", "node \(name) needs at least 1 CPU, found \(cpus)", "kubeadm wants 2 CPUs; the default is 2"))
        }
        if memoryMiB < 1024 {
            problems.append(("memoryMiB", "node \(name) needs at least 1024 MiB of memory, found \(memoryMiB)", "the default is 4096"))
        } else if memoryMiB % 4 != 0 {
            // VMware's memsize must be a multiple of 4 MB (libvirt src/vmx/vmx.c; docs/vmware-driver.md, "VMX files: character sets and edits").
            problems.append(("memoryMiB", "memory \(memoryMiB) MiB of node \(name) is not a multiple of 4, which VMware requires",
                             "use \(memoryMiB / 4 * 4) or \(memoryMiB / 4 * 4 + 4)"))
        }
        return problems
    }
}
