import Foundation
import LabKit
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// File I/O for CA material: private directories, atomic writes with the final mode from the start.
///
/// `Data.write(options: .atomic)` creates the temporary file with the umask's mode and would leave
/// a key world-readable until a later chmod; here the temp file is opened 0600 (or the given mode)
/// with O_EXCL, written, fsynced and renamed over the target, so a reader sees the old file or the
/// whole new one, never half a key.
enum SecureFile {
    static func exists(_ path: String) -> Bool {
        var st = stat()
        return lstat(path, &st) == 0
    }

    /// Creates `path` (and parents) with mode 0700, and tightens an existing directory to 0700.
    static func ensurePrivateDirectory(_ path: String) throws {
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDir) {
            guard isDir.boolValue else {
                throw LabError(.conflict, "\(path) exists and is not a directory", location: .file(path),
                               hint: "move it away; labctl keeps the Istio CA in this directory")
            }
        } else {
            do {
                try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true,
                                                        attributes: [.posixPermissions: 0o700])
            } catch {
                throw LabError(.commandFailed, "cannot create directory \(path)", location: .file(path),
                               hint: "check that the lab's state directory is writable", cause: error)
            }
        }
        guard chmod(path, 0o700) == 0 else {
            throw LabError(.commandFailed, "cannot set mode 0700 on \(path)", location: .file(path),
                           cause: POSIXError.current())
        }
    }

    /// Writes `contents` to `path` atomically (temp file in the same directory, then rename).
    static func write(_ contents: String, to path: String, mode: mode_t) throws {
        let dir = (path as NSString).deletingLastPathComponent
        let name = (path as NSString).lastPathComponent
        let suffix = UInt64.random(in: 0...UInt64.max)
        let temp = (dir as NSString).appendingPathComponent(".\(name).tmp-\(String(suffix, radix: 16))")
        let fd = open(temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        guard fd >= 0 else {
            throw LabError(.commandFailed, "cannot create \(temp)", location: .file(path),
                           hint: "check that the lab's state directory is writable", cause: POSIXError.current())
        }
        var ok = false
        defer {
            if !ok { unlink(temp) }
        }
        do {
            defer { close(fd) }
            // The umask may have cleared bits of `mode` (a cert's 0644); set it exactly.
            guard fchmod(fd, mode) == 0 else {
                throw LabError(.commandFailed, "cannot set the mode of \(temp)", location: .file(path),
                               cause: POSIXError.current())
            }
            let bytes = Array(contents.utf8)
            var written = 0
            while written < bytes.count {
                let n = bytes[written...].withUnsafeBytes { Glibc_write(fd, $0.baseAddress, $0.count) }
                if n < 0 {
                    if errno == EINTR { continue }
                    throw LabError(.commandFailed, "cannot write \(temp)", location: .file(path),
                                   cause: POSIXError.current())
                }
                written += n
            }
            guard fsync(fd) == 0 else {
                throw LabError(.commandFailed, "cannot sync \(temp)", location: .file(path),
                               cause: POSIXError.current())
            }
        }
        guard rename(temp, path) == 0 else {
            throw LabError(.commandFailed, "cannot rename \(temp) to \(path)", location: .file(path),
                           cause: POSIXError.current())
        }
        ok = true
    }

    /// The file's text, or nil when it does not exist.
    static func read(_ path: String) throws -> String? {
        guard exists(path) else { return nil }
        do {
            let data = try Data(contentsOf: URL(fileURLWithPath: path))
            guard let text = String(data: data, encoding: .utf8) else {
                throw LabError(.conflict, "\(path) is not text", location: .file(path))
            }
            return text
        } catch let error as LabError {
            throw error
        } catch {
            throw LabError(.commandFailed, "cannot read \(path)", location: .file(path), cause: error)
        }
    }

    /// The permission bits of `path`.
    static func mode(_ path: String) -> mode_t? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return st.st_mode & 0o7777
    }
}

/// `write(2)` under a name that does not collide with the `write(_:to:mode:)` above.
@inline(__always)
private func Glibc_write(_ fd: Int32, _ buf: UnsafeRawPointer?, _ n: Int) -> Int {
    #if canImport(Glibc)
    return Glibc.write(fd, buf, n)
    #else
    return Darwin.write(fd, buf, n)
    #endif
}
