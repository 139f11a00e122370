import Foundation
import LabKit

/// vmrun's stdout, normalised and split into lines.
///
/// vmrun prints errors on stdout (GNS3 `__init__.py#_execute`, vagrant#6772), may print
/// log noise before the `Error:` line (vagrant#6216), and uses CRLF on Windows
/// (VVD `base.rb#vmexec`); docs/vmware-driver.md, "Errors".
public struct VmrunOutput: Sendable, Hashable {
    public var lines: [String]

    public init(_ text: String) {
        let normalised = text.replacingOccurrences(of: "\r\n", with: "\n").replacingOccurrences(of: "\r", with: "\n")
        lines = normalised.components(separatedBy: "\n")
        while let last = lines.last, last.trimmingCharacters(in: .whitespaces).isEmpty { lines.removeLast() }
    }

    public init(_ data: Data) { self.init(String(decoding: data, as: UTF8.self)) }

    /// The message of the first `Error: ` line anywhere in the output, without the prefix.
    public var errorMessage: String? {
        for line in lines {
            let t = line.trimmingCharacters(in: .whitespaces)
            if t.hasPrefix("Error:") { return t.dropFirst("Error:".count).trimmingCharacters(in: .whitespaces) }
            // runProgramInGuest reports a guest failure without the prefix (VMLAB).
            if t.hasPrefix("Guest program exited with non-zero exit code") { return t }
        }
        return nil
    }

    /// Lines that are neither headers nor errors, trimmed, non-empty.
    public var contentLines: [String] {
        lines.map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    /// `vmrun list`: `Total running VMs: N` then N absolute .vmx paths. Lines before the header are noise.
    public func runningVMs(command: [String]) throws -> [String] {
        guard let (index, count) = header("Total running VMs:") else {
            throw LabError(.commandFailed, "unexpected output from vmrun list: no \"Total running VMs:\" line", location: .command(command),
                           detail: String(lines.joined(separator: "\n").prefix(300)))
        }
        let paths = lines[(index + 1)...].map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        // Trust the lines, not the count: a VM can stop between the header and the list [I].
        _ = count
        return paths
    }

    /// `vmrun listSnapshots [showTree]`: `Total snapshots: N` then names; in tree mode a child is
    /// indented with one tab per level (VVD `base.rb#snapshot_tree`; the exact real output is unverified: docs/vmware-driver.md, "Known gaps").
    public func snapshotNames(command: [String]) throws -> [(name: String, depth: Int)] {
        guard let (index, _) = header("Total snapshots:") else {
            throw LabError(.commandFailed, "unexpected output from vmrun listSnapshots: no \"Total snapshots:\" line", location: .command(command),
                           detail: String(lines.joined(separator: "\n").prefix(300)))
        }
        return lines[(index + 1)...].compactMap { line in
            let depth = line.prefix { $0 == "\t" }.count
            let name = String(line.dropFirst(depth))
            return name.trimmingCharacters(in: .whitespaces).isEmpty ? nil : (name, depth)
        }
    }

    /// `getGuestIPAddress`: one line with the address; `unknown` means none yet (MECH).
    public var ipAddress: IPv4Address? {
        guard let last = contentLines.last, last.lowercased() != "unknown" else { return nil }
        return IPv4Address(last)
    }

    /// `checkToolsState`: `unknown`, `installed` or `running`.
    public var toolsState: ToolsState? {
        contentLines.reversed().lazy.compactMap { ToolsState(rawValue: $0.lowercased()) }.first
    }

    private func header(_ prefix: String) -> (Int, Int)? {
        for (i, line) in lines.enumerated() {
            let t = line.trimmingCharacters(in: .whitespaces)
            if t.hasPrefix(prefix) {
                let n = Int(t.dropFirst(prefix.count).trimmingCharacters(in: .whitespaces)) ?? 0
                return (i, n)
            }
        }
        return nil
    }
}

/// A vmrun failure, typed by the catalogue in docs/vmware-driver.md ("Deadlines, retries and serialisation", "Errors").
public struct VmrunError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Kind: String, Sendable, Hashable, CaseIterable {
        /// `The virtual machine is not powered on` (packer#1300; VIX 3006).
        case notPoweredOn
        /// `The VMware Tools are not running in the virtual machine` (vagrant#11528; VIX 3016).
        case toolsNotRunning
        /// `Cannot open VM: <vmx>, The virtual machine cannot be found` (VMLAB; VIX 4000).
        case vmNotFound
        /// `Cannot open VM: <vmx>, Cannot read the virtual machine configuration file` and other `Cannot open VM` (bosh-lite#257; VIX 4002).
        case cannotOpenVM
        /// `The file is already in use` (vagrant#6772; VIX 15).
        case fileInUse
        /// `One of the parameters was invalid` (vagrant#6710; VIX 3).
        case invalidParameters
        /// `The name does not uniquely identify one snapshot` (vagrant-vmware-desktop PR#43; VIX 13017).
        case ambiguousSnapshotName
        /// `Invalid snapshot name` (VMLAB; VIX 13003 family).
        case invalidSnapshotName
        /// `The operation was canceled` (vagrant#6216; VIX 10): the reason is in vmware.log.
        case operationCancelled
        /// `Invalid user name or password for the guest OS` (VMLAB).
        case guestCredentials
        /// `A file was not found` (VMLAB; VIX 4).
        case fileNotFound
        /// `The operation is not supported [for the specified parameters]` (VIX_E_NOT_SUPPORTED 6): vmrun
        /// run with a product it does not have, e.g. `-T player` snapshot (GOAD#108), `-T player` on Fusion
        /// (vagrant-vmware-desktop#78), or Workstation unreachable (gns3-server#1008); and the
        /// `VIX_SERVICEPROVIDER_VMWARE_WORKSTATION` host-type errors (gns3-server `__init__.py#execute`).
        case notSupported
        /// Only the word `unknown` and a non-zero exit: `checkToolsState` before the guest reports
        /// (gns3-server#1901).
        case reportedUnknown
        /// `Unknown error` or any message not in the catalogue (PKR runAndLog: see vmware.log).
        case unknown
    }

