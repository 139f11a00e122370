import Foundation

/// One stage instance's last outcome.
public struct JournalEntry: Sendable, Codable, Hashable {
    public enum Outcome: String, Sendable, Codable, Hashable {
        case done, failed
    }

    public var stage: String
    public var scope: StageScope
    public var outcome: Outcome
    /// Monotonic across the journal's life (never reused, even after `rewind`/`forget`): a snapshot
    /// records the highest sequence as its "journal position".
    public var sequence: UInt64
    public var started: Date
    public var ended: Date
    /// Seconds.
    public var duration: Double
    /// True when the stage was not run but found done by its probe and adopted.
    public var adopted: Bool?
    /// The failure, for `failed` entries.
    public var error: String?

    public var instance: StageInstanceID { StageInstanceID(stage, scope) }
}

/// The journal's content: a value, so `plan` can look at it without locking anything.
public struct JournalState: Sendable, Codable, Hashable {
    public static let formatVersion = 1

    public var version: Int
    /// The next sequence number to hand out.
    public var nextSequence: UInt64
    /// Sorted by sequence in the file.
    public var entries: [JournalEntry]

    public init() {
        version = Self.formatVersion
        nextSequence = 1
        entries = []
    }

    public func entry(for id: StageInstanceID) -> JournalEntry? {
        entries.first { $0.stage == id.stage && $0.scope == id.scope }
    }

    /// The done entry for an instance, if its last outcome is done.
    public func done(_ id: StageInstanceID) -> JournalEntry? {
        guard let e = entry(for: id), e.outcome == .done else { return nil }
        return e
    }

    /// The highest sequence recorded so far: what a lab snapshot stores as its journal position.
    public var position: UInt64 { nextSequence - 1 }

    /// Dates as ISO 8601 with milliseconds (UTC), so start/end survive a round trip.
    public static func encoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.dateEncodingStrategy = .custom { date, enc in
            var c = enc.singleValueContainer()
            try c.encode(isoFormatter().string(from: date))
        }
        return encoder
    }

    public static func decoder() -> JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .custom { dec in
            let c = try dec.singleValueContainer()
            let text = try c.decode(String.self)
            guard hasISOTimeShape(text), let date = isoFormatter().date(from: text) else {
                throw DecodingError.dataCorruptedError(in: c, debugDescription: "not an ISO 8601 time: \(text)")
            }
            return date
        }
        return decoder
    }

    /// ICU's ISO 8601 parser, which Foundation uses on Linux, dies of SIGFPE on a fraction of a few
    /// dozen digits (found by fuzzing the journal and the snapshot manifests, docs/robustness.md,
    /// "Fuzzing"), so ICU only sees the shape labctl writes: `2026-11-27T10:01:12`, an optional fraction
    /// of 1 to 9 digits, and `Z` or an offset `+hh:mm`.
    static func hasISOTimeShape(_ text: String) -> Bool {
        let u = Array(text.utf8)
        func digits(_ r: Range<Int>) -> Bool { r.upperBound <= u.count && u[r].allSatisfy { (0x30...0x39).contains($0) } }
        func byte(_ i: Int, _ c: Unicode.Scalar) -> Bool { i < u.count && u[i] == UInt8(ascii: c) }
        guard digits(0..<4), byte(4, "-"), digits(5..<7), byte(7, "-"), digits(8..<10), byte(10, "T"),
              digits(11..<13), byte(13, ":"), digits(14..<16), byte(16, ":"), digits(17..<19) else { return false }
        var i = 19
        if byte(i, ".") {
            let start = i + 1
            i = start
            while digits(i..<(i + 1)) { i += 1 }
            guard (1...9).contains(i - start) else { return false }
        }
        if byte(i, "Z") { return i + 1 == u.count }
        return (byte(i, "+") || byte(i, "-")) && digits((i + 1)..<(i + 3)) && byte(i + 3, ":") && digits((i + 4)..<(i + 6)) && i + 6 == u.count
    }

    private static func isoFormatter() -> ISO8601DateFormatter {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return f
    }

    mutating func record(_ entry: JournalEntry) {
        entries.removeAll { $0.stage == entry.stage && $0.scope == entry.scope }
        entries.append(entry)
        entries.sort { $0.sequence < $1.sequence }
    }
}

