import Foundation
import LabKit

/// A VM's snapshot database (`<name>.vmsd`), read-only.
///
/// Same `key = "value"` syntax as the VMX (Broadcom KB 337269; docs/vmware-driver.md, "Snapshots").
/// `snapshotN` is an array index, not the hierarchy: the tree comes from `parent` uids.
/// Clone bookkeeping (docs/vmware-driver.md, "Snapshots"): the parent's `snapshotN.numClones`/`snapshotN.cloneM`
/// name the linked clones made from a snapshot; a clone's own `cloneOf0` names its parent VMX.
public struct VMSD: Sendable, Hashable {
    public var tree: SnapshotTree
    /// `snapshot.lastUID`: increases, never reused.
    public var lastUID: Int?
    /// `cloneOfN`: the VMX paths this VM is a linked clone of.
    public var cloneOf: [String]
    /// Where each snapshot was defined (`file:line` of its `uid` key), for messages.
    public var locations: [Int: Location]

    public init(tree: SnapshotTree = SnapshotTree(), lastUID: Int? = nil, cloneOf: [String] = [], locations: [Int: Location] = [:]) {
        self.tree = tree
        self.lastUID = lastUID
        self.cloneOf = cloneOf
        self.locations = locations
    }

    /// The .vmsd next to a VMX: same base name.
    public static func path(forVMX vmx: String) -> String {
        ((vmx as NSString).deletingPathExtension as String) + ".vmsd"
    }

    /// Reads the VM's .vmsd; a VM without one has no snapshots.
    public static func load(forVMX vmx: String) throws -> VMSD {
        let path = path(forVMX: vmx)
        guard FileManager.default.fileExists(atPath: path) else { return VMSD() }
        return try parse(try VMXDocument.load(path: path), source: path)
    }

    public static func parse(_ text: String, source: String) throws -> VMSD {
        try parse(try VMXDocument.parse(text, source: source), source: source)
    }

    public static func parse(_ doc: VMXDocument, source: String) throws -> VMSD {
        // Index keys by line so errors can name one.
        var lineOf: [String: Int] = [:]
        var values: [String: String] = [:]
        var n = 0
        for line in doc.lines {
            n += 1
            if case .entry(let key, let value, _) = line {
                let k = key.lowercased()
                values[k] = value
                lineOf[k] = n
            }
        }
        func loc(_ key: String) -> Location { .file(source, line: lineOf[key]) }
        func int(_ key: String) throws -> Int? {
            guard let v = values[key] else { return nil }
            guard let i = Int(v.trimmingCharacters(in: .whitespaces)) else {
                throw LabError(.invalidInput, "\(key) is not a number: \"\(v)\"", location: loc(key),
                               hint: "the snapshot database is damaged; let VMware repair it (Snapshot Manager) or restore a backup")
            }
            return i
        }

        // Snapshot indices present in the file.
        var indices = Set<Int>()
        for key in values.keys where key.hasPrefix("snapshot") {
            let rest = key.dropFirst("snapshot".count)
            let digits = rest.prefix { $0.isNumber }
            if !digits.isEmpty, rest.dropFirst(digits.count).hasPrefix("."), let i = Int(digits) { indices.insert(i) }
        }

        var snapshots: [SnapshotInfo] = []
        var clones: [Int: [String]] = [:]
        var locations: [Int: Location] = [:]
        for i in indices.sorted() {
            let p = "snapshot\(i)."
            guard let uid = try int(p + "uid") else {
                let anyKey = values.keys.filter { $0.hasPrefix(p) }.min { (lineOf[$0] ?? 0) < (lineOf[$1] ?? 0) } ?? p
                throw LabError(.invalidInput, "snapshot\(i) has no uid", location: loc(anyKey),
                               hint: "the snapshot database looks truncated; let VMware repair it or restore a backup")
            }
            if let other = snapshots.first(where: { $0.uid == uid }) {
                throw LabError(.invalidInput, "two snapshots share uid \(uid) (\"\(other.name)\")", location: loc(p + "uid"))
            }
            let name = values[p + "displayname"] ?? ""
            let parent = try int(p + "parent")
            snapshots.append(SnapshotInfo(uid: uid, name: name, parentUID: parent,
                                          createdAt: createTime(high: values[p + "createtimehigh"], low: values[p + "createtimelow"])))
            locations[uid] = loc(p + "uid")
            let cloneCount = try int(p + "numclones") ?? 0
            var paths: [String] = []
            for m in 0..<max(cloneCount, 0) {
                guard let path = values[p + "clone\(m)"] else {
                    throw LabError(.invalidInput, "snapshot\(i) says it has \(cloneCount) clones but \(p)clone\(m) is missing",
                                   location: loc(p + "numclones"), hint: "the snapshot database looks truncated")
                }
                paths.append(path)
            }
            if !paths.isEmpty { clones[uid] = paths }
        }

        if let declared = try int("snapshot.numsnapshots"), declared != snapshots.count {
            throw LabError(.invalidInput, "snapshot.numSnapshots says \(declared) but the file describes \(snapshots.count)",
                           location: loc("snapshot.numsnapshots"),
                           hint: "the snapshot database looks truncated; let VMware repair it (Snapshot Manager) or restore a backup")
        }
        let uids = Set(snapshots.map(\.uid))
        for s in snapshots {
            if let parent = s.parentUID, !uids.contains(parent) {
                throw LabError(.invalidInput, "snapshot \"\(s.name)\" (uid \(s.uid)) names a parent uid \(parent) that does not exist",
                               location: locations[s.uid] ?? .file(source), hint: "the snapshot database is damaged")
            }
        }
        var current = try int("snapshot.current")
        if let c = current, !uids.contains(c) { current = nil }

        var cloneOf: [String] = []
        let numCloneOf = try int("numcloneof") ?? 0
        // The cloneOfN keys present, in index order, below the count: the count alone never drives
        // a loop (a damaged `numCloneOf = "999999999999"` spun for hours; docs/robustness.md, "Fuzzing").
        let cloneKeys = values.keys.compactMap { key -> Int? in
            guard key.hasPrefix("cloneof"), let m = Int(key.dropFirst("cloneof".count)), key == "cloneof\(m)" else { return nil }
            return m
        }
        for m in cloneKeys.sorted() where m >= 0 && m < numCloneOf { if let v = values["cloneof\(m)"] { cloneOf.append(v) } }
        if numCloneOf == 0, let v = values["cloneof0"] { cloneOf.append(v) }

        let ordered = topologicallySorted(snapshots)
        return VMSD(tree: SnapshotTree(snapshots: ordered, currentUID: current, clones: clones),
                    lastUID: try int("snapshot.lastuid"), cloneOf: cloneOf, locations: locations)
    }

