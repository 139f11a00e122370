import Foundation
import Testing
import LabKit
import LabPKI
import GuestSSH
@testable import LabStages
#if canImport(Glibc)
import Glibc
#endif

/// Secret files are 0600 from the moment they exist (issue 19): every writer of keys, CA keys and
/// kubeconfigs opens its (temporary) file with the final mode and O_EXCL before writing a byte, so
/// there is no window in which the file exists with the umask's mode. The tests run the real writers
/// under umask 000 (the worst a user can have) while an inotify watcher stats every file the moment
/// it is created: a writer that created the file first and chmod'ed it later would be seen 0666.
@Suite(.serialized) struct SecretFileModeTests {
    @Test func kubeconfigIsPrivateFromItsFirstByte() throws {
        var paths = LabPaths(root: "")
        let seen = try CreationWatcher.repeatUntilSeen(enough: { !$0.isEmpty }) {
            paths = LabPaths(root: try Fixture.tempDir() + "/.labctl")
            try FileManager.default.createDirectory(atPath: paths.root, withIntermediateDirectories: true)
            return try CreationWatcher.observe([paths.root]) {
                try withUmask(0) { try KubeconfigMerge.write("apiVersion: v1\nkind: Config\n", paths: paths) }
            }
        }
        #expect(!seen.isEmpty, "the watcher saw no file created")
        for (name, mode) in seen { #expect(mode == 0o600, "\(name) existed with mode \(String(mode, radix: 8))") }
        #expect(fileMode(paths.kubeconfig) == 0o600)
    }

    @Test func caKeysArePrivateFromTheirFirstByteAndCertificatesArePublic() throws {
        let profile = CAProfile.current.with(keyAlgorithm: .p256)
        var paths = LabPaths(root: "")
        var clusterDir = ""
        let seen = try CreationWatcher.repeatUntilSeen(enough: { $0.filter { $0.name.contains("key") }.count >= 2 }) {
            paths = LabPaths(root: try Fixture.tempDir() + "/.labctl")
            clusterDir = MeshCA.clusterDirectory("cluster1", in: paths)
            // Watched directories must exist before the writer runs (inotify watches what exists).
            for dir in [paths.pki, clusterDir] { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
            return try CreationWatcher.observe([paths.pki, clusterDir]) {
                try withUmask(0) {
                    let ca = try MeshCA.ensureRoot(in: paths, profile: profile)
                    _ = try ca.issueIntermediate(cluster: "cluster1")
                }
            }
        }
        let keys = seen.filter { $0.name.contains("key") }
        #expect(keys.count >= 2, "the watcher saw \(seen.map(\.name))")
        for (name, mode) in keys { #expect(mode == 0o600, "\(name) existed with mode \(String(mode, radix: 8))") }
        for (name, mode) in seen where !name.contains("key") { #expect(mode & 0o022 == 0, "\(name) is writable by others") }
        #expect(fileMode(paths.pki + "/root-key.pem") == 0o600)
        #expect(fileMode(clusterDir + "/ca-key.pem") == 0o600)
        #expect(fileMode(paths.pki) == 0o700)
    }

    /// ssh-keygen creates the lab key; it opens the private key file 0600 itself, which this checks
    /// rather than assumes.
    @Test(.enabled(if: Fixture.which("ssh-keygen") != nil, "ssh-keygen is not installed (openssh-client)"))
    func labSSHKeyIsPrivateFromItsFirstByte() throws {
        let paths = LabPaths(root: try Fixture.tempDir() + "/.labctl")
        try FileManager.default.createDirectory(atPath: paths.root, withIntermediateDirectories: true)
        let seen = try CreationWatcher.observe([paths.root]) {
            _ = try withUmask(0) { try SSHKeys.ensureLabKey(paths: paths) }
        }
        let privateKeys = seen.filter { $0.name == "id_ed25519" }
        #expect(privateKeys.count == 1, "the watcher saw \(seen.map(\.name))")
        for (name, mode) in privateKeys { #expect(mode == 0o600, "\(name) existed with mode \(String(mode, radix: 8))") }
        #expect(fileMode(paths.privateKey) == 0o600)
    }

    @Test func atomicFileCreatesItsTempFileWithTheRequestedMode() throws {
        var dir = ""
        let seen = try CreationWatcher.repeatUntilSeen(enough: { !$0.isEmpty }) {
            dir = try Fixture.tempDir()
            return try CreationWatcher.observe([dir]) {
                try withUmask(0) { try AtomicFile.write(Data("token\n".utf8), to: dir + "/secret", mode: 0o600) }
            }
        }
        #expect(!seen.isEmpty)
        for (name, mode) in seen { #expect(mode == 0o600, "\(name) existed with mode \(String(mode, radix: 8))") }
        #expect(fileMode(dir + "/secret") == 0o600)
    }

    /// The watcher itself can fail: a writer that creates first and sets the mode after is caught.
    @Test func theWatcherCatchesAFileCreatedBeforeItsModeIsSet() throws {
        let dir = try Fixture.tempDir()
        let seen = try CreationWatcher.observe([dir]) {
            try withUmask(0) {
                let fd = open(dir + "/late", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o666)
                guard fd >= 0 else { throw CancellationError() }
                defer { close(fd) }
                usleep(300_000)
                fchmod(fd, 0o600)
            }
        }
        #expect(seen.map(\.mode) == [0o666])
    }
}

func withUmask<T>(_ mask: mode_t, _ body: () throws -> T) rethrows -> T {
    let old = umask(mask)
    defer { umask(old) }
    return try body()
}

func fileMode(_ path: String) -> mode_t? {
    var st = stat()
    guard stat(path, &st) == 0 else { return nil }
    return st.st_mode & 0o7777
}

/// Stats every regular file created in the watched directories as soon as inotify reports it.
enum CreationWatcher {
    /// A file written to a temporary name and renamed at once can be gone before the reader thread,
    /// descheduled under load, stats it: that creation is not seen at all (never seen with a wrong
    /// mode). So a test repeats its write, each time in fresh folders, until the watcher has seen
    /// `enough`, at most `attempts` times; every creation seen in any attempt is returned.
    static func repeatUntilSeen(attempts: Int = 20, enough: ([(name: String, mode: mode_t)]) -> Bool,
                                _ run: () throws -> [(name: String, mode: mode_t)]) rethrows -> [(name: String, mode: mode_t)] {
        var seen = try run()
        for _ in 1..<attempts where !enough(seen) { seen += try run() }
        return seen
    }

    static func observe(_ directories: [String], _ body: () throws -> Void) throws -> [(name: String, mode: mode_t)] {
        let fd = inotify_init1(Int32(IN_CLOEXEC))
        guard fd >= 0 else { throw LabError(.internalError, "inotify_init1 failed: errno \(errno)") }
        var watches: [Int32: String] = [:]
        for dir in directories {
            let wd = inotify_add_watch(fd, dir, UInt32(IN_CREATE))
            guard wd >= 0 else { close(fd); throw LabError(.internalError, "inotify_add_watch \(dir) failed: errno \(errno)") }
            watches[wd] = dir
        }
        let dirs = watches
        let collected = Collected()
        let stop = DispatchSemaphore(value: 0)
        let reader = Thread {
            var buffer = [UInt8](repeating: 0, count: 64 * 1024)
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            while true {
                let ready = poll(&pfd, 1, 20)
                if ready <= 0 {
                    if stop.wait(timeout: .now()) == .success { break }
                    continue
                }
                let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                guard n > 0 else { break }
                var offset = 0
                while offset + MemoryLayout<inotify_event>.size <= n {
                    let (wd, len) = buffer.withUnsafeBytes { raw -> (Int32, Int) in
                        let event = raw.loadUnaligned(fromByteOffset: offset, as: inotify_event.self)
                        return (event.wd, Int(event.len))
                    }
                    let nameStart = offset + MemoryLayout<inotify_event>.size
                    let nameBytes = buffer[nameStart..<min(nameStart + len, n)].prefix { $0 != 0 }
                    let name = String(decoding: nameBytes, as: UTF8.self)
                    if let dir = dirs[wd] {
                        var st = stat()
                        if lstat(dir + "/" + name, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG {
                            collected.add(name, st.st_mode & 0o7777)
                        }
                    }
                    offset = nameStart + len
                }
            }
        }
        reader.start()
        defer { close(fd) }
        do {
            try body()
        } catch {
            stop.signal()
            throw error
        }
        // Let the reader drain the events of the last writes (bounded).
        usleep(200_000)
        stop.signal()
        for _ in 0..<1000 where !reader.isFinished { usleep(5_000) }  // at most 5 s
        return collected.items
    }

    final class Collected: @unchecked Sendable {
        private let lock = NSLock()
        private var list: [(name: String, mode: mode_t)] = []
        func add(_ name: String, _ mode: mode_t) { lock.lock(); list.append((name, mode)); lock.unlock() }
        var items: [(name: String, mode: mode_t)] { lock.lock(); defer { lock.unlock() }; return list }
    }
}
