import Foundation

/// The outcome of one preflight check.
public enum DoctorStatus: String, Sendable, Hashable, Codable, CaseIterable {
    case pass, warn, fail
    /// The check does not apply on this host (for example host memory seen from WSL2).
    case unsupported
}

/// What one check found; `hint` says what to do when it did not pass.
public struct DoctorResult: Sendable, Hashable, Codable {
    public var id: String
    public var title: String
    public var status: DoctorStatus
    public var detail: String
    public var hint: String?

    public init(id: String, title: String, status: DoctorStatus, detail: String, hint: String? = nil) {
        self.id = id
        self.title = title
        self.status = status
        self.detail = detail
        self.hint = hint
    }
}

/// A finding without the check's identity (a check body returns this).
public struct DoctorFinding: Sendable, Hashable {
    public var status: DoctorStatus
    public var detail: String
    public var hint: String?
    public init(_ status: DoctorStatus, _ detail: String, hint: String? = nil) {
        self.status = status
        self.detail = detail
        self.hint = hint
    }
}

/// One preflight check with its own deadline. A check never throws: a problem is a finding.
public struct DoctorCheck: Sendable {
    public var id: String
    public var title: String
    public var deadline: Duration
    public var body: @Sendable () async -> DoctorFinding

    public init(id: String, title: String, deadline: Duration = .seconds(10), body: @escaping @Sendable () async -> DoctorFinding) {
        self.id = id
        self.title = title
        self.deadline = deadline
        self.body = body
    }
}

public struct DoctorReport: Sendable, Hashable, Codable {
    public var host: String
    public var results: [DoctorResult]
    public init(host: String, results: [DoctorResult]) {
        self.host = host
        self.results = results
    }
    public var failures: [DoctorResult] { results.filter { $0.status == .fail } }
    public var passed: Bool { failures.isEmpty }

    /// The error `up` stops with: every failed check, with its hint.
    public var error: LabError? {
        guard let first = failures.first else { return nil }
        let lines = failures.map { "\($0.title): \($0.detail)" + ($0.hint.map { " (\($0))" } ?? "") }
        return LabError(.conflict, "the preflight found \(failures.count) problem\(failures.count == 1 ? "" : "s"): " + lines.joined(separator: "; "),
                        location: .other("labctl doctor, check \(first.id)"),
                        hint: "fix what each check says and run labctl doctor; --skip-doctor starts anyway")
    }
}

public enum Doctor {
    /// Runs the checks one after another (they share vmrun and the disk), each within its deadline.
    public static func run(_ checks: [DoctorCheck], host: String) async -> DoctorReport {
        var results: [DoctorResult] = []
        for check in checks {
            let finding: DoctorFinding
            do {
                finding = try await withDeadline(check.deadline, onTimeout: { LabError(.timeout, "deadline") }) { await check.body() }
            } catch is CancellationError {
                finding = DoctorFinding(.fail, "cancelled")
            } catch {
                finding = DoctorFinding(.fail, "did not finish within \(check.deadline)",
                                        hint: "the host is too busy or a command hangs; run labctl doctor again")
            }
            results.append(DoctorResult(id: check.id, title: check.title, status: finding.status, detail: finding.detail, hint: finding.hint))
        }
        return DoctorReport(host: host, results: results)
    }
}