    public var kind: Kind
    /// The text after `Error: `, or a summary when vmrun printed none.
    public var message: String
    /// The argv that ran: the real vmrun path, `-T <product>`, the host's form of the VMX path.
    public var argv: [String]
    public var exitStatus: Int32
    /// The VM the command was about, for the vmware.log pointer.
    public var vmx: String?
    /// `Msg_Post: Error` lines from vmware.log, when it could be read (operation cancelled).
    public var vmwareLogExcerpt: [String]

    public init(kind: Kind, message: String, argv: [String], exitStatus: Int32, vmx: String? = nil, vmwareLogExcerpt: [String] = []) {
        self.kind = kind
        self.message = message
        self.argv = argv
        self.exitStatus = exitStatus
        self.vmx = vmx
        self.vmwareLogExcerpt = vmwareLogExcerpt
    }

    /// Classifies an error message from the catalogue.
    public static func classify(_ message: String) -> Kind {
        let m = message.lowercased()
        if m.trimmingCharacters(in: .whitespaces) == "unknown" { return .reportedUnknown }
        if m.contains("is not powered on") { return .notPoweredOn }
        if m.contains("tools are not running") { return .toolsNotRunning }
        if m.hasPrefix("cannot open vm") {
            return m.contains("cannot be found") ? .vmNotFound : .cannotOpenVM
        }
        if m.contains("already in use") { return .fileInUse }
        if m.contains("parameters was invalid") { return .invalidParameters }
        if m.contains("does not uniquely identify") { return .ambiguousSnapshotName }
        if m.contains("invalid snapshot name") { return .invalidSnapshotName }
        if m.contains("operation was canceled") || m.contains("operation was cancelled") { return .operationCancelled }
        if m.contains("invalid user name or password") { return .guestCredentials }
        if m.contains("a file was not found") { return .fileNotFound }
        if m.contains("operation is not supported") || m.contains("vix_serviceprovider") { return .notSupported }
        return .unknown
    }

