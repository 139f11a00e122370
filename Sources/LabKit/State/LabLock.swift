import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The per-lab lock (`LabPaths.lock`): one labctl changes a lab at a time.
///
/// The lock is an `flock(LOCK_EX | LOCK_NB)` on the lock file. `flock` is the authority: the kernel
/// drops it when the holder exits or is killed, so a crash never leaves the lab locked, and two
/// processes that find the same stale record cannot both take over (only one gets the flock; the
/// other is refused and names the winner). The file's content, the `Holder` record (PID, command
/// line, since when), is written only while holding the flock and only tells the user who holds
/// it, or which labctl died without cleaning up (a "stale" lock, taken over with a warning).
///
/// flock locks belong to an open file description, so a second `acquire` in the same process is
/// refused too (tests rely on this). The file is never deleted: unlinking a locked file would let
/// a third process lock a new inode while the second still holds the old one. See docs/robustness.md.
public final class LabLock: @unchecked Sendable {
    /// Who holds (or last held) the lock, as recorded in the lock file.
    public struct Holder: Sendable, Codable, Equatable {
        public var pid: Int32
        /// The holder's command line (`labctl up --lab lab.json`); nil in a record with only a PID.
        public var command: String?
        /// When it took the lock.
        public var since: Date?

        public init(pid: Int32, command: String?, since: Date?) {
            self.pid = pid
            self.command = command
            self.since = since
        }

        /// This process, now.
        public static func current() -> Holder {
            Holder(pid: getpid(), command: CommandLine.arguments.map(shellWord).joined(separator: " "), since: Date())
        }

        /// `PID 123, labctl up, since 2026-12-05T21:00:00Z`.
        public var summary: String {
            var parts = ["PID \(pid)"]
            if let command { parts.append("`\(command)`") }
            if let since { parts.append("since \(LabLock.timestamp(since))") }
            return parts.joined(separator: ", ")
        }

        /// The command line for display: arguments with spaces or quotes are single-quoted, so
        /// the summary is unambiguous (it is never run).
        private static func shellWord(_ arg: String) -> String {
            let plain = !arg.isEmpty && arg.allSatisfy { $0.isLetter || $0.isNumber || "-_./=:,@+".contains($0) }
            return plain ? arg : "'" + arg.replacingOccurrences(of: "'", with: "'\\''") + "'"
        }
    }

    public let path: String
    /// Set when a stale lock was taken over: the holder that had ended without releasing it.
    public let takenOver: Holder?
    private var fd: Int32
    private let lock = NSLock()

    /// The PID of a stale holder taken over.
    public var takenOverFrom: Int32? { takenOver?.pid }

    private init(path: String, fd: Int32, takenOver: Holder?) {
        self.path = path
        self.fd = fd
        self.takenOver = takenOver
    }

    /// A warning to show when a stale lock was taken over.
    public var warning: String? {
        guard let takenOver else { return nil }
        let state = LabLock.isRunning(takenOver.pid) ? "which no longer holds it" : "which is no longer running"
        return "took over the lab lock from labctl \(takenOver.summary), \(state) (\(path))"
    }