    /// createTimeHigh/Low: a 64-bit microsecond Unix time split in two 32-bit halves; the low half
    /// is often written as a signed number (field semantics undocumented, KB 337269).
    static func createTime(high: String?, low: String?) -> Date? {
        guard let h = high.flatMap({ Int64($0) }), let l = low.flatMap({ Int64($0) }) else { return nil }
        let micros = (h << 32) | (l & 0xffff_ffff)
        guard micros > 0 else { return nil }
        return Date(timeIntervalSince1970: Double(micros) / 1_000_000)
    }

    /// Parents before children; siblings in file order. Cycles (a damaged file) are appended as they are.
    static func topologicallySorted(_ snapshots: [SnapshotInfo]) -> [SnapshotInfo] {
        var out: [SnapshotInfo] = []
        var placed = Set<Int>()
        func visit(_ parent: Int?) {
            for s in snapshots where s.parentUID == parent && !placed.contains(s.uid) {
                placed.insert(s.uid)
                out.append(s)
                visit(s.uid)
            }
        }
        visit(nil)
        for s in snapshots where !placed.contains(s.uid) { out.append(s) }
        return out
    }
}

extension SnapshotTree {
    public func snapshot(uid: Int) -> SnapshotInfo? { snapshots.first { $0.uid == uid } }

    /// The chain of names from the root to `uid`.
    public func path(to uid: Int) -> [SnapshotInfo] {
        var chain: [SnapshotInfo] = []
        var next: Int? = uid
        var seen = Set<Int>()
        while let u = next, let s = snapshot(uid: u), !seen.contains(u) {
            seen.insert(u)
            chain.insert(s, at: 0)
            next = s.parentUID
        }
        return chain
    }

    /// Resolves a selector to exactly one snapshot; a duplicate name is an error listing the uids.
    public func resolve(_ selector: SnapshotSelector, vm: String) throws -> SnapshotInfo {
        switch selector {
        case .uid(let uid):
            guard let s = snapshot(uid: uid) else {
                throw LabError(.notFound, "the VM has no snapshot with uid \(uid)", location: .file(vm),
                               hint: "list the snapshots with labctl snapshot list")
            }
            return s
        case .name(let name):
            let matches = named(name)
            if matches.count == 1, let only = matches.first { return only }
            if matches.isEmpty {
                throw LabError(.notFound, "the VM has no snapshot named \"\(name)\"", location: .file(vm),
                               hint: "list the snapshots with labctl snapshot list")
            }
            let list = matches.map { s in
                "uid \(s.uid)" + (s.createdAt.map { " taken \(ISO8601DateFormatter().string(from: $0))" } ?? "")
            }.joined(separator: ", ")
            throw LabError(.conflict, "\(matches.count) snapshots are named \"\(name)\" (\(list))", location: .file(vm),
                           hint: "VMware allows duplicate names; pick one by uid, or delete or rename the extra ones")
        }
    }

    /// The name vmrun should be given for `snapshot`. vmrun addresses snapshots by name, and
    /// VIX treats `/` as a path separator (GOVIX GetNamedSnapshot), so a
    /// duplicate name is disambiguated by its path from the root when that path is unique.
    public func vmrunName(for snapshot: SnapshotInfo, vm: String) throws -> String {
        if named(snapshot.name).count == 1 && !snapshot.name.contains("/") { return snapshot.name }
        let chain = path(to: snapshot.uid)
        if chain.contains(where: { $0.name.contains("/") || $0.name.contains("\\") }) {
            throw LabError(.unsupported, "snapshot \"\(snapshot.name)\" (uid \(snapshot.uid)) cannot be named for vmrun: a name on its path contains / or \\",
                           location: .file(vm), hint: "rename the snapshot in VMware's Snapshot Manager")
        }
        // Siblings with the same name make the path ambiguous too.
        let siblings = children(of: snapshot.parentUID).filter { $0.name == snapshot.name }
        let ancestorsAmbiguous = chain.dropLast().contains { a in children(of: a.parentUID).filter { $0.name == a.name }.count > 1 }
        if siblings.count > 1 || ancestorsAmbiguous {
            throw LabError(.conflict, "snapshot \"\(snapshot.name)\" (uid \(snapshot.uid)) has a sibling of the same name, so vmrun cannot tell them apart",
                           location: .file(vm), hint: "rename or delete one of them in VMware's Snapshot Manager")
        }
        return chain.map(\.name).joined(separator: "/")
    }
}
