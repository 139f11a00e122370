import Foundation
import Testing
@testable import LabKit
#if canImport(Glibc)
import Glibc
#endif

/// Two processes on one lab lock (issue 19): `labctl-bench lock` takes the lock exactly as labctl does
/// (`LabLock`), from a process of its own, so these tests see the real flock and holder record across
/// processes, and SIGKILL a holder to leave a stale lock behind.
@Suite(.serialized, .enabled(if: LockProbeProcess.binary != nil, "labctl-bench is not built (`swift build --build-tests` builds it)"))
struct LabLockProcessTests {
    @Test func holderRecordNamesPIDCommandAndSince() throws {
        let path = LabPaths(root: try temporaryDirectory()).lock
        let before = Date(timeIntervalSinceNow: -1)
        let lock = try LabLock.acquire(path: path)
        defer { lock.release() }
        let record = try #require(LabLock.holderRecord(path: path))
        #expect(record.pid == getpid())
        #expect(record.command?.contains((CommandLine.arguments[0] as NSString).lastPathComponent) == true)
        let since = try #require(record.since)
        #expect(since >= before && since <= Date(timeIntervalSinceNow: 1))
    }

    @Test func secondProcessIsRefusedAndNamesTheHolder() throws {
        let path = LabPaths(root: try temporaryDirectory()).lock
        let lock = try LabLock.acquire(path: path)
        defer { lock.release() }
        let child = try LockProbeProcess(path: path)
        let status = try child.waitForExit()
        #expect(status == 4)
        let refused = try #require(child.lines.first { $0.hasPrefix("refused: ") })
        #expect(refused.contains("another labctl (PID \(getpid()), `"))
        #expect(refused.contains("since "))
    }

    @Test func firstProcessHoldsAndTheRefusalNamesItsCommandLine() throws {
        let path = LabPaths(root: try temporaryDirectory()).lock
        let child = try LockProbeProcess(path: path, hold: 30)
        defer { child.kill() }
        try child.waitFor("acquired")
        let error = #expect(throws: LabError.self) { try LabLock.acquire(path: path) }
        #expect(error?.code == .conflict)
        #expect(error?.message.contains("PID \(child.pid), `") == true)
        #expect(error?.message.contains("labctl-bench lock \(path) --hold 30") == true)
        #expect(error?.hint?.contains("kill \(child.pid)") == true)
        #expect(error?.location == .file(path))
    }

    @Test func secondProcessWaitsBoundedThenGetsTheLock() throws {
        let path = LabPaths(root: try temporaryDirectory()).lock
        let lock = try LabLock.acquire(path: path)
        let child = try LockProbeProcess(path: path, wait: 60)
        defer { child.kill() }
        try child.waitFor("waiting: another labctl (PID \(getpid())")
        lock.release()
        try child.waitFor("acquired")
        #expect(try child.waitForExit() == 0)
    }

    @Test func waitingEndsWithTheConflictWhenTheHolderStays() throws {
        let path = LabPaths(root: try temporaryDirectory()).lock
        let lock = try LabLock.acquire(path: path)
        defer { lock.release() }
        let child = try LockProbeProcess(path: path, wait: 1)
        #expect(try child.waitForExit() == 4)
        #expect(child.lines.contains { $0.hasPrefix("waiting: ") })
        #expect(child.lines.contains { $0.hasPrefix("refused: another labctl (PID \(getpid())") })
    }

    @Test func lockOfAKilledProcessIsTakenOverWithItsRecordInTheWarning() throws {
        let path = LabPaths(root: try temporaryDirectory()).lock
        let child = try LockProbeProcess(path: path, hold: 30)
        try child.waitFor("acquired")
        child.kill()
        _ = try child.waitForExit()
        let lock = try LabLock.acquire(path: path)
        defer { lock.release() }
        #expect(lock.takenOverFrom == child.pid)
        #expect(lock.warning?.contains("PID \(child.pid), `") == true)
        #expect(lock.warning?.contains("no longer running") == true)
        #expect(LabLock.holder(path: path) == getpid())
    }