    /// Takes the lock or throws `.conflict` naming who holds it.
    public static func acquire(path: String, holder: Holder = .current()) throws -> LabLock {
        try AtomicFile.createDirectory(for: path)
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw LabError.writeFailed(errno, "open the lab lock", path: path)
        }
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let err = errno
            defer { close(fd) }
            guard err == EWOULDBLOCK || err == EAGAIN else {
                throw LabError(.commandFailed, "cannot lock the lab", location: .file(path), cause: POSIXError.current(err))
            }
            throw conflict(path: path, holder: readHolderSettled(fd))
        }
        // We hold the lock. A record left in the file belongs to a labctl that ended without releasing.
        let previous = readHolder(fd)
        let stale = previous.flatMap { $0.pid == holder.pid ? nil : $0 }
        do {
            try writeHolder(holder, fd: fd, path: path)
        } catch {
            flock(fd, LOCK_UN)
            close(fd)
            throw error
        }
        return LabLock(path: path, fd: fd, takenOver: stale)
    }

    /// Like `acquire`, but while another labctl holds the lock, retries every 100 ms until `wait`
    /// has passed (then throws its `.conflict`). `onWait` is called once, with that conflict, when
    /// the first attempt is refused, so the caller can say what it waits for.
    public static func acquire(path: String, holder: Holder = .current(), wait: Duration,
                               onWait: (LabError) -> Void = { _ in }) async throws -> LabLock {
        let deadline = ContinuousClock.now.advanced(by: wait)
        var told = false
        while true {
            do {
                return try acquire(path: path, holder: holder)
            } catch let error as LabError where error.code == .conflict && ContinuousClock.now < deadline {
                if !told {
                    onWait(error)
                    told = true
                }
                try await Task.sleep(for: .milliseconds(100))
            }
        }
    }

    /// Releases the lock (also done by the kernel when the process exits).
    public func release() {
        lock.lock()
        defer { lock.unlock() }
        guard fd >= 0 else { return }
        ftruncate(fd, 0)
        flock(fd, LOCK_UN)
        close(fd)
        fd = -1
    }

    deinit { release() }

    /// The holder recorded in a lock file, if any (for `labctl status`).
    public static func holderRecord(path: String) -> Holder? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        return readHolder(fd)
    }

    /// The PID recorded in a lock file, if any.
    public static func holder(path: String) -> Int32? { holderRecord(path: path)?.pid }

    /// How long `labctl` waits for a busy lab: `LABCTL_LOCK_WAIT` seconds (default 0: refuse at once).
    public static func waitFromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) throws -> Duration {
        guard let text = environment["LABCTL_LOCK_WAIT"], !text.isEmpty else { return .zero }
        guard let seconds = Int(text), seconds >= 0, seconds <= 86_400 else {
            throw LabError(.invalidInput, "LABCTL_LOCK_WAIT must be a whole number of seconds (0 to 86400), not \"\(text)\"",
                           location: .option("LABCTL_LOCK_WAIT"), hint: "unset it to refuse at once when the lab is busy")
        }
        return .seconds(seconds)
    }

    private static func conflict(path: String, holder: Holder?) -> LabError {
        let who = holder.map(\.summary) ?? "another process"
        return LabError(.conflict, "another labctl (\(who)) is working on this lab", location: .file(path),
                        hint: holder.map { "wait for it to finish (or set LABCTL_LOCK_WAIT=SECONDS to wait), or stop it with `kill \($0.pid)`; labctl up resumes where it stopped" }
                            ?? "wait for it to finish, or set LABCTL_LOCK_WAIT=SECONDS to wait")
    }

    /// The record, written with one pwrite and then cut to its length, so the file never becomes
    /// empty while held (a refused process retries a torn read briefly: `readHolderSettled`).
    private static func writeHolder(_ holder: Holder, fd: Int32, path: String) throws {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys]
        var data = (try? encoder.encode(holder)) ?? Data("\(holder.pid)".utf8)
        data.append(0x0A)
        let written = data.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
        // A short write without an error is the file system running out of room.
        let wrote = written == data.count
        guard wrote, ftruncate(fd, off_t(data.count)) == 0 else {
            throw LabError.writeFailed(wrote || written < 0 ? errno : ENOSPC, "write the lab lock's holder record", path: path)
        }
        _ = fsync(fd)
    }

    /// Reads the holder's record. Between taking the flock and writing its record, a new holder
    /// leaves the file empty, torn, or still naming the dead labctl it takes over from; a refused
    /// process retries for up to 500 ms until the record names a running process, and otherwise
    /// names nobody rather than a dead PID.
    private static func readHolderSettled(_ fd: Int32) -> Holder? {
        for _ in 0..<50 {
            if let holder = readHolder(fd), isRunning(holder.pid) { return holder }
            usleep(10_000)
        }
        return nil
    }

    /// A JSON `Holder`, or a bare PID (the format before issue 19, and what flock(1) tests write).
    static func readHolder(_ fd: Int32) -> Holder? {
        var buffer = [UInt8](repeating: 0, count: 4096)
        let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, 4096, 0) }
        guard n > 0 else { return nil }
        let data = Data(buffer[0..<n])
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        if let holder = try? decoder.decode(Holder.self, from: data), holder.pid > 0 { return holder }
        let text = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard let pid = Int32(text), pid > 0 else { return nil }
        return Holder(pid: pid, command: nil, since: nil)
    }

    static func timestamp(_ date: Date) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime]
        return f.string(from: date)
    }

    static func isRunning(_ pid: Int32) -> Bool {
        if kill(pid, 0) == 0 { return true }
        return errno == EPERM  // exists, owned by someone else
    }
}
