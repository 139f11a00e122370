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
/// with O_EXCL, written, fsynced and renamed over the target (`AtomicFile`), so a reader sees the
/// old file or the whole new one, never half a key.
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
                throw LabError.writeFailed(error, "create directory \(path)", path: path)
            }
        }
        guard chmod(path, 0o700) == 0 else {
            throw LabError(.commandFailed, "cannot set mode 0700 on \(path)", location: .file(path),
                           cause: POSIXError.current())
        }
    }

    /// Writes `contents` to `path` atomically with exactly `mode` (`AtomicFile`: temp file opened
    /// with the mode, fchmod, fsync, rename), so a full disk leaves the previous file as it was.
    static func write(_ contents: String, to path: String, mode: mode_t) throws {
        try AtomicFile.write(Data(contents.utf8), to: path, mode: mode)
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
