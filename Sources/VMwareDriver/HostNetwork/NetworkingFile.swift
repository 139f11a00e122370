import Foundation
import LabKit

/// VMware's `networking` answers file (Linux `/etc/vmware/networking`, Fusion
/// `/Library/Preferences/VMware Fusion/networking`), format per docs/vmware-driver.md, "Host network files"
/// (Packer `driver_parser.go`, Vagrant utility `networking_file.go`).
///
/// The file holds every vmnet, so labctl edits it line by line: it changes only
/// the lab's vmnet answers and DHCP reservations and keeps everything else.
public struct NetworkingFile: Sendable, Hashable {
    public enum Line: Sendable, Hashable {
        case version(String)
        case answer(key: String, value: String)
        /// `add_nat_portfwd 8 tcp 2222 172.16.41.129 22`, `add_dhcp_mac_to_ip 8 <MAC> <IP>`, ...
        case command(name: String, arguments: [String])
        /// A comment or blank line, kept as written.
        case other(String)

        var text: String {
            switch self {
            case .version(let v): return "VERSION=\(v)"
            case .answer(let k, let v): return v.isEmpty ? "answer \(k)" : "answer \(k) \(v)"
            case .command(let n, let a): return ([n] + a).joined(separator: " ")
            case .other(let t): return t
            }
        }
    }

    public private(set) var lines: [Line]
    /// Each line as read (its bytes and line break), nil for a line labctl added or changed.
    private var originals: [RawLines.Line?]
    /// The line break for new lines: the file's own.
    private var newline = "\n"

    public init(lines: [Line]) {
        self.lines = lines
        originals = Array(repeating: nil, count: lines.count)
    }

    /// A directive word: VMware's are `answer`, `add_*`/`remove_*` (VVD vmware_paths_linux.go, PKR testdata), and a
    /// later version may add others, which are kept as they are. Anything else (a merge
    /// conflict marker, a truncated line) is not a directive.
    static func isDirective(_ word: String) -> Bool {
        guard let first = word.unicodeScalars.first, CharacterSet.letters.contains(first) else { return false }
        return word.unicodeScalars.allSatisfy { $0.isASCII && (CharacterSet.alphanumerics.contains($0) || $0 == "_") }
    }

    public static func parse(_ text: String, file: String) throws -> NetworkingFile {
        var lines: [Line] = []
        let raw = RawLines(text)
        for (i, rawLine) in raw.lines.enumerated() {
            let n = i + 1
            let trimmed = rawLine.content.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty || trimmed.hasPrefix("#") {
                lines.append(.other(rawLine.content))
                continue
            }
            if trimmed.hasPrefix("VERSION=") {
                lines.append(.version(String(trimmed.dropFirst("VERSION=".count))))
                continue
            }
            let words = trimmed.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            let head = words[0]
            if head == "answer" {
                // Any key is kept: VNET_<n>_* and global ones such as VNL_DEFAULT_BRIDGE_VNET.
                guard words.count >= 2, isDirective(words[1]) else {
                    throw ConfigText.error("an answer line needs a key (answer <KEY> <value>)", file: file, line: n)
                }
                lines.append(.answer(key: words[1], value: words.dropFirst(2).joined(separator: " ")))
            } else if isDirective(head) {
                let args = Array(words.dropFirst())
                if head == "add_dhcp_mac_to_ip" || head == "remove_dhcp_mac_to_ip" {
                    guard args.count == 3, Int(args[0]) != nil, MACAddress(args[1]) != nil, IPv4Address(args[2]) != nil else {
                        throw ConfigText.error("\(head) needs <vnet> <MAC> <IPv4 address>, got \"\(args.joined(separator: " "))\"", file: file, line: n)
                    }
                }
                lines.append(.command(name: head, arguments: args))
            } else {
                throw ConfigText.error("unknown directive \"\(head)\" in VMware's networking file", file: file, line: n)
            }
        }
        var parsed = NetworkingFile(lines: lines)
        parsed.originals = raw.lines
        parsed.newline = raw.newline
        return parsed
    }

    public func answer(_ key: String) -> String? {
        for case .answer(let k, let v) in lines where k == key { return v }
        return nil
    }

