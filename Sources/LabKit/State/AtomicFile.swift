import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes a file so that readers see the old content or the new, never half of it.
///
/// The data goes to a unique temp file in the same directory, opened with the final mode and set to
/// it exactly (`fchmod`: the umask may have cleared bits), is fsync'ed, then renamed over the target
/// (rename is atomic within one file system), and the directory is fsync'ed so the rename itself
/// survives a power cut. A failure (a full disk) removes the temp file and leaves the old target
/// as it was; a crash leaves at most a stray `.tmp-*` file, never a partial target.
public enum AtomicFile {
    /// Creates the directory `path` is in, with its parents (`mode` for the ones it creates); a failure
    /// (a full disk) is `writeFailed` naming `path`. Every writer of lab state creates its folder here.
    public static func createDirectory(for path: String, mode: mode_t? = nil) throws {
        let directory = folder(of: path)
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                    attributes: mode.map { [.posixPermissions: $0] })
        } catch {
            throw LabError.writeFailed(error, "create the directory \(directory)", path: path)
        }
    }

    static func folder(of path: String) -> String {
        let dir = (path as NSString).deletingLastPathComponent
        return dir.isEmpty ? "." : dir
    }

    public static func write(_ data: Data, to path: String, mode: mode_t = 0o644) throws {
        try createDirectory(for: path)
        let directory = folder(of: path)
        let base = (path as NSString).lastPathComponent
        let temp = (directory as NSString).appendingPathComponent(".\(base).tmp-\(getpid())-\(UUID().uuidString.prefix(8))")

        let fd = open(temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        guard fd >= 0 else { throw LabError.writeFailed(errno, "create a temporary file next to \(path)", path: path) }
        var ok = false
        defer {
            if !ok { unlink(temp) }
        }
        do {
            defer { close(fd) }
            guard fchmod(fd, mode) == 0 else { throw LabError.writeFailed(errno, "set the mode of the temporary file for \(path)", path: path) }
            try writeAll(fd, data, what: "write \(path)", path: path)
            guard fsync(fd) == 0 else { throw LabError.writeFailed(errno, "sync \(path) to disk", path: path) }
        }
        guard rename(temp, path) == 0 else { throw LabError.writeFailed(errno, "rename the temporary file to \(path)", path: path) }
        ok = true
        let dfd = open(directory, O_RDONLY | O_CLOEXEC)
        if dfd >= 0 {
            _ = fsync(dfd)
            close(dfd)
        }
    }

    /// Writes all of `data` to `fd`, retrying short writes and EINTR; a failure names `path`.
    static func writeAll(_ fd: Int32, _ data: Data, what: String, path: String) throws {
        try data.withUnsafeBytes { (buffer: UnsafeRawBufferPointer) in
            var offset = 0
            while offset < buffer.count {
                guard let base = buffer.baseAddress else { break }
                let n = Glibc_write(fd, base + offset, buffer.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw LabError.writeFailed(errno, what, path: path)
                }
                offset += n
            }
        }
    }
}

/// Appends to a log file (`O_APPEND`, created with `mode`): every write goes to the end, so several
/// writers of one file (the stage log and the SSH session log of a node) interleave whole writes.
/// A failed write (a full disk) throws; the file keeps what was written before.
public final class AppendFile: @unchecked Sendable {
    public let path: String
    private let fd: Int32

    public init(path: String, mode: mode_t) throws {
        self.path = path
        try AtomicFile.createDirectory(for: path)
        fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, mode)
        guard fd >= 0 else { throw LabError.writeFailed(errno, "open \(path)", path: path) }
    }

    public func append(_ data: Data) throws {
        try AtomicFile.writeAll(fd, data, what: "append to \(path)", path: path)
    }

    public func synchronize() { _ = fsync(fd) }

    deinit { close(fd) }
}

extension LabError {
    /// A write to a lab file failed with errno `code` (taken first, before anything can change
    /// errno). A full file system (ENOSPC, EDQUOT) is named as such, with what to do: free space,
    /// then run again (the writers never leave a half-written file).
    public static func writeFailed(_ code: Int32, _ what: String, path: String) -> LabError {
        let dir = (path as NSString).deletingLastPathComponent
        let folder = dir.isEmpty ? "." : dir
        let hint: String
        switch code {
        case ENOSPC, EDQUOT:
            hint = "the file system of \(folder) is full: free space on it (`df -h \(folder)`), then run the command again"
        case EACCES, EPERM, EROFS:
            hint = "check that \(folder) is writable"
        default:
            hint = "check the file system of \(folder)"
        }
        return LabError(.commandFailed, "cannot \(what)", location: .file(path), hint: hint, cause: POSIXError.current(code))
    }

    /// The same for an error Foundation threw (`createDirectory`): its POSIX code when it has one, else EIO.
    public static func writeFailed(_ error: any Error, _ what: String, path: String) -> LabError {
        writeFailed((error as? CocoaError)?.posixCode ?? EIO, what, path: path)
    }

    /// True when this error, or one of its causes, is a full file system (ENOSPC, EDQUOT).
    public var isDiskFull: Bool {
        guard let posix = underlying(POSIXError.self) else { return false }
        return posix.code == .ENOSPC || posix.code == .EDQUOT
    }
}

extension CocoaError {
    /// The errno behind a Foundation file error, when it has one.
    var posixCode: Int32? {
        guard let underlying = userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain else { return nil }
        return Int32(underlying.code)
    }
}

@inline(__always)
private func Glibc_write(_ fd: Int32, _ buf: UnsafeRawPointer, _ n: Int) -> Int {
    #if canImport(Glibc)
    return Glibc.write(fd, buf, n)
    #else
    return Darwin.write(fd, buf, n)
    #endif
}