/// Checks that do not depend on the hypervisor.
public enum HostChecks {
    /// The lab's SSH key: absent is fine when labctl creates it; present must be ed25519 and mode 0600.
    public static func sshKey(path: String, labctlCreates: Bool) -> DoctorCheck {
        DoctorCheck(id: "ssh-key", title: "SSH key") {
            guard let attrs = try? FileManager.default.attributesOfItem(atPath: path) else {
                return labctlCreates
                    ? DoctorFinding(.pass, "\(path) does not exist yet; labctl creates an ed25519 key there")
                    : DoctorFinding(.fail, "\(path) does not exist", hint: "create it with ssh-keygen -t ed25519 -f \(path), or remove ssh.privateKey from lab.json")
            }
            let mode = (attrs[.posixPermissions] as? NSNumber)?.intValue ?? 0
            guard mode & 0o077 == 0 else {
                return DoctorFinding(.fail, "\(path) has mode \(String(mode, radix: 8)), others can read it", hint: "chmod 600 \(path)")
            }
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                return DoctorFinding(.fail, "cannot read \(path)", hint: "make the key readable by the user running labctl")
            }
            guard let type = privateKeyType(text) else {
                return DoctorFinding(.fail, "\(path) is not an OpenSSH private key", hint: "use a key from ssh-keygen -t ed25519")
            }
            guard type == "ssh-ed25519" else {
                return DoctorFinding(.fail, "\(path) is a \(type) key; labctl uses ed25519", hint: "create one with ssh-keygen -t ed25519")
            }
            return DoctorFinding(.pass, "\(path): ed25519, mode 600")
        }
    }

    /// The key type inside an `-----BEGIN OPENSSH PRIVATE KEY-----` file: its public-key blob starts
    /// with the type name (PROTOCOL.key in openssh-portable), readable even when the key is encrypted.
    static func privateKeyType(_ text: String) -> String? {
        let lines = text.split(whereSeparator: \.isNewline).map(String.init)
        guard let begin = lines.firstIndex(of: "-----BEGIN OPENSSH PRIVATE KEY-----"),
              let end = lines.firstIndex(of: "-----END OPENSSH PRIVATE KEY-----"), begin < end,
              let blob = Data(base64Encoded: lines[(begin + 1)..<end].joined()) else { return nil }
        for type in ["ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521", "ssh-dss"]
        where blob.range(of: Data(type.utf8)) != nil {
            return type
        }
        return nil
    }

    /// Free space where the VMs go. `required` is an estimate the caller explains in `why`.
    public static func freeDisk(folder: String, required: UInt64, why: String,
                                freeBytes: @escaping @Sendable (String) -> UInt64? = Self.freeBytes) -> DoctorCheck {
        DoctorCheck(id: "disk", title: "Free disk in vmFolder") {
            // The folder may not exist yet: measure the nearest existing parent.
            var dir = folder
            while !FileManager.default.fileExists(atPath: dir), dir != "/", !dir.isEmpty {
                dir = (dir as NSString).deletingLastPathComponent
            }
            guard let free = freeBytes(dir) else {
                return DoctorFinding(.warn, "cannot read the free space of \(dir)", hint: "check that \(folder) is on a mounted filesystem")
            }
            let text = "\(gib(free)) free in \(dir), \(gib(required)) needed (\(why))"
            return free >= required ? DoctorFinding(.pass, text)
                : DoctorFinding(.fail, text, hint: "free space there or set vmware.vmFolder in lab.json to a larger disk")
        }
    }

    public static func freeBytes(_ path: String) -> UInt64? {
        (try? FileManager.default.attributesOfFileSystem(forPath: path))?[.systemFreeSize].flatMap { ($0 as? NSNumber)?.uint64Value }
    }

    /// The nodes' memory against the host's. `hostBytes` nil means this host cannot see it.
    public static func memory(requiredMiB: Int, nodes: Int, hostBytes: UInt64?, unseenReason: String) -> DoctorCheck {
        DoctorCheck(id: "memory", title: "Memory for the nodes") {
            guard let hostBytes else { return DoctorFinding(.unsupported, unseenReason) }
            let hostMiB = Int(hostBytes / 1_048_576)
            let text = "the \(nodes) nodes need \(requiredMiB) MiB, the host has \(hostMiB) MiB"
            if requiredMiB > hostMiB {
                return DoctorFinding(.fail, text, hint: "lower memoryMiB of the nodes in lab.json or run fewer nodes")
            }
            // VMware and the host OS need memory too; above 90 % the host swaps.
            if requiredMiB * 10 > hostMiB * 9 {
                return DoctorFinding(.warn, text + " (over 90 %)", hint: "lower memoryMiB of the nodes in lab.json if the host starts swapping")
            }
            return DoctorFinding(.pass, text)
        }
    }

    static func gib(_ bytes: UInt64) -> String {
        String(format: "%.1f GiB", Double(bytes) / 1_073_741_824)
    }
}
