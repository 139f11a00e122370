import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The per-lab lock (`LabPaths.lock`): one labctl changes a lab at a time.
///
/// The lock is an `flock(LOCK_EX | LOCK_NB)` on the lock file, which also holds the holder's PID
/// as text. `flock` is the authority: the kernel drops it when the holder exits or is killed, so a
/// crash never leaves the lab locked. The PID is only there to tell the user who holds it, and to
/// warn when a previous labctl died without cleaning up (the file still names a PID that no
/// longer runs: a "stale" lock, taken over with a warning).
///
/// flock locks belong to an open file description, so a second `acquire` in the same process is
/// refused too (tests rely on this). The file is never deleted: unlinking a locked file would let
/// a third process lock a new inode while the second still holds the old one.
public final class LabLock: @unchecked Sendable {
    public let path: String
    /// Set when a stale lock was taken over: the PID that had died.
    public let takenOverFrom: Int32?
    private var fd: Int32
    private let lock = NSLock()

    private init(path: String, fd: Int32, takenOverFrom: Int32?) {
        self.path = path
        self.fd = fd
        self.takenOverFrom = takenOverFrom
    }

    /// A warning to show when a stale lock was taken over.
    public var warning: String? {
        takenOverFrom.map { "took over the lab lock from labctl PID \($0), which is no longer running (\(path))" }
    }

    /// Takes the lock or throws `.conflict` naming the PID that holds it.
    public static func acquire(path: String, pid: Int32 = getpid()) throws -> LabLock {
        let dir = (path as NSString).deletingLastPathComponent
        if !dir.isEmpty { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw LabError(.internalError, "cannot open the lab lock", location: .file(path),
                           hint: "check that the lab's state directory is writable", cause: POSIXError.current())
        }
        let previous = readPID(fd)
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let err = errno
            close(fd)
            guard err == EWOULDBLOCK || err == EAGAIN else {
                throw LabError(.internalError, "cannot lock the lab", location: .file(path), cause: POSIXError.current(err))
            }
            let holder = previous.map { "PID \($0)" } ?? "another process"
            throw LabError(.conflict, "another labctl (\(holder)) is working on this lab", location: .file(path),
                           hint: previous.map { "wait for it to finish, or stop it with `kill \($0)`; labctl up resumes where it stopped" }
                               ?? "wait for it to finish")
        }
        // We hold the lock. A PID left in the file belongs to a labctl that ended without releasing.
        var stale: Int32?
        if let previous, previous != pid, !isRunning(previous) { stale = previous }
        ftruncate(fd, 0)
        let text = "\(pid)\n"
        _ = text.withCString { pwrite(fd, $0, strlen($0), 0) }
        _ = fsync(fd)
        return LabLock(path: path, fd: fd, takenOverFrom: stale)
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

    /// The PID recorded in a lock file, if any (for `labctl status`).
    public static func holder(path: String) -> Int32? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        return readPID(fd)
    }

    private static func readPID(_ fd: Int32) -> Int32? {
        var buffer = [UInt8](repeating: 0, count: 32)
        let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, 31, 0) }
        guard n > 0 else { return nil }
        let text = String(decoding: buffer[0..<n], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return Int32(text)
    }

    static func isRunning(_ pid: Int32) -> Bool {
        if kill(pid, 0) == 0 { return true }
        return errno == EPERM  // exists, owned by someone else
    }
}
