import Foundation

/// One problem found in a lab file, before it becomes a `LabError`.
///
/// `path` is the JSON path of the offending value (`clusters[0].nodes[1].address`,
/// empty for the root); the loader adds the file name and, when the value is in
/// the file, its line and column.
public struct LabProblem: Sendable, Hashable, CustomStringConvertible {
    public var path: String
    public var message: String
    public var hint: String?
    /// Where the value is in the file, when the parser saw it there.
    public var position: SourcePosition?
    /// Decoding cannot build a `Lab` after this problem (a missing or mistyped value).
    /// An unknown key does not block: the lab is still checked, so every problem shows at once.
    public var blocking: Bool

    public init(path: String, message: String, hint: String? = nil, position: SourcePosition? = nil, blocking: Bool = true) {
        self.path = path
        self.message = message
        self.hint = hint
        self.position = position
        self.blocking = blocking
    }

    public var description: String { path.isEmpty ? message : "\(path): \(message)" }
}

/// Decodes a parsed lab.json (`JSONNode`) into the effective `Lab`, strictly.
///
/// Every object checks its keys against the known keys below (`LabDecoder.knownKeys`,
/// which `LabSchemaTests` compares with the schema), every value its type; all
/// problems are collected, none stops the walk.
struct LabDecoder {
    /// The keys each kind of object accepts, in the order the reference documents them.
    static let knownKeys: [String: [String]] = [
        "lab": ["$schema", "apiVersion", "name", "profile", "versions", "network", "base", "mesh", "clusters", "checkpoints", "ssh", "vmware"],
        "network": ["vmnet", "subnet", "gateway", "hostAddress", "dns", "dhcp"],
        "base": ["name", "vmx", "address", "interface", "workerCheckpoint", "controlPlaneCheckpoint", "arch"],
        "mesh": ["id"],
        "cluster": ["name", "network", "podSubnet", "serviceSubnet", "metallb", "nodes"],
        "node": ["name", "role", "address", "cpus", "memoryMiB", "mac", "template"],
        "checkpoints": ["nodes", "kubernetes", "kubeconfig", "mesh"],
        "ssh": ["user", "port", "privateKey"],
        "vmware": ["product", "vmrun", "vmFolder", "cloneKind", "timeouts"],
        "timeouts": ["startSeconds", "softStopSeconds", "defaultSeconds"],
    ]

    private(set) var problems: [LabProblem] = []
    /// Position of every value seen, by JSON path, so later checks can point at it.
    private(set) var positions: [String: SourcePosition] = [:]

    static func path(_ base: String, _ key: String) -> String { base.isEmpty ? key : "\(base).\(key)" }
    static func path(_ base: String, _ index: Int) -> String { "\(base)[\(index)]" }

    // MARK: objects and keys

    /// An object's members, after reporting unknown keys.
    struct Object {
        var path: String
        var node: JSONNode
        var members: [String: JSONNode]
    }

    mutating func object(_ node: JSONNode, _ path: String, kind: String) -> Object? {
        positions[path] = node.position
        guard case .object(let members) = node.value else {
            report(path, "expected an object, found \(node.typeName)", node.position)
            return nil
        }
        let known = Self.knownKeys[kind] ?? []
        var map: [String: JSONNode] = [:]
        for m in members {
            map[m.key] = m.value
            guard known.contains(m.key) else {
                let where_ = path.isEmpty ? "the top level" : path
                var hint = "keys allowed in \(where_): \(known.joined(separator: ", "))"
                if let s = Self.suggestion(for: m.key, among: known) { hint = "did you mean \"\(s)\"? " + hint }
                problems.append(LabProblem(path: Self.path(path, m.key), message: "unknown key \"\(m.key)\"", hint: hint,
                                           position: m.keyPosition, blocking: false))
                continue
            }
            positions[Self.path(path, m.key)] = m.value.position
        }
        return Object(path: path, node: node, members: map)
    }

    /// The closest known key by edit distance (case-insensitive), when it is close enough to be a typo.
    static func suggestion(for key: String, among known: [String]) -> String? {
        let lower = key.lowercased()
        let scored = known.map { ($0, editDistance(lower, $0.lowercased())) }
        guard let best = scored.min(by: { $0.1 < $1.1 }) else { return nil }
        let limit = max(2, key.count / 3)
        return best.1 <= limit ? best.0 : nil
    }