    /// Two processes find the same stale record at once: the flock lets exactly one take over; the
    /// other is refused and names the winner (never the dead PID, never both "acquired").
    @Test func twoProcessesRacingForAStaleLockOnlyOneTakesOver() throws {
        for _ in 0..<3 {
            let path = LabPaths(root: try temporaryDirectory()).lock
            let dead: Int32 = 2_147_483_000
            try Data("{\"command\":\"labctl up\",\"pid\":\(dead),\"since\":\"2026-01-01T00:00:00Z\"}\n".utf8)
                .write(to: URL(fileURLWithPath: path))
            let a = try LockProbeProcess(path: path, hold: 10)
            let b = try LockProbeProcess(path: path, hold: 10)
            defer { a.kill(); b.kill() }
            // Whoever is refused exits at once; the winner is still holding.
            let deadline = Date(timeIntervalSinceNow: 60)
            while a.exited == nil && b.exited == nil && Date() < deadline { usleep(20_000) }
            let (loser, winner) = a.exited != nil ? (a, b) : (b, a)
            #expect(try loser.waitForExit() == 4)
            try winner.waitFor("acquired")
            #expect(winner.lines.contains("took-over \(dead)"))
            #expect(loser.lines.contains { $0.hasPrefix("refused: another labctl (PID \(winner.pid), `") })
            #expect(LabLock.holder(path: path) == winner.pid)
        }
    }
}

@Suite struct LabLockWaitSettingTests {
    @Test func lockWaitComesFromTheEnvironmentAndBadValuesAreRefused() throws {
        #expect(try LabLock.waitFromEnvironment([:]) == .zero)
        #expect(try LabLock.waitFromEnvironment(["LABCTL_LOCK_WAIT": "30"]) == .seconds(30))
        for bad in ["-1", "1.5", "soon", "$(id)", "86401"] {
            let error = #expect(throws: LabError.self) { try LabLock.waitFromEnvironment(["LABCTL_LOCK_WAIT": bad]) }
            #expect(error?.code == .invalidInput)
            #expect(error?.location == .option("LABCTL_LOCK_WAIT"))
        }
    }
}

/// A `labctl-bench lock` child process whose output goes to a file (read line by line, with deadlines).
final class LockProbeProcess: @unchecked Sendable {
    static let binary = builtProduct("labctl-bench")

    let process = Process()
    let output: String

    init(path: String, hold: Int = 0, wait: Int = 0) throws {
        let binary = try #require(Self.binary)
        output = path + ".probe-\(UUID().uuidString.prefix(8)).out"
        FileManager.default.createFile(atPath: output, contents: nil)
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = ["lock", path, "--hold", "\(hold)", "--wait", "\(wait)"]
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: output))
        process.environment = ProcessInfo.processInfo.environment.filter { $0.key != "LABCTL_LOCK_WAIT" }
        try process.run()
    }

    var pid: Int32 { process.processIdentifier }
    var lines: [String] {
        ((try? String(contentsOfFile: output, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }
    var exited: Int32? { process.isRunning ? nil : process.terminationStatus }

    func waitFor(_ prefix: String, seconds: Double = 60) throws {
        let deadline = Date(timeIntervalSinceNow: seconds)
        while Date() < deadline {
            if lines.contains(where: { $0.hasPrefix(prefix) }) { return }
            if !process.isRunning, !lines.contains(where: { $0.hasPrefix(prefix) }) { break }
            usleep(20_000)
        }
        Issue.record("labctl-bench lock never printed \"\(prefix)\"; it printed: \(lines)")
        throw CancellationError()
    }

    func waitForExit(seconds: Double = 60) throws -> Int32 {
        let deadline = Date(timeIntervalSinceNow: seconds)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        if process.isRunning {
            kill()
            Issue.record("labctl-bench lock did not exit within \(seconds) s; it printed: \(lines)")
            throw CancellationError()
        }
        return process.terminationStatus
    }

    func kill() {
        if process.isRunning { Glibc.kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }
}
