import Foundation
import LabKit
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A VMware lock directory (`<vm>.vmx.lck/`, `<disk>.vmdk.lck/`).
///
/// It exists while the VM runs or is open in the UI (gns3-server#328). Files inside hold
/// the owner's PID; VVD's utility extracts it with `\s(\d+)-` (VVD Go `driver/base.go`
/// `vmPidAlive`). vmware.md §1.6.
public struct VMwareLock: Sendable, Hashable {
    public enum State: String, Sendable, Hashable {
        /// An owner PID is alive on this host.
        case live
        /// Every owner PID we found is dead: the lock was left behind.
        case stale
        /// No PID could be read: treated as live, to be safe.
        case unknown
    }

    public var path: String
    public var ownerPIDs: [Int32]
    public var state: State

    public init(path: String, ownerPIDs: [Int32], state: State) {
        self.path = path
        self.ownerPIDs = ownerPIDs
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
            var pids: [Int32] = []
            var isDir: ObjCBool = false
            if fm.fileExists(atPath: path, isDirectory: &isDir), isDir.boolValue {
                for inner in (try? fm.contentsOfDirectory(atPath: path)) ?? [] {
                    if let data = fm.contents(atPath: (path as NSString).appendingPathComponent(inner)) {
                        pids += ownerPIDs(in: String(decoding: data.prefix(4096), as: UTF8.self))
                    }
                }
            } else if let data = fm.contents(atPath: path) {
                pids += ownerPIDs(in: String(decoding: data.prefix(4096), as: UTF8.self))
            }
            let state: VMwareLock.State = pids.isEmpty ? .unknown : (pids.contains(where: isAlive) ? .live : .stale)
            return VMwareLock(path: path, ownerPIDs: pids, state: state)
        }
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
            throw LabError(.conflict, "cannot \(action): the VM is open in VMware or running\(owner)", location: live.path,
                           hint: "power the VM off and close its tab in the VMware UI, then try again")
        }
        if let stale = locks.first {
            throw LabError(.conflict, "cannot \(action): a stale VMware lock is left (owner PID \(stale.ownerPIDs.map(String.init).joined(separator: ", ")) is not running)",
                           location: stale.path,
                           hint: "if no VMware program has this VM open, delete \(stale.path) and try again; labctl never deletes locks itself")
        }
    }
}