/// The stage journal of a lab (`LabPaths.journal`), persisted after every change.
///
/// Every write replaces the whole file atomically (`AtomicFile`): a killed labctl leaves the
/// previous complete journal, never a torn one. Only one labctl writes it at a time (`LabLock`).
public actor Journal {
    public nonisolated let path: String
    private var state: JournalState
    private let writer = DispatchQueue(label: "labctl.journal.writer")
    /// Changes made, changes made durable, and the write in flight (group commit, see `save`).
    private var changes: UInt64 = 0
    private var written: UInt64 = 0
    private var inFlight: Task<Void, Error>?
    /// How many times the file was written (for tests of the group commit).
    private(set) var writes = 0

    /// Opens the journal at `path`, or starts an empty one if the file does not exist yet.
    public init(path: String) throws {
        self.path = path
        self.state = try Self.load(path: path)
    }

    public static func load(path: String) throws -> JournalState {
        guard FileManager.default.fileExists(atPath: path) else { return JournalState() }
        return try JournalState.read(path: path)
    }

    public var snapshot: JournalState { state }
    public var position: UInt64 { state.position }

    public func done(_ id: StageInstanceID) -> JournalEntry? { state.done(id) }

    /// Records an outcome with the next sequence number and saves.
    @discardableResult
    public func record(_ id: StageInstanceID, outcome: JournalEntry.Outcome, started: Date, ended: Date,
                       adopted: Bool = false, error: String? = nil) async throws -> JournalEntry {
        let entry = JournalEntry(stage: id.stage, scope: id.scope, outcome: outcome, sequence: state.nextSequence,
                                 started: started, ended: ended, duration: max(0, ended.timeIntervalSince(started)),
                                 adopted: adopted ? true : nil, error: error)
        state.nextSequence += 1
        state.record(entry)
        try await save()
        return entry
    }

    /// Removes every entry of the given scopes (destroy, rebuild). Returns the removed entries.
    ///
    /// Dependents in other scopes keep their entries: they become stale by sequence once the
    /// forgotten instances run again (see docs/engine.md, "Resume rules"), which survives a crash
    /// between `forget` and the re-run.
    @discardableResult
    public func forget(scopes: Set<StageScope>) async throws -> [JournalEntry] {
        let removed = state.entries.filter { scopes.contains($0.scope) }
        guard !removed.isEmpty else { return [] }
        state.entries.removeAll { scopes.contains($0.scope) }
        try await save()
        return removed
    }

    /// Forgets a scope and every scope inside it (a cluster and its nodes).
    @discardableResult
    public func forget(scope: StageScope, topology: LabTopology) async throws -> [JournalEntry] {
        try await forget(scopes: topology.scopes(within: scope))
    }

    /// Drops every entry recorded after `position` (a lab snapshot's journal position), so
    /// `up` continues from there. Sequence numbers keep increasing.
    @discardableResult
    public func rewind(to position: UInt64) async throws -> [JournalEntry] {
        let removed = state.entries.filter { $0.sequence > position }
        guard !removed.isEmpty else { return [] }
        state.entries.removeAll { $0.sequence > position }
        try await save()
        return removed
    }

    /// Drops the entries of the given scopes recorded after `position`: a lab snapshot restored on
    /// some nodes only (issue 7). Other scopes keep their entries; what depends on the restored
    /// nodes runs again by the staleness rule once their stages are journaled anew.
    @discardableResult
    public func rewind(to position: UInt64, scopes: Set<StageScope>) async throws -> [JournalEntry] {
        try await rewind { scopes.contains($0) ? position : nil }
    }

    /// Drops every entry recorded after its scope's bound (`nil`: keep the scope's entries). A lab
    /// snapshot whose nodes were taken at different journal positions (the node checkpoints of
    /// `up`) rewinds each node to its own position.
    @discardableResult
    public func rewind(bound: @Sendable (StageScope) -> UInt64?) async throws -> [JournalEntry] {
        let drop: (JournalEntry) -> Bool = { e in bound(e.scope).map { e.sequence > $0 } ?? false }
        let removed = state.entries.filter(drop)
        guard !removed.isEmpty else { return [] }
        state.entries.removeAll(where: drop)
        try await save()
        return removed
    }

    /// Makes the current state durable before returning.
    ///
    /// Group commit: the blocking write and fsync run on a serial queue, off Swift's cooperative
    /// pool (2 threads on a 2-core host: an fsync there would stall every stage). While one write
    /// is in flight, later changes wait for it and then go out together in one write, so ten nodes
    /// finishing at once cost two fsyncs, not ten. A change is acknowledged only by a write that
    /// was encoded after it, so the file always ends with the newest state.
    private func save() async throws {
        changes += 1
        let mine = changes
        while written < mine {
            if let pending = inFlight {
                _ = try? await pending.value
                continue
            }
            let target = changes
            let data = try JournalState.encoder().encode(state) + Data("\n".utf8)
            let path = self.path
            let writer = self.writer
            let task = Task {
                do {
                    try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, Error>) in
                        writer.async { c.resume(with: Result { try AtomicFile.write(data, to: path) }) }
                    }
                    self.finishWrite(target, ok: true)
                } catch {
                    self.finishWrite(target, ok: false)
                    throw error
                }
            }
            inFlight = task
            try await task.value
        }
    }

    private func finishWrite(_ target: UInt64, ok: Bool) {
        if ok {
            written = max(written, target)
            writes += 1
        }
        inFlight = nil
    }
}

extension JournalState: VersionedStateFile {
    public static let fileDescription = "the stage journal"
    public static let unreadableHint = "move the file away; `labctl up` then re-probes every stage and adopts what is done"

    /// Sequences start at 1 and only grow. A `nextSequence` of 0 made `position` trap (found while
    /// writing the journal's fuzz target, docs/robustness.md, "Fuzzing"), `.max` would trap on the next
    /// record, and one not above every entry's would hand out a sequence twice and break the resume rules.
    public var damage: String? {
        if nextSequence == 0 { return "nextSequence is 0; sequence numbers start at 1" }
        if nextSequence == .max { return "nextSequence is \(nextSequence), no sequence number is left to hand out" }
        if let entry = entries.first(where: { $0.sequence >= nextSequence }) {
            return "\(entry.stage)@\(entry.scope) has sequence \(entry.sequence), not below nextSequence \(nextSequence)"
        }
        return nil
    }
}