    /// Errors worth another try for an idempotent command: only those a retry can fix.
    ///
    /// `The file is already in use` (VIX_E_FILE_ALREADY_LOCKED) clears when VMware releases the VM's
    /// file handles, which it does a few seconds after a power-off or a closed UI tab (Packer waits for
    /// the `.lck` files and sleeps after shutdown for that reason). Everything else is a state or a
    /// configuration that a second identical call meets again: a missing VM, a bad snapshot name, a
    /// product vmrun does not have, "Tools not running" (a state the caller polls with its own
    /// deadline), a cancelled operation (a dialog or error in vmware.log, VVD `vmexec` stops there
    /// too), and any message labctl does not know, including `Unknown error`: retrying those only
    /// triples the wait before the user sees the message. Vagrant retries every failure (VVD
    /// `base.rb#vmexec`); labctl does not. The table is in docs/vmware-driver.md.
    public var isTransient: Bool { kind == .fileInUse }

    public var vmwareLog: String? {
        vmx.map { (($0 as NSString).deletingLastPathComponent as NSString).appendingPathComponent("vmware.log") }
    }

    /// The command as the user could paste it (on WSL2 into the Linux shell that runs vmrun.exe).
    public var command: String { argv.map(shellQuote).joined(separator: " ") }

    public var description: String { "vmrun failed (\(kind.rawValue)): \(message) [\(command)]" }

    /// The error the user sees, with this error as its typed cause.
    public var labError: LabError {
        let vm = vmx ?? "the VM"
        let location = Location.command(argv)
        switch kind {
        case .notPoweredOn:
            return LabError(.conflict, "the VM is not powered on", location: location, hint: "start it first (labctl up starts every node of the lab)", cause: self, detail: message)
        case .toolsNotRunning:
            return LabError(.conflict, "VMware Tools are not running in the guest", location: location,
                            hint: "wait for the guest to boot; make sure open-vm-tools is installed and running in the base image", cause: self, detail: message)
        case .vmNotFound:
            return LabError(.notFound, "VMware cannot find the VM", location: location, hint: "check that \(vm) exists and is readable by your user", cause: self, detail: message)
        case .cannotOpenVM:
            return LabError(.commandFailed, "VMware cannot open the VM", location: location,
                            hint: "check that \(vm) is a valid VMX file and readable; see \(vmwareLog ?? "vmware.log")", cause: self, detail: message)
        case .fileInUse:
            return LabError(.conflict, "the VM's files are in use", location: location,
                            hint: "close the VM's tab in the VMware UI, or wait for another operation on it to finish", cause: self, detail: message)
        case .invalidParameters:
            return LabError(.commandFailed, "vmrun rejected its parameters", location: location,
                            hint: "for a linked clone the source needs a snapshot; check the snapshot name in lab.json", cause: self, detail: message)
        case .ambiguousSnapshotName:
            return LabError(.conflict, "more than one snapshot has this name", location: location,
                            hint: "labctl snapshot list shows the uids; act on one by uid, or rename the duplicates in VMware", cause: self, detail: message)
        case .invalidSnapshotName:
            return LabError(.notFound, "no snapshot has this name", location: location, hint: "list the VM's snapshots with labctl snapshot list", cause: self, detail: message)
        case .operationCancelled:
            var cause = message
            if !vmwareLogExcerpt.isEmpty { cause += "; vmware.log says: " + vmwareLogExcerpt.joined(separator: " / ") }
            return LabError(.commandFailed, "VMware cancelled the operation", location: location,
                            hint: "VMware usually cancels because of a dialog or an error in the VM; read \(vmwareLog ?? "the VM's vmware.log") (look for Msg_Post)",
                            cause: self, detail: cause)
        case .guestCredentials:
            return LabError(.security, "the guest rejected the user name or password", location: location, cause: self, detail: message)
        case .fileNotFound:
            return LabError(.notFound, "a file was not found", location: location, cause: self, detail: message)
        case .notSupported:
            // GNS3 retries with -T player when -T ws fails with this provider name (gns3-server __init__.py#execute).
            if message.contains("VIX_SERVICEPROVIDER_VMWARE_WORKSTATION") {
                return LabError(.unsupported, "vmrun cannot use VMware Workstation Pro here", location: location,
                                hint: "this host may run Workstation Player or a standard licence: set vmware.product to \"player\" in lab.json (no linked clones or snapshots)",
                                cause: self, detail: message)
            }
            return LabError(.unsupported, "vmrun does not support this operation with vmware.product set to its current value", location: location,
                            hint: "check vmware.product in lab.json: \"ws\" for Workstation Pro, \"fusion\" for Fusion, \"player\" for Workstation Player (which has no snapshots or linked clones); labctl did not retry",
                            cause: self, detail: message)
        case .reportedUnknown, .unknown:
            return LabError(.commandFailed, "vmrun failed", location: location,
                            hint: "see \(vmwareLog ?? "the VM's vmware.log") for the reason", cause: self, detail: message)
        }
    }
}

/// Reads the cause of a cancelled operation from vmware.log, as Vagrant does
/// (VVD `base.rb#raise_canceled_error!`): the lines after the last `Msg_Post: Error`
/// up to the `-----` separator, without their timestamp prefix.
///
/// Two line formats exist. Up to Workstation 16.1 / Fusion 12.1:
/// `2015-08-31T17:57:29.547Z| vmx| I125: [msg.x] text` (vmware/vic#6825 quotes such lines).
/// From Workstation 16.2 / Fusion 12.2: `2022-01-19T11:00:49.994Z In(05) vmx [msg.x] text`,
/// a two-letter level with its number in brackets instead of `| I125:` (a Fusion 12.2 user's
/// vmware.log line, see Tests/VMwareDriverTests/Fixtures/driver/SOURCES.md).
public enum VMwareLog {
    public static func messagePostErrors(logPath: String, maxLines: Int = 10) -> [String] {
        guard let data = FileManager.default.contents(atPath: logPath) else { return [] }
        return messagePostErrors(text: String(decoding: data.suffix(1 << 20), as: UTF8.self), maxLines: maxLines)
    }

