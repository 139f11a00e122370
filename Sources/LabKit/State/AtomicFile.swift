import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes a file so that readers see the old content or the new, never half of it.
///
/// The data goes to a unique temp file in the same directory, is fsync'ed, then renamed over the
/// target (rename is atomic within one file system), and the directory is fsync'ed so the rename
/// itself survives a power cut. A crash leaves at most a stray `.tmp-*` file, never a partial target.
public enum AtomicFile {
    public static func write(_ data: Data, to path: String, mode: mode_t = 0o644) throws {
        let dir = (path as NSString).deletingLastPathComponent
        let directory = dir.isEmpty ? "." : dir
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let base = (path as NSString).lastPathComponent
        let temp = (directory as NSString).appendingPathComponent(".\(base).tmp-\(getpid())-\(UUID().uuidString.prefix(8))")

        let fd = open(temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        guard fd >= 0 else { throw failure("create", temp) }
        var ok = false
        defer {
            if !ok { unlink(temp) }
        }
        do {
            defer { close(fd) }
            try data.withUnsafeBytes { (buffer: UnsafeRawBufferPointer) in
                var offset = 0
                while offset < buffer.count {
                    guard let base = buffer.baseAddress else { break }
                    let n = Glibc_write(fd, base + offset, buffer.count - offset)
                    if n < 0 {
                        if errno == EINTR { continue }
                        throw failure("write", temp)
                    }
                    offset += n
                }
            }
            guard fsync(fd) == 0 else { throw failure("fsync", temp) }
        }
        guard rename(temp, path) == 0 else { throw failure("rename to \(path)", temp) }
        ok = true
        let dfd = open(directory, O_RDONLY | O_CLOEXEC)
        if dfd >= 0 {
            _ = fsync(dfd)
            close(dfd)
        }
    }

    private static func failure(_ what: String, _ path: String) -> LabError {
        let reason = String(cString: strerror(errno))
        return LabError(.internalError, "cannot \(what) \(path)", location: .file(path),
                        hint: "check that the lab's state directory is writable", detail: reason)
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
