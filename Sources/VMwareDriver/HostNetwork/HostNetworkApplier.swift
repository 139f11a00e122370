import Foundation
import LabKit

/// One host file: what is there now and what the lab wants.
public struct HostFileChange: Sendable, Hashable {
    public var kind: HostNetworkLayout.FileKind
    /// The path on the host (`/etc/vmware/networking`).
    public var path: String
    /// The same path under the applier's root (what is actually read and written).
    public var fullPath: String
    /// The current bytes, nil when the file does not exist yet.
    public var old: Data?
    public var new: String
    /// The current file's permission bits (kept on the new file), nil for a new file.
    public var mode: Int?

    public var isChanged: Bool { old != Data(new.utf8) }
    public var diff: String {
        UnifiedDiff.diff(old: old.map { String(decoding: $0, as: UTF8.self) }, new: new, oldName: path, newName: path + " (labctl)")
    }
}

/// What `apply` did.
public struct HostNetworkApplyReport: Sendable, Hashable {
    public var backups: [String] = []
    public var written: [String] = []
    /// The restart commands run, as a user could paste them.
    public var commands: [String] = []
}

/// Writes the lab's VMware network files on Linux or macOS and restarts VMware networking.
///
/// Safety: it refuses without VMware's files or without root, backs every original
/// up with a timestamp, writes each file atomically (temp file + rename, same mode),
/// and on any failure puts the original files back so nothing is left half-written.
public struct HostNetworkApplier: Sendable {
    public var os: VMwareHostOS
    public var layout: HostNetworkLayout
    /// The directory the host paths are under: `/`, or a fake root in tests.
    public var root: String
    public var runner: any CommandRunner
    /// Whether labctl runs as root; only checked when `root` is `/`.
    public var isPrivileged: Bool
    public var now: Date
    /// Called with each full path right before it is written (tests inject failures here).
    public var beforeWrite: @Sendable (String) throws -> Void

    public init(os: VMwareHostOS, vmnet: String, root: String = "/", runner: any CommandRunner,
                isPrivileged: Bool = geteuid() == 0, now: Date = Date(),
                beforeWrite: @escaping @Sendable (String) throws -> Void = { _ in }) throws {
        guard let layout = HostNetworkLayout(os: os, vmnet: vmnet) else {
            throw LabError(.unsupported, "labctl does not change VMware's network on Windows itself",
                           hint: "run the commands of `labctl net show --host windows` in PowerShell as Administrator")
        }
        self.os = os
        self.layout = layout
        self.root = root
        self.runner = runner
        self.isPrivileged = isPrivileged
        self.now = now
        self.beforeWrite = beforeWrite
    }

    var isRealRoot: Bool { URL(fileURLWithPath: root).standardizedFileURL.path == "/" }

    func full(_ path: String) -> String {
        isRealRoot ? path : URL(fileURLWithPath: root).standardizedFileURL.path + path
    }

