import Foundation
import LabKit
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A VMware lock directory (`<vm>.vmx.lck/`, `<disk>.vmdk.lck/`).
///
/// It exists while the VM runs or is open in the UI (gns3-server#328). VMware's portable file
/// locks (open-vm-tools `lib/file/fileLockPrimitive.c`) put one member file per holder in it,
/// named `M<5 digits>.lck` (`D<5 digits>.lck` entry directories appear while a lock is taken),
/// each a fixed 512-byte record (`FILELOCK_DATA_SIZE`, NUL padded) of space-separated fields:
/// machine ID, execution ID (`<pid>-<process creation time>`), Lamport number, `S` or `X`,
/// creation time, then optional `name=value` properties such as `lc=`. VVD reads the PID with
/// `\s(\d+)-` (VVD Go `driver/base.go` `vmPidAlive`; docs/vmware-driver.md, "Checks before touching a VM's files").
public struct VMwareLock: Sendable, Hashable {
    public enum State: String, Sendable, Hashable {
        /// An owner PID is alive on this host.
        case live
        /// Every owner PID we found is dead here: the lock was left behind, or (on shared storage)
        /// it belongs to a process on another machine.
        case stale
        /// No PID could be read: treated as live, to be safe.
        case unknown
    }

    /// One holder, from a member file.
    public struct Owner: Sendable, Hashable {
        /// VMware's host identifier (`uuid=...` on current versions), not the host name.
        public var machineID: String
        public var pid: Int32
    }

    public var path: String
    public var owners: [Owner]
    public var state: State

    public var ownerPIDs: [Int32] { owners.map(\.pid) }

    public init(path: String, owners: [Owner], state: State) {
        self.path = path
        self.owners = owners
        self.state = state
    }
}

public enum VMwareLocks {
    /// The `*.lck` entries in a VM's folder.
    public static func scan(directory: String, isAlive: (Int32) -> Bool = processIsAlive) -> [VMwareLock] {
        let fm = FileManager.default
        guard let names = try? fm.contentsOfDirectory(atPath: directory) else { return [] }
        return names.filter { $0.hasSuffix(".lck") }.sorted().map { name in
            let path = (directory as NSString).appendingPathComponent(name)
            var owners: [VMwareLock.Owner] = []
            var isDir: ObjCBool = false
            if fm.fileExists(atPath: path, isDirectory: &isDir), isDir.boolValue {
                for inner in ((try? fm.contentsOfDirectory(atPath: path)) ?? []).sorted() {
                    if let data = fm.contents(atPath: (path as NSString).appendingPathComponent(inner)) {
                        owners += self.owners(in: data)
                    }
                }
            } else if let data = fm.contents(atPath: path) {
                owners += self.owners(in: data)
            }
            let state: VMwareLock.State = owners.isEmpty ? .unknown : (owners.contains { isAlive($0.pid) } ? .live : .stale)
            return VMwareLock(path: path, owners: owners, state: state)
        }
    }

    /// The holders a member file names. The record is read as open-vm-tools lays it out; text in
    /// another layout falls back to VVD's `\s(\d+)-` with an unknown machine.
    static func owners(in data: Data) -> [VMwareLock.Owner] {
        let text = String(decoding: data.prefix(4096).prefix { $0 != 0 }, as: UTF8.self)
        let fields = text.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
        // Old-style records have a bare PID as execution ID; VMware upgrades them to `<pid>-<time>`.
        if fields.count >= 5, fields[3] == "S" || fields[3] == "X",
           let pid = Int32(fields[1].prefix { $0 != "-" }), pid > 0 {
            return [VMwareLock.Owner(machineID: fields[0], pid: pid)]
        }
        return ownerPIDs(in: text).map { VMwareLock.Owner(machineID: "", pid: $0) }
    }

    /// PIDs matching VVD's `\s(\d+)-`.
    public static func ownerPIDs(in text: String) -> [Int32] {
        var out: [Int32] = []
        let chars = Array(text)
        var i = 0
        while i < chars.count {
            if chars[i].isWhitespace {
                var j = i + 1
                while j < chars.count, chars[j].isASCII, chars[j].isNumber { j += 1 }
                if j > i + 1, j < chars.count, chars[j] == "-", let pid = Int32(String(chars[(i + 1)..<j])), pid > 0 {
                    if !out.contains(pid) { out.append(pid) }
                }
                i = j > i + 1 ? j : i + 1
            } else {
                i += 1
            }
        }
        return out
    }

    public static func processIsAlive(_ pid: Int32) -> Bool {
        if kill(pid, 0) == 0 { return true }
        return errno == EPERM // exists, owned by another user
    }

    /// Throws when a lock says the VM is in use. Stale locks are reported, never deleted:
    /// only the user can know that VMware is really closed.
    public static func requireUnlocked(vmx: String, action: String, isAlive: (Int32) -> Bool = processIsAlive) throws {
        let dir = (vmx as NSString).deletingLastPathComponent
        let locks = scan(directory: dir, isAlive: isAlive)
        if let live = locks.first(where: { $0.state != .stale }) {
            let owner = live.ownerPIDs.isEmpty ? "" : " (held by PID \(live.ownerPIDs.map(String.init).joined(separator: ", ")))"
            throw LabError(.conflict, "cannot \(action): the VM is open in VMware or running\(owner)", location: .file(live.path),
                           hint: "power the VM off and close its tab in the VMware UI, then try again")
        }
        if let stale = locks.first {
            // VMware itself clears a member file only when its machine ID is the local one and the
            // process is gone (open-vm-tools `fileLockPrimitive.c` `Scanner`); labctl cannot compute
            // VMware's machine ID, so it names it and lets the user judge.
            let machines = Array(Set(stale.owners.map(\.machineID).filter { !$0.isEmpty })).sorted()
            let written = machines.isEmpty ? "" : ", written by VMware machine ID \(machines.joined(separator: ", "))"
            throw LabError(.conflict, "cannot \(action): a stale VMware lock is left: its owner PID \(stale.ownerPIDs.map(String.init).joined(separator: ", ")) is not running on this host\(written)",
                           location: .file(stale.path),
                           hint: "if the VM's folder is on shared storage, another computer may have it open: close it there. Otherwise no VMware program has it open: delete \(stale.path) and try again; labctl never deletes locks itself")
        }
    }
}