    /// The `add_dhcp_mac_to_ip` reservations for one vnet.
    public func reservations(vnet: Int) -> [(mac: MACAddress, address: IPv4Address)] {
        lines.compactMap { line in
            guard case .command("add_dhcp_mac_to_ip", let a) = line, a.count == 3, Int(a[0]) == vnet,
                  let mac = MACAddress(a[1]), let ip = IPv4Address(a[2]) else { return nil }
            return (mac, ip)
        }
    }

    /// The answers labctl owns for the lab's vnet, in VMware's (sorted) order.
    static func managedAnswers(_ plan: HostNetworkPlan) -> [(String, String)] {
        let p = "VNET_\(plan.vnetNumber)_"
        return [
            (p + "DHCP", "yes"),
            (p + "HOSTONLY_NETMASK", plan.netmask.description),
            (p + "HOSTONLY_SUBNET", plan.subnet.network.description),
            (p + "NAT", "yes"),
            (p + "VIRTUAL_ADAPTER", "yes"),
        ]
    }

    static func reservationLines(_ plan: HostNetworkPlan) -> [Line] {
        plan.reservations.map { .command(name: "add_dhcp_mac_to_ip", arguments: ["\(plan.vnetNumber)", $0.macText, $0.address.description]) }
    }

    /// A file with only the lab's vnet, as `labctl net show` prints it.
    public static func fresh(_ plan: HostNetworkPlan) -> NetworkingFile {
        NetworkingFile(lines: [.version("1,0")] + managedAnswers(plan).map { .answer(key: $0.0, value: $0.1) } + reservationLines(plan))
    }

    /// This file with the lab's vnet answers set and its DHCP reservations replaced;
    /// every other line (other vnets, port forwards, `DHCP_CFG_HASH`) is kept.
    public func merging(_ plan: HostNetworkPlan) -> NetworkingFile {
        let managed = NetworkingFile.managedAnswers(plan)
        let keys = Set(managed.map(\.0))
        var seen: Set<String> = []
        var out: [Line] = []
        var kept: [RawLines.Line?] = []
        for (line, original) in zip(lines, originals) {
            switch line {
            case .answer(let k, let old) where keys.contains(k):
                guard !seen.contains(k), let value = managed.first(where: { $0.0 == k })?.1 else { continue }
                seen.insert(k)
                out.append(.answer(key: k, value: value))
                kept.append(old == value ? original : nil)
            case .command(let name, let a) where (name == "add_dhcp_mac_to_ip" || name == "remove_dhcp_mac_to_ip") && Int(a.first ?? "") == plan.vnetNumber:
                continue
            default:
                out.append(line)
                kept.append(original)
            }
        }
        // Missing answers go into the vnet's block in key order, as VMware sorts them.
        let prefix = "VNET_\(plan.vnetNumber)_"
        func answerKey(_ line: Line) -> String? { if case .answer(let k, _) = line { return k } else { return nil } }
        for (key, value) in managed where !seen.contains(key) {
            let line = Line.answer(key: key, value: value)
            if let next = out.firstIndex(where: { answerKey($0).map { $0.hasPrefix(prefix) && $0 > key } ?? false }) {
                out.insert(line, at: next)
                kept.insert(nil, at: next)
            } else if let at = out.lastIndex(where: { answerKey($0)?.hasPrefix(prefix) ?? false })
                        ?? out.lastIndex(where: { answerKey($0) != nil })
                        ?? out.lastIndex(where: { if case .version = $0 { return true } else { return false } }) {
                out.insert(line, at: at + 1)
                kept.insert(nil, at: at + 1)
            } else {
                out.insert(contentsOf: [.version("1,0"), line], at: 0)
                kept.insert(contentsOf: [nil, nil], at: 0)
            }
        }
        let reservations = NetworkingFile.reservationLines(plan)
        out.append(contentsOf: reservations)
        kept.append(contentsOf: reservations.map { _ in nil })
        var merged = NetworkingFile(lines: out)
        merged.originals = kept
        merged.newline = newline
        return merged
    }

    /// The file: lines labctl did not change exactly as read, the others in VMware's form.
    public func render() throws -> String {
        var out: [RawLines.Line] = []
        for (line, original) in zip(lines, originals) {
            // A kept last line without a break gets one when a line follows it.
            if let last = out.indices.last, out[last].ending.isEmpty { out[last].ending = newline }
            out.append(original ?? RawLines.Line(content: line.text, ending: newline))
        }
        return out.map { $0.content + $0.ending }.joined()
    }
}
