import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A tmpfs of a few hundred KiB mounted on a fresh directory, for the full-disk tests (issue 19):
/// a lab's state directory lives in it, `fill()` takes every free page with a filler file, and
/// `free()` gives the space back. Mounting needs root (CI runs the tests as root).
public final class TinyFileSystem: @unchecked Sendable {
    public let path: String
    private var filler: Int32 = -1

    /// Why the full-disk tests cannot run here, or nil when they can.
    public static var unavailableReason: String? {
        geteuid() == 0 ? nil : "mounting a tiny tmpfs needs root (CI runs the tests as root)"
    }

    public init(kib: Int = 256) throws {
        path = (NSTemporaryDirectory() as NSString).appendingPathComponent("labctl-fulldisk-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/mount")
        p.arguments = ["-t", "tmpfs", "-o", "size=\(kib)k,mode=0755", "labctl-fulldisk", path]
        try p.run()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            try? FileManager.default.removeItem(atPath: path)
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path])
        }
    }

    public func sub(_ name: String) -> String { (path as NSString).appendingPathComponent(name) }

    /// Writes a filler file until the file system says ENOSPC; afterwards no write of a single byte
    /// to a new page succeeds (tmpfs hands out whole pages).
    public func fill() throws {
        if filler < 0 { filler = open(sub(".filler"), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600) }
        guard filler >= 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        let chunk = [UInt8](repeating: 0x55, count: 4096)
        for size in [4096, 1] {
            while true {
                let n = chunk.withUnsafeBytes { Glibc.write(filler, $0.baseAddress, size) }
                if n < 0 {
                    guard errno == EINTR else { break }
                }
            }
        }
    }

    /// Gives back `bytes` (whole pages) of the filler, so exactly that much can be written again.
    public func release(bytes: Int) {
        var st = stat()
        guard filler >= 0, fstat(filler, &st) == 0 else { return }
        _ = ftruncate(filler, max(0, st.st_size - off_t(bytes)))
    }

    /// Removes the filler: the space is free again.
    public func free() {
        if filler >= 0 { close(filler) }
        filler = -1
        unlink(sub(".filler"))
    }

    /// Files whose name holds `.tmp` anywhere under the mount (what a failed atomic write must not leave).
    public func leftoverTempFiles() -> [String] {
        let items = FileManager.default.enumerator(atPath: path)?.allObjects as? [String] ?? []
        return items.filter { ($0 as NSString).lastPathComponent.contains(".tmp") }
    }

    public func unmount() {
        free()
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/umount")
        p.arguments = ["--lazy", path]
        if (try? p.run()) != nil { p.waitUntilExit() }
        try? FileManager.default.removeItem(atPath: path)
    }
}