    /// Reads the current files and renders the lab's. Throws, changing nothing,
    /// when VMware's files are missing or labctl lacks root.
    public func plan(_ plan: HostNetworkPlan) throws -> [HostFileChange] {
        let fm = FileManager.default
        let product = os == .linux ? "VMware Workstation" : "VMware Fusion"
        guard let networking = layout.path(.networking) else { return [] }
        // Checked first, so an unprivileged run never reads or writes anything.
        if isRealRoot && !isPrivileged {
            throw LabError(.invalidInput, "changing VMware's network configuration needs root", location: .file(layout.files.map(\.path).joined(separator: ", ")),
                           hint: "run it with sudo (sudo labctl net apply), or look at the files first with labctl net show")
        }
        var isDir: ObjCBool = false
        guard fm.fileExists(atPath: full(networking), isDirectory: &isDir), !isDir.boolValue else {
            throw LabError(.notFound, "\(product) does not seem to be installed: its network configuration is missing",
                           location: .file(full(networking)),
                           hint: isRealRoot ? "install \(product) and start it once (it creates this file), then run labctl net apply again"
                                            : "--root \(root) must contain \(networking) as VMware writes it")
        }
        for file in layout.files {
            let dir = (full(file.path) as NSString).deletingLastPathComponent
            guard fm.fileExists(atPath: dir, isDirectory: &isDir), isDir.boolValue else {
                throw LabError(.notFound, "\(product) has no \(plan.vmnet) configuration directory", location: .file(dir),
                               hint: "enable \(plan.vmnet) as a NAT network in \(product)'s network settings once, then run labctl net apply again")
            }
        }
        var current: [HostNetworkLayout.FileKind: (path: String, text: String)] = [:]
        var old: [HostNetworkLayout.FileKind: (Data, Int?)] = [:]
        for file in layout.files {
            let path = full(file.path)
            guard fm.fileExists(atPath: path) else { continue }
            let data: Data
            do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
                throw LabError(.notFound, "cannot read VMware's \(file.kind.rawValue)", location: .file(path), hint: "check the file's permissions", cause: error)
            }
            let mode = (try? fm.attributesOfItem(atPath: path)[.posixPermissions] as? NSNumber)?.intValue
            // Edits keep every other byte; a file that is not UTF-8 could not be written back unchanged.
            guard let text = String(data: data, encoding: .utf8) else {
                throw LabError(.invalidInput, "VMware's \(file.kind.rawValue) is not UTF-8 text, so labctl cannot edit it without changing other lines",
                               location: .file(path), hint: "labctl changed nothing; convert the file to UTF-8 (or restore VMware's copy with its network editor) and run labctl net apply again")
            }
            current[file.kind] = (path, text)
            old[file.kind] = (data, mode)
        }
        let rendered = try HostNetworkRenderer.files(plan, os: os, current: current, writtenAt: now)
        return rendered.map { r in
            HostFileChange(kind: r.kind, path: r.path, fullPath: full(r.path), old: old[r.kind]?.0, new: r.content, mode: old[r.kind]?.1)
        }
    }

    /// `networking.labctl-backup-20261127T105800Z`.
    public var backupSuffix: String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = "yyyyMMdd'T'HHmmss'Z'"
        return ".labctl-backup-" + f.string(from: now)
    }

    public func apply(_ changes: [HostFileChange]) async throws -> HostNetworkApplyReport {
        let changed = changes.filter(\.isChanged)
        var report = HostNetworkApplyReport()
        guard !changed.isEmpty else { return report }
        let fm = FileManager.default
        var written: [HostFileChange] = []
        var current = ""
        do {
            for c in changed where c.old != nil {
                current = c.fullPath
                let backup = c.fullPath + backupSuffix
                guard !fm.fileExists(atPath: backup) else {
                    throw LabError(.conflict, "a backup with this name exists already", location: .file(backup), hint: "wait a second and run labctl net apply again")
                }
                try fm.copyItem(atPath: c.fullPath, toPath: backup)
                report.backups.append(backup)
            }
            for c in changed {
                current = c.fullPath
                try beforeWrite(c.fullPath)
                try Self.atomicWrite(Data(c.new.utf8), to: c.fullPath, mode: c.mode ?? 0o644)
                written.append(c)
                report.written.append(c.fullPath)
            }
        } catch {
            let problems = restore(written)
            if problems.isEmpty { for b in report.backups { try? fm.removeItem(atPath: b) } }
            throw LabError(.commandFailed, "could not write VMware's network configuration", location: .file(current),
                           hint: problems.isEmpty
                               ? "nothing was changed (files already written were put back); fix the cause (permissions, free space) and run labctl net apply again"
                               : "some files could not be put back (\(problems.joined(separator: "; "))); copy the *\(backupSuffix) files over them by hand",
                           detail: (error as? LabError)?.message ?? "\(error)")
        }
        for argv in layout.restart {
            let command = Command(argv, deadline: .seconds(120))
            report.commands.append(command.display)
            var failure: String?
            do {
                let result = try await runner.run(command)
                if !result.succeeded {
                    let output = (result.stderrText + result.stdoutText).trimmingCharacters(in: .whitespacesAndNewlines)
                    failure = "exit status \(result.exitStatus)\(result.exitSignal.map { ", signal \($0)" } ?? "")" + (output.isEmpty ? "" : ": \(output)")
                }
            } catch {
                failure = (error as? LabError)?.description ?? "\(error)"
            }
            guard let failure else { continue }
            // Put the previous configuration back and bring networking up with it.
            let problems = restore(written)
            var restarted = true
            for argv in layout.restart {
                let ok = (try? await runner.run(Command(argv, deadline: .seconds(120))))?.succeeded ?? false
                if !ok { restarted = false; break }
            }
            if problems.isEmpty { for b in report.backups { try? fm.removeItem(atPath: b) } }
            let start = layout.restart.last.map { Command($0).display } ?? ""
            let hint: String
            if !problems.isEmpty {
                hint = "some files could not be put back (\(problems.joined(separator: "; "))); copy the *\(backupSuffix) files over them and run \(start)"
            } else if restarted {
                hint = "the previous files were put back and networking restarted with them; find out why the command failed, then run labctl net apply again"
            } else {
                hint = "the previous files were put back, but restarting networking with them failed too: check the VMware installation and run \(start) as root"
            }
            throw LabError(.commandFailed, "restarting VMware networking failed", location: .command(command), hint: hint, detail: failure)
        }
        return report
    }

    /// Puts back the original of every written file; returns what could not be restored.
    func restore(_ written: [HostFileChange]) -> [String] {
        var problems: [String] = []
        for c in written.reversed() {
            do {
                if let old = c.old {
                    try Self.atomicWrite(old, to: c.fullPath, mode: c.mode ?? 0o644)
                } else {
                    try FileManager.default.removeItem(atPath: c.fullPath)
                }
            } catch {
                problems.append("\(c.fullPath): \(error)")
            }
        }
        return problems
    }

    /// Writes a temp file next to `path`, sets its mode, then renames it over `path`,
    /// so a reader sees the old file or the new one, never a partial one.
    static func atomicWrite(_ data: Data, to path: String, mode: Int) throws {
        let url = URL(fileURLWithPath: path)
        let temp = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).labctl-tmp-\(getpid())").path
        let fm = FileManager.default
        guard fm.createFile(atPath: temp, contents: data) else {
            throw LabError(.commandFailed, "cannot create a temporary file", location: .file(temp))
        }
        do {
            // On disk before the rename, so a crash cannot leave an empty file in place.
            if let handle = FileHandle(forWritingAtPath: temp) {
                try handle.synchronize()
                try handle.close()
            }
            try fm.setAttributes([.posixPermissions: NSNumber(value: mode)], ofItemAtPath: temp)
            guard rename(temp, path) == 0 else {
                throw LabError(.commandFailed, "cannot replace the file", location: .file(path), cause: POSIXError.current())
            }
        } catch {
            try? fm.removeItem(atPath: temp)
            throw error
        }
    }
}