    public static func messagePostErrors(text: String, maxLines: Int = 10) -> [String] {
        let lines = text.replacingOccurrences(of: "\r\n", with: "\n").components(separatedBy: "\n").map(stripPrefix)
        guard let start = lines.lastIndex(where: { $0.hasPrefix("Msg_Post: Error") }) else { return [] }
        var out: [String] = []
        for message in lines[(start + 1)...] {
            if message.hasPrefix("---") { break }
            if !message.isEmpty { out.append(message) }
            if out.count >= maxLines { break }
        }
        return out
    }

    /// The message part of a log line in either format; a line in neither format is returned trimmed.
    static func stripPrefix(_ line: String) -> String {
        let t = line.trimmingCharacters(in: .whitespaces)
        // Both formats start with an ISO 8601 time stamp: `2024-01-01T10:00:00.000Z` or `...+02:00`.
        guard let space = t.firstIndex(where: { $0 == " " || $0 == "|" }),
              t[..<space].count >= 19, t[..<space].contains("T"), t.first?.isNumber == true else { return t }
        var rest = t[space...]
        if rest.hasPrefix("|") {
            // Old: `| <thread>| <level>: <message>`.
            rest = rest.dropFirst()
            guard let bar = rest.firstIndex(of: "|") else { return t }
            rest = rest[rest.index(after: bar)...].drop { $0 == " " }
            if let colon = rest.firstIndex(of: ":"), rest[..<colon].count <= 5,
               rest[..<colon].allSatisfy({ $0.isLetter || $0.isNumber }) {
                rest = rest[rest.index(after: colon)...]
            }
            return rest.trimmingCharacters(in: .whitespaces)
        }
        // New: ` <Lv>(<nn>) <thread> <message>`.
        let words = rest.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: true)
        guard words.count >= 2, let level = words.first, level.hasSuffix(")"), level.contains("(") else { return t }
        return words.count == 3 ? String(words[2]).trimmingCharacters(in: .whitespaces) : ""
    }
}
