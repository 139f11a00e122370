import Foundation
import Testing
@testable import LabKit

@Suite struct EngineStateTests {
    @Test func journalRecordsSequencesForgetsAndRewinds() async throws {
        let dir = try temporaryDirectory()
        let journal = try Journal(path: LabPaths(root: dir).journal)
        let t = Date(timeIntervalSince1970: 1_800_000_000)
        let a = StageInstanceID("node.clone", .node("n1"))
        let b = StageInstanceID("node.clone", .node("n2"))
        let c = StageInstanceID("cluster.init", .cluster("c1"))
        let ea = try await journal.record(a, outcome: .done, started: t, ended: t.addingTimeInterval(1.5))
        let eb = try await journal.record(b, outcome: .failed, started: t, ended: t, error: "boom")
        let ec = try await journal.record(c, outcome: .done, started: t, ended: t)
        #expect([ea.sequence, eb.sequence, ec.sequence] == [1, 2, 3])
        #expect(ea.duration == 1.5)
        #expect(await journal.position == 3)

        // Re-open from disk: the same state.
        let reopened = try Journal.load(path: journal.path)
        #expect(reopened == (await journal.snapshot))
        #expect(reopened.done(a)?.sequence == 1)
        #expect(reopened.done(b) == nil)

        // Rewind to a snapshot's position drops what came after; sequences keep increasing.
        let dropped = try await journal.rewind(to: 1)
        #expect(dropped.map(\.instance) == [b, c])
        let again = try await journal.record(b, outcome: .done, started: t, ended: t)
        #expect(again.sequence == 4)

        let forgotten = try await journal.forget(scope: .cluster("c1"), topology: LabTopology(clusters: [.init(name: "c1", nodes: ["n2"])]))
        #expect(forgotten.map(\.instance) == [b])
        #expect(try Journal.load(path: journal.path).entries.map(\.instance) == [a])

        // The file format: version, nextSequence, entries with scope keys.
        let text = try String(contentsOfFile: journal.path, encoding: .utf8)
        #expect(text.contains("\"scope\" : \"node:n1\""))
        #expect(text.contains("\"nextSequence\" : 5"))
    }

    @Test func aCorruptJournalIsAClearError() throws {
        let dir = try temporaryDirectory()
        let path = LabPaths(root: dir).journal
        try Data("{\"version\": 1, \"entr".utf8).write(to: URL(fileURLWithPath: path))
        let error = #expect(throws: LabError.self) { try Journal(path: path) }
        #expect(error?.code == .invalidInput)
        #expect(error?.location?.description == path)
    }

    /// A journal or snapshot manifest from a newer labctl is refused, not misread.
    @Test func aNewerFormatVersionIsRefused() throws {
        func writeNewer(_ value: some Encodable, version: Int, to path: String) throws {
            var object = try JSONSerialization.jsonObject(with: JournalState.encoder().encode(value)) as? [String: Any] ?? [:]
            object["version"] = version
            try JSONSerialization.data(withJSONObject: object).write(to: URL(fileURLWithPath: path))
        }
        let dir = try temporaryDirectory()
        let journal = LabPaths(root: dir).journal
        try writeNewer(JournalState(), version: 2, to: journal)
        let e1 = #expect(throws: LabError.self) { try Journal(path: journal) }
        #expect(e1?.code == .unsupported && e1?.location?.description == journal)
        #expect(e1?.message == "the stage journal has format version 2; this labctl reads 1")

        let manifest = (dir as NSString).appendingPathComponent("m.json")
        let m = LabSnapshotManifest(name: "s", status: .complete, taken: Date(timeIntervalSince1970: 1_800_000_000),
                                    journalPosition: 0, stage: nil, nodes: [])
        try writeNewer(m, version: 7, to: manifest)
        let e2 = #expect(throws: LabError.self) { try LabSnapshotManifest.read(path: manifest) }
        #expect(e2?.code == .unsupported && e2?.message == "the snapshot manifest has format version 7; this labctl reads 1")
    }

    /// A reader polling the final path while the journal is rewritten many times never sees a
    /// partial file: every read decodes. No temp file is left behind.
    @Test func journalFileIsNeverHalfWritten() async throws {
        let dir = try temporaryDirectory()
        let journal = try Journal(path: LabPaths(root: dir).journal)
        try await journal.record(StageInstanceID("seed", .lab), outcome: .done, started: Date(), ended: Date())
        let path = journal.path
        let stop = StopFlag()
        let reader = Task.detached { () -> (reads: Int, bad: Int) in
            var reads = 0, bad = 0
            while !stop.isSet {
                if let data = FileManager.default.contents(atPath: path) {
                    reads += 1
                    if (try? JournalState.decoder().decode(JournalState.self, from: data)) == nil { bad += 1 }
                }
            }
            return (reads, bad)
        }
        for i in 0..<80 {
            try await journal.record(StageInstanceID("node.s\(i % 40)", .node("n\(i % 7)")), outcome: .done, started: Date(), ended: Date())
        }
        stop.set()
        let (reads, bad) = await reader.value
        #expect(reads > 0)
        #expect(bad == 0)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.contains(".tmp-") }
        #expect(leftovers.isEmpty)
    }

