import Foundation

/// One lab snapshot: which VM has which VMware snapshot, and where the stage journal stood.
///
/// Stored as `<state dir>/snapshots/<name>.json` (see docs/snapshots.md). VMware allows duplicate
/// snapshot names, so every node records the snapshot's uid; the name is kept for humans and for
/// reconciling a save that was killed before it learnt the uid.
public struct LabSnapshotManifest: Sendable, Codable, Hashable {
    public static let formatVersion = 1

    /// Where a lab snapshot is in its life. Only `complete` snapshots can be restored.
    public enum Status: String, Sendable, Codable, Hashable {
        /// `save` wrote this before creating any VMware snapshot. A `pending` manifest left behind
        /// by a killed save is rolled back by the next `save` or `delete` of that name.
        case pending
        /// Every node's VMware snapshot exists and is recorded by uid.
        case complete
        /// `delete` started removing the VMware snapshots; the next `delete` finishes it.
        case deleting
    }

    public struct Node: Sendable, Codable, Hashable {
        public var node: String
        public var cluster: String
        /// The VM's .vmx path.
        public var vm: String
        /// The VMware snapshot's name (the lab snapshot's name).
        public var snapshotName: String
        /// The VMware snapshot's uid; nil while the manifest is `pending` and the snapshot is not made yet.
        public var snapshotUID: Int?
        /// The VM's power state when the snapshot was taken: restore starts only VMs that were on.
        public var powerState: PowerState
        public var taken: Date?
        /// The journal position when this node's snapshot was taken, when it differs from the
        /// manifest's (the per-node checkpoints `up` takes as each node is ready); nil: the manifest's.
        public var journalPosition: UInt64?
        /// The highest sequence among this node's own journal entries at that moment: while that
        /// entry is still in the journal, the snapshot is part of the lab's current history.
        public var lastNodeEntry: UInt64?

        public init(node: String, cluster: String, vm: String, snapshotName: String, snapshotUID: Int? = nil,
                    powerState: PowerState, taken: Date? = nil, journalPosition: UInt64? = nil, lastNodeEntry: UInt64? = nil) {
            self.node = node
            self.cluster = cluster
            self.vm = vm
            self.snapshotName = snapshotName
            self.snapshotUID = snapshotUID
            self.powerState = powerState
            self.taken = taken
            self.journalPosition = journalPosition
            self.lastNodeEntry = lastNodeEntry
        }

        public var vmReference: VMReference { VMReference(path: vm) }
    }

    public var version: Int
    public var name: String
    public var status: Status
    /// When the save started.
    public var taken: Date
    /// The journal's position (highest sequence) when the snapshot was taken.
    public var journalPosition: UInt64
    /// The last stage instance journaled done at that position (`node.identity@cluster1-ctrl-plane`),
    /// for `snapshot list`; nil for an empty journal.
    public var stage: String?
    /// `checkpoint` when `labctl up` took it, else `user`.
    public var origin: String
    public var nodes: [Node]

    public init(name: String, status: Status, taken: Date, journalPosition: UInt64, stage: String?,
                origin: String = "user", nodes: [Node]) {
        self.version = Self.formatVersion
        self.name = name
        self.status = status
        self.taken = taken
        self.journalPosition = journalPosition
        self.stage = stage
        self.origin = origin
        self.nodes = nodes
    }

    public var nodeNames: [String] { nodes.map(\.node) }
    public func node(_ name: String) -> Node? { nodes.first { $0.node == name } }
}

/// The folder of manifests (`LabPaths.snapshots`). Every write is atomic (`AtomicFile`): a
/// killed labctl leaves the old or the new manifest, never a torn one.
public struct LabSnapshotStore: Sendable {
    public var directory: String

    public init(paths: LabPaths) { directory = paths.snapshots }
    public init(directory: String) { self.directory = directory }

    /// Lab snapshot names become file names and VMware snapshot names: no `/` (VIX reads it as a
    /// path through the snapshot tree, see docs/vmware-driver.md), nothing hidden, nothing odd.
    public static func validate(name: String) throws {
        let allowed = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "#._-+@=,: "))
        let ok = !name.isEmpty && name.count <= 80
            && name.unicodeScalars.allSatisfy { allowed.contains($0) && $0.isASCII }
            && !name.hasPrefix(".") && !name.hasPrefix("-") && !name.hasPrefix(" ") && !name.hasSuffix(" ")
        guard ok else {
            throw LabError(.invalidInput, "`\(name)` is not a valid snapshot name", location: .other("snapshot name"),
                           hint: "use 1-80 ASCII letters, digits, spaces and #._-+@=,: (no `/`), not starting with `.` or `-`; for example snapshot#7 or before-upgrade")
        }
    }

    public func path(for name: String) -> String {
        (directory as NSString).appendingPathComponent("\(name).json")
    }

    public func load(_ name: String) throws -> LabSnapshotManifest? {
        let p = path(for: name)
        guard FileManager.default.fileExists(atPath: p) else { return nil }
        return try LabSnapshotManifest.read(path: p)
    }

    /// Every manifest, oldest first.
    public func all() throws -> [LabSnapshotManifest] {
        let fm = FileManager.default
        guard let names = try? fm.contentsOfDirectory(atPath: directory) else { return [] }
        var out: [LabSnapshotManifest] = []
        for file in names where file.hasSuffix(".json") && !file.hasPrefix(".") {
            out.append(try LabSnapshotManifest.read(path: (directory as NSString).appendingPathComponent(file)))
        }
        return out.sorted { ($0.taken, $0.name) < ($1.taken, $1.name) }
    }

    public func write(_ manifest: LabSnapshotManifest) throws {
        let data = try JournalState.encoder().encode(manifest) + Data("\n".utf8)
        try AtomicFile.write(data, to: path(for: manifest.name))
    }

    public func remove(_ name: String) throws {
        let p = path(for: name)
        guard FileManager.default.fileExists(atPath: p) else { return }
        do { try FileManager.default.removeItem(atPath: p) } catch {
            throw LabError(.internalError, "cannot remove the lab snapshot manifest", location: .file(p), cause: error)
        }
    }
}

extension LabSnapshotManifest: VersionedStateFile {
    public static let fileDescription = "the snapshot manifest"
    public static let unreadableHint = "the file was edited by hand or comes from another tool; move it away to forget this lab snapshot (its VMware snapshots stay)"
    public var damage: String? { nil }
}