    /// Levenshtein distance over characters.
    static func editDistance(_ a: String, _ b: String) -> Int {
        let x = Array(a), y = Array(b)
        if x.isEmpty { return y.count }
        if y.isEmpty { return x.count }
        var prev = Array(0...y.count)
        var cur = [Int](repeating: 0, count: y.count + 1)
        for i in 1...x.count {
            cur[0] = i
            for j in 1...y.count {
                cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x[i - 1] == y[j - 1] ? 0 : 1))
            }
            swap(&prev, &cur)
        }
        return prev[y.count]
    }

    mutating func report(_ path: String, _ message: String, _ position: SourcePosition?, hint: String? = nil) {
        problems.append(LabProblem(path: path, message: message, hint: hint, position: position))
    }

    // MARK: fields

    /// A member's value converted by `convert`; a missing required key is reported at the object.
    mutating func field<T>(_ obj: Object, _ key: String, required: Bool,
                           _ convert: (inout LabDecoder, JSONNode, String) -> T?) -> T? {
        let p = Self.path(obj.path, key)
        guard let node = obj.members[key] else {
            if required {
                let owner = obj.path.isEmpty ? "the top level" : obj.path
                report(p, "missing required key \"\(key)\" in \(owner)", obj.node.position,
                       hint: "add \"\(key)\" (see the lab.json reference in README.md, or run `labctl schema`)")
            }
            return nil
        }
        return convert(&self, node, p)
    }

    mutating func string(_ node: JSONNode, _ path: String) -> String? {
        guard case .string(let s) = node.value else {
            report(path, "expected a string, found \(node.typeName)", node.position)
            return nil
        }
        return s
    }

    mutating func nonEmptyString(_ node: JSONNode, _ path: String) -> String? {
        guard let s = string(node, path) else { return nil }
        guard !s.trimmingCharacters(in: .whitespaces).isEmpty else {
            report(path, "must not be empty", node.position)
            return nil
        }
        return s
    }

    mutating func integer(_ node: JSONNode, _ path: String) -> Int? {
        guard case .number(let text) = node.value else {
            report(path, "expected an integer, found \(node.typeName)", node.position)
            return nil
        }
        guard let v = Int(text) else {
            report(path, "expected an integer, found \(text)", node.position)
            return nil
        }
        return v
    }

    mutating func oneOf(_ node: JSONNode, _ path: String, _ allowed: [String]) -> String? {
        guard let s = string(node, path) else { return nil }
        guard allowed.contains(s) else {
            let quoted = allowed.map { "\"\($0)\"" }.joined(separator: ", ")
            var hint: String?
            if let near = Self.suggestion(for: s, among: allowed) { hint = "did you mean \"\(near)\"?" }
            report(path, "expected one of \(quoted), found \"\(s)\"", node.position, hint: hint)
            return nil
        }
        return s
    }

    mutating func ipv4(_ node: JSONNode, _ path: String) -> IPv4Address? {
        guard let s = string(node, path) else { return nil }
        guard let a = IPv4Address(s) else {
            report(path, "\"\(s)\" is not a valid IPv4 address", node.position,
                   hint: "write four decimal octets 0-255 without a prefix length, like 192.168.50.10")
            return nil
        }
        return a
    }

    mutating func network(_ node: JSONNode, _ path: String) -> IPv4Network? {
        guard let s = string(node, path) else { return nil }
        if let n = IPv4Network(s) { return n }
        let parts = s.split(separator: "/", omittingEmptySubsequences: false)
        if parts.count == 2, let a = IPv4Address(String(parts[0])), let p = Int(parts[1]), (0...32).contains(p) {
            let n = IPv4Network(address: a, prefixLength: p)
            report(path, "\"\(s)\" is not a network address: host bits are set", node.position,
                   hint: "use the network address, \(n.network)/\(p)")
        } else {
            report(path, "\"\(s)\" is not a valid IPv4 CIDR", node.position,
                   hint: "write the network address and a prefix length 0-32, like 192.168.50.0/24")
        }
        return nil
    }

    mutating func range(_ node: JSONNode, _ path: String) -> IPv4Range? {
        guard let s = string(node, path) else { return nil }
        guard let r = IPv4Range(s) else {
            report(path, "\"\(s)\" is not a valid address range", node.position,
                   hint: "write first-last, like 192.168.50.81-192.168.50.100 (or a CIDR, like 192.168.50.80/28)")
            return nil
        }
        return r
    }

    mutating func mac(_ node: JSONNode, _ path: String) -> MACAddress? {
        guard let s = string(node, path) else { return nil }
        // Six pairs of hex digits: the schema's pattern, stricter than MACAddress's own parser.
        let pairs = s.split(separator: ":", omittingEmptySubsequences: false)
        guard pairs.count == 6, pairs.allSatisfy({ $0.count == 2 && $0.allSatisfy(\.isHexDigit) }), let m = MACAddress(s) else {
            report(path, "\"\(s)\" is not a valid MAC address", node.position,
                   hint: "write six hex pairs separated by ':', in VMware's static range, like 00:50:56:3a:00:01")
            return nil
        }
        return m
    }

    mutating func array<T>(_ node: JSONNode, _ path: String, _ element: (inout LabDecoder, JSONNode, String) -> T?) -> [T]? {
        guard case .array(let items) = node.value else {
            report(path, "expected an array, found \(node.typeName)", node.position)
            return nil
        }
        var out: [T] = []
        var ok = true
        for (i, item) in items.enumerated() {
            let p = Self.path(path, i)
            positions[p] = item.position
            if let v = element(&self, item, p) { out.append(v) } else { ok = false }
        }
        return ok ? out : nil
    }

    mutating func stringMap(_ node: JSONNode, _ path: String) -> [String: String]? {
        guard case .object(let members) = node.value else {
            report(path, "expected an object of strings, found \(node.typeName)", node.position)
            return nil
        }
        var out: [String: String] = [:]
        var ok = true
        for m in members {
            let p = Self.path(path, m.key)
            positions[p] = m.value.position
            if let s = nonEmptyString(m.value, p) { out[m.key] = s } else { ok = false }
        }
        return ok ? out : nil
    }

    // MARK: the lab

    mutating func decodeLab(_ root: JSONNode) -> Lab? {
        guard let obj = object(root, "", kind: "lab") else { return nil }
        _ = field(obj, "$schema", required: false) { $0.string($1, $2) }
        let apiVersion = field(obj, "apiVersion", required: true) { d, node, p -> String? in
            guard let s = d.string(node, p) else { return nil }
            guard s == Lab.apiVersion else {
                d.report(p, "unsupported apiVersion \"\(s)\"; supported: \"\(Lab.apiVersion)\"", node.position,
                         hint: "set \"apiVersion\": \"\(Lab.apiVersion)\"")
                return nil
            }
            return s
        }
        let name = field(obj, "name", required: true) { $0.nonEmptyString($1, $2) }
        let profile = field(obj, "profile", required: true) { $0.oneOf($1, $2, LabDefaults.profiles) }
        let versions = field(obj, "versions", required: false) { $0.stringMap($1, $2) }
        let network = field(obj, "network", required: true) { $0.decodeNetwork($1, $2) }
        let base = field(obj, "base", required: true) { $0.decodeBase($1, $2) }
        let mesh = field(obj, "mesh", required: true) { d, node, p -> MeshSpec? in
            guard let o = d.object(node, p, kind: "mesh") else { return nil }
            guard let id = d.field(o, "id", required: true, { $0.nonEmptyString($1, $2) }) else { return nil }
            return MeshSpec(id: id)
        }
        let effectiveProfile = profile ?? LabDefaults.profiles[0]
        let clusters = field(obj, "clusters", required: true) { d, node, p in
            d.array(node, p) { d, node, p in d.decodeCluster(node, p, lab: name ?? "", profile: effectiveProfile) }
        }
        let checkpoints = field(obj, "checkpoints", required: false) { $0.decodeCheckpoints($1, $2) }
        let ssh = field(obj, "ssh", required: true) { $0.decodeSSH($1, $2) }
        let vmware = field(obj, "vmware", required: false) { $0.decodeVMware($1, $2) }

        guard !problems.contains(where: \.blocking),
              let apiVersion, let name, let profile, let network, let base, let mesh, let clusters, let ssh else { return nil }
        return Lab(apiVersion: apiVersion, name: name, profile: profile, versions: versions ?? [:], network: network,
                   base: base, mesh: mesh, clusters: clusters, checkpoints: checkpoints ?? CheckpointSpec(), ssh: ssh,
                   vmware: vmware ?? VMwareSpec(vmFolder: LabLoader.expandTilde(VMwareSpec().vmFolder)))
    }

    mutating func decodeNetwork(_ node: JSONNode, _ p: String) -> NetworkSpec? {
        guard let o = object(node, p, kind: "network") else { return nil }
        let vmnet = field(o, "vmnet", required: false) { $0.nonEmptyString($1, $2) }
        let subnet = field(o, "subnet", required: true) { $0.network($1, $2) }
        let gateway = field(o, "gateway", required: false) { $0.ipv4($1, $2) }
        let hostAddress = field(o, "hostAddress", required: false) { $0.ipv4($1, $2) }
        let dns = field(o, "dns", required: false) { d, n, p in d.array(n, p) { $0.ipv4($1, $2) } }
        let dhcp = field(o, "dhcp", required: false) { $0.range($1, $2) }
        guard let subnet else { return nil }
        let gw = gateway ?? LabDefaults.gateway(subnet)
        return NetworkSpec(vmnet: vmnet ?? LabDefaults.vmnet, subnet: subnet, gateway: gw,
                           hostAddress: hostAddress ?? LabDefaults.hostAddress(subnet), dns: dns ?? [gw],
                           dhcp: dhcp ?? LabDefaults.dhcp(subnet))
    }

    mutating func decodeBase(_ node: JSONNode, _ p: String) -> BaseSpec? {
        guard let o = object(node, p, kind: "base") else { return nil }
        let name = field(o, "name", required: true) { $0.nonEmptyString($1, $2) }
        let vmx = field(o, "vmx", required: true) { $0.nonEmptyString($1, $2) }
        let address = field(o, "address", required: false) { $0.ipv4($1, $2) }
        let interface = field(o, "interface", required: false) { $0.nonEmptyString($1, $2) }
        let worker = field(o, "workerCheckpoint", required: false) { $0.nonEmptyString($1, $2) }
        let control = field(o, "controlPlaneCheckpoint", required: false) { $0.nonEmptyString($1, $2) }
        let arch = field(o, "arch", required: false) { $0.oneOf($1, $2, GuestArch.allCases.map(\.rawValue)) }
        guard let name, let vmx else { return nil }
        return BaseSpec(name: name, vmx: LabLoader.expandTilde(vmx), address: address,
                        interface: interface ?? LabDefaults.interface,
                        workerCheckpoint: worker ?? LabDefaults.workerCheckpoint,
                        controlPlaneCheckpoint: control ?? LabDefaults.controlPlaneCheckpoint,
                        arch: arch.flatMap(GuestArch.init(rawValue:)) ?? LabDefaults.arch)
    }

    mutating func decodeCluster(_ node: JSONNode, _ p: String, lab: String, profile: String) -> ClusterSpec? {
        guard let o = object(node, p, kind: "cluster") else { return nil }
        let name = field(o, "name", required: true) { $0.nonEmptyString($1, $2) }
        let network = field(o, "network", required: true) { $0.nonEmptyString($1, $2) }
        let pod = field(o, "podSubnet", required: false) { $0.network($1, $2) }
        let service = field(o, "serviceSubnet", required: false) { $0.network($1, $2) }
        let metallb = field(o, "metallb", required: true) { d, n, p in d.array(n, p) { $0.range($1, $2) } }
        let nodes = field(o, "nodes", required: true) { d, n, p in d.array(n, p) { $0.decodeNode($1, $2, lab: lab) } }
        guard let name, let network, let metallb, let nodes else { return nil }
        return ClusterSpec(name: name, network: network, podSubnet: pod ?? LabDefaults.podSubnet(profile: profile),
                           serviceSubnet: service ?? LabDefaults.serviceSubnet, metallb: metallb, nodes: nodes)
    }

    mutating func decodeNode(_ node: JSONNode, _ p: String, lab: String) -> NodeSpec? {
        guard let o = object(node, p, kind: "node") else { return nil }
        let name = field(o, "name", required: true) { $0.nonEmptyString($1, $2) }
        let role = field(o, "role", required: true) { $0.oneOf($1, $2, NodeRole.allCases.map(\.rawValue)) }.flatMap(NodeRole.init(rawValue:))
        let address = field(o, "address", required: true) { $0.ipv4($1, $2) }
        let cpus = field(o, "cpus", required: false) { $0.integer($1, $2) }
        let memory = field(o, "memoryMiB", required: false) { $0.integer($1, $2) }
        let mac = field(o, "mac", required: false) { $0.mac($1, $2) }
        let template = field(o, "template", required: false) { $0.nonEmptyString($1, $2) }
        guard let name, let role, let address else { return nil }
        return NodeSpec(name: name, role: role, address: address, cpus: cpus ?? LabDefaults.cpus,
                        memoryMiB: memory ?? LabDefaults.memoryMiB,
                        mac: mac ?? MACAddress.derived(lab: lab, node: name), template: template ?? role.rawValue)
    }

    mutating func decodeCheckpoints(_ node: JSONNode, _ p: String) -> CheckpointSpec? {
        guard let o = object(node, p, kind: "checkpoints") else { return nil }
        let d = CheckpointSpec()
        return CheckpointSpec(
            nodes: field(o, "nodes", required: false) { $0.nonEmptyString($1, $2) } ?? d.nodes,
            kubernetes: field(o, "kubernetes", required: false) { $0.nonEmptyString($1, $2) } ?? d.kubernetes,
            kubeconfig: field(o, "kubeconfig", required: false) { $0.nonEmptyString($1, $2) } ?? d.kubeconfig,
            mesh: field(o, "mesh", required: false) { $0.nonEmptyString($1, $2) } ?? d.mesh)
    }

    mutating func decodeSSH(_ node: JSONNode, _ p: String) -> SSHSpec? {
        guard let o = object(node, p, kind: "ssh") else { return nil }
        let user = field(o, "user", required: true) { $0.nonEmptyString($1, $2) }
        let port = field(o, "port", required: false) { $0.integer($1, $2) }
        let key = field(o, "privateKey", required: false) { $0.nonEmptyString($1, $2) }
        guard let user else { return nil }
        return SSHSpec(user: user, port: port ?? LabDefaults.sshPort, privateKey: key.map(LabLoader.expandTilde))
    }

    mutating func decodeVMware(_ node: JSONNode, _ p: String) -> VMwareSpec? {
        guard let o = object(node, p, kind: "vmware") else { return nil }
        let d = VMwareSpec()
        let product = field(o, "product", required: false) { $0.oneOf($1, $2, VMwareProduct.allCases.map(\.rawValue)) }
        let vmrun = field(o, "vmrun", required: false) { $0.nonEmptyString($1, $2) }
        let folder = field(o, "vmFolder", required: false) { $0.nonEmptyString($1, $2) }
        let clone = field(o, "cloneKind", required: false) { $0.oneOf($1, $2, CloneKind.allCases.map(\.rawValue)) }
        let timeouts = field(o, "timeouts", required: false) { d, node, p -> VMwareTimeouts? in
            guard let t = d.object(node, p, kind: "timeouts") else { return nil }
            let def = VMwareTimeouts()
            return VMwareTimeouts(
                startSeconds: d.field(t, "startSeconds", required: false) { $0.integer($1, $2) } ?? def.startSeconds,
                softStopSeconds: d.field(t, "softStopSeconds", required: false) { $0.integer($1, $2) } ?? def.softStopSeconds,
                defaultSeconds: d.field(t, "defaultSeconds", required: false) { $0.integer($1, $2) } ?? def.defaultSeconds)
        }
        return VMwareSpec(product: product.flatMap(VMwareProduct.init(rawValue:)) ?? d.product,
                          vmrun: vmrun.map(LabLoader.expandTilde),
                          vmFolder: LabLoader.expandTilde(folder ?? d.vmFolder),
                          cloneKind: clone.flatMap(CloneKind.init(rawValue:)) ?? d.cloneKind,
                          timeouts: timeouts ?? d.timeouts)
    }
}