    /// Many stages finishing at once share writes (group commit), and every record is durable
    /// when its `record` returns.
    @Test func concurrentRecordsAreGroupCommitted() async throws {
        let dir = try temporaryDirectory()
        let journal = try Journal(path: LabPaths(root: dir).journal)
        await withTaskGroup(of: Void.self) { group in
            for i in 0..<40 {
                group.addTask {
                    let id = StageInstanceID("node.clone", .node("n\(i)"))
                    _ = try? await journal.record(id, outcome: .done, started: Date(), ended: Date())
                    // Durable on return: the file on disk already has it.
                    let onDisk = try? Journal.load(path: journal.path)
                    #expect(onDisk?.done(id) != nil)
                }
            }
        }
        let writes = await journal.writes
        #expect(writes < 40)
        #expect(writes >= 1)
        let final = try Journal.load(path: journal.path)
        #expect(final.entries.count == 40)
        #expect(Set(final.entries.map(\.sequence)) == Set(1...40))
    }

    @Test func lockRefusesASecondHolderAndNamesThePID() throws {
        let dir = try temporaryDirectory()
        let path = LabPaths(root: dir).lock
        let first = try LabLock.acquire(path: path)
        #expect(first.takenOverFrom == nil)
        #expect(LabLock.holder(path: path) == getpid())
        let error = #expect(throws: LabError.self) { try LabLock.acquire(path: path) }
        #expect(error?.code == .conflict)
        #expect(error?.message.hasPrefix("another labctl (PID \(getpid()), `") == true)
        #expect(error?.message.hasSuffix(") is working on this lab") == true)
        #expect(error?.hint?.contains("kill \(getpid())") == true)
        first.release()
        let second = try LabLock.acquire(path: path)
        #expect(second.takenOverFrom == nil)  // a clean release leaves no PID behind
        second.release()
    }

    @Test func staleLockOfADeadProcessIsTakenOverWithAWarning() throws {
        let dir = try temporaryDirectory()
        let path = LabPaths(root: dir).lock
        // A PID far above pid_max: no such process can exist.
        let dead: Int32 = 2_147_483_000
        #expect(!LabLock.isRunning(dead))
        try Data("\(dead)\n".utf8).write(to: URL(fileURLWithPath: path))
        let lock = try LabLock.acquire(path: path)
        #expect(lock.takenOverFrom == dead)
        #expect(lock.warning?.contains("PID \(dead)") == true)
        #expect(LabLock.holder(path: path) == getpid())
        lock.release()
    }

    static let flockTool = ["/usr/bin/flock", "/bin/flock"].first { FileManager.default.isExecutableFile(atPath: $0) }

    /// Needs flock(1) (util-linux, on every Debian/Ubuntu host) to hold the lock from a child process;
    /// skipped where it is missing (macOS without util-linux).
    @Test(.enabled(if: flockTool != nil, "flock(1) from util-linux is not installed"))
    func lockHeldByAnotherProcessIsRefused() throws {
        let flockPath = try #require(Self.flockTool)
        let dir = try temporaryDirectory()
        let path = LabPaths(root: dir).lock
        let child = Process()
        child.executableURL = URL(fileURLWithPath: flockPath)
        child.arguments = ["-x", path, "sh", "-c", "echo $PPID > \(path); sleep 5"]
        try child.run()
        defer { child.terminate() }
        // Wait (bounded) until the child holds it and has written its PID.
        var holder: Int32?
        for _ in 0..<200 {
            holder = LabLock.holder(path: path)
            if holder != nil { break }
            Thread.sleep(forTimeInterval: 0.01)
        }
        let pid = try #require(holder)
        #expect(pid == child.processIdentifier)
        let error = #expect(throws: LabError.self) { try LabLock.acquire(path: path) }
        // flock(1) wrote a bare PID (the record's format before issue 19): still named.
        #expect(error?.message == "another labctl (PID \(pid)) is working on this lab")
    }
}

final class StopFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    func set() { lock.lock(); value = true; lock.unlock() }
    var isSet: Bool { lock.lock(); defer { lock.unlock() }; return value }
}
