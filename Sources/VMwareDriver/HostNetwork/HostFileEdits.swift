import Foundation
import LabKit

// `labctl net apply` edits VMware's existing nat.conf and dhcpd.conf in place: it changes the
// settings the lab owns and writes every other line back byte for byte (comments, order,
// CRLF, sections and keys of other VMware versions such as `[netbios]`, `natIp6Prefix`,
// `hostIp`, `useMacosVmnetVirtApi`, `[dns]`). docs/vmware-driver.md lists what it owns.

extension NATConf {
    /// The `[host]` keys the lab owns, with the plan's values. `hostIp` (Workstation 16+/Fusion 12+,
    /// the host adapter's address) is owned only where VMware wrote it.
    /// Windows writes the mask as a prefix on `ip` (`192.168.79.2/24`) and no `netmask` key
    /// (vagrant-vmware-desktop `corrupted_nat_conf`); that form is kept.
    static func ownedHostKeys(_ plan: HostNetworkPlan, prefixForm: Bool) -> [(key: String, value: String, addIfMissing: Bool)] {
        [("ip", prefixForm ? "\(plan.gateway)/\(plan.subnet.prefixLength)" : plan.gateway.description, true),
         ("netmask", plan.netmask.description, !prefixForm),
         ("hostIp", plan.hostAddress.description, false)]
    }

    /// `text` with the lab's `[host]` settings set and everything else unchanged. A file without a
    /// `[host]` section is not VMware's layout: it is replaced by the rendered file (port forwards kept).
    public static func edit(_ text: String, plan: HostNetworkPlan, os: VMwareHostOS, file: String) throws -> String {
        let current = try parse(text, file: file)
        var raw = RawLines(text)
        func section(of line: String) -> String? {
            let t = ConfigText.stripComment(line)
            return t.hasPrefix("[") && t.hasSuffix("]") ? String(t.dropFirst().dropLast()) : nil
        }
        guard let hostStart = raw.lines.firstIndex(where: { section(of: $0.content) == "host" }) else {
            return try render(plan, os: os, keeping: current)
        }
        let hostEnd = raw.lines[(hostStart + 1)...].firstIndex { section(of: $0.content) != nil } ?? raw.lines.count
        var lastKey = hostStart
        var missing: [(String, String)] = []
        let prefixForm = current.value("host", "ip")?.contains("/") == true
        for owned in ownedHostKeys(plan, prefixForm: prefixForm) {
            let index = raw.lines[(hostStart + 1)..<hostEnd].firstIndex { line in
                let t = ConfigText.stripComment(line.content)
                return t.split(separator: "=", maxSplits: 1).first.map { $0.trimmingCharacters(in: .whitespaces) } == owned.key
            }
            guard let index else {
                if owned.addIfMissing { missing.append((owned.key, owned.value)) }
                continue
            }
            lastKey = max(lastKey, index)
            raw.lines[index].content = replacingValue(in: raw.lines[index].content, with: owned.value)
        }
        if let last = raw.lines[(hostStart + 1)..<hostEnd].lastIndex(where: { !ConfigText.stripComment($0.content).isEmpty }) {
            lastKey = max(lastKey, last)
        }
        for (offset, (key, value)) in missing.enumerated() {
            raw.insert("\(key) = \(value)", at: lastKey + 1 + offset)
        }
        return raw.text
    }

    /// `ip = 10.0.0.2   # comment` -> `ip = <new>   # comment`; an equal value leaves the line as it was.
    static func replacingValue(in line: String, with value: String) -> String {
        guard let eq = line.firstIndex(of: "=") else { return line }
        let afterEq = line[line.index(after: eq)...]
        let leading = afterEq.prefix { $0 == " " || $0 == "\t" }
        let rest = afterEq.dropFirst(leading.count)
        let oldValue = rest.prefix { $0 != " " && $0 != "\t" && $0 != "#" }
        if oldValue == value { return line }
        return String(line[...eq]) + leading + value + rest.dropFirst(oldValue.count)
    }
}

extension DHCPDConf {
    /// `text` with the lab's parts set and the rest unchanged. The lab owns, in VMware's subnet
    /// block, the subnet/netmask header, `range`, `option broadcast-address`, `option routers`,
    /// `option domain-name-servers` and `option netbios-name-servers`; in the `host <vmnet>` block,
    /// `hardware ethernet` and `fixed-address`; and the reservation `host` blocks of its nodes (by
    /// name or MAC), which it writes at the end of the file, below VMware's "DO NOT MODIFY" section.
    /// A file without a subnet block is replaced by the rendered file.
    public static func edit(_ text: String, plan: HostNetworkPlan, writtenAt date: Date, file: String) throws -> String {
        _ = try parse(text, file: file) // refuse a malformed file before changing anything
        var raw = RawLines(text)
        let blocks = topLevelBlocks(raw)
        guard let subnet = blocks.first(where: { $0.words.first == "subnet" }) else {
            return try render(plan, writtenAt: date)
        }
        let gateway = plan.gateway.description
        let statements: [(prefix: [String], value: String)] = [
            (["range"], "\(plan.dhcp.lower) \(plan.dhcp.upper)"),
            (["option", "broadcast-address"], plan.broadcast.description),
            (["option", "domain-name-servers"], gateway),
            (["option", "netbios-name-servers"], gateway),
            (["option", "routers"], gateway),
        ]
        raw.lines[subnet.start].content = replacingStatement(raw.lines[subnet.start].content, words: 4,
                                                             with: "subnet \(plan.subnet.network) netmask \(plan.netmask)")
        for s in statements {
            for i in subnet.start + 1..<subnet.end where statementWords(raw.lines[i].content).starts(with: s.prefix) {
                raw.lines[i].content = replacingStatement(raw.lines[i].content, words: nil, with: (s.prefix + [s.value]).joined(separator: " "))
            }
        }
        if let adapter = blocks.first(where: { $0.words == ["host", plan.vmnet] }) {
            for i in adapter.start + 1..<adapter.end {
                let w = statementWords(raw.lines[i].content)
                if w.starts(with: ["hardware", "ethernet"]) {
                    raw.lines[i].content = replacingStatement(raw.lines[i].content, words: nil, with: "hardware ethernet \(plan.hostMAC)")
                } else if w.first == "fixed-address" {
                    raw.lines[i].content = replacingStatement(raw.lines[i].content, words: nil, with: "fixed-address \(plan.hostAddress)")
                }
            }
        }
        // Drop the lab's reservation blocks wherever they are, then append them as rendered.
        let names = Set(plan.reservations.map(\.name))
        let macs = Set(plan.reservations.map(\.mac))
        let owned = blocks.filter { block in
            guard block.words.count == 2, block.words[0] == "host", block.words[1] != plan.vmnet else { return false }
            if names.contains(block.words[1]) { return true }
            return raw.lines[block.start...block.end].contains { line in
                let w = statementWords(line.content)
                return w.count == 3 && w[0] == "hardware" && w[1] == "ethernet" && MACAddress(w[2]).map(macs.contains) == true
            }
        }
        for block in owned.reversed() { raw.lines.removeSubrange(block.start...block.end) }
        for r in plan.reservations {
            raw.append("host \(r.name) {")
            raw.append("\thardware ethernet \(r.macText);")
            raw.append("\tfixed-address \(r.address);")
            raw.append("}")
        }
        return raw.text
    }

    struct Block { var words: [String]; var start: Int; var end: Int }

    /// Top-level `word ... {` blocks with the line of their header and of their closing `}`.
    static func topLevelBlocks(_ raw: RawLines) -> [Block] {
        var blocks: [Block] = []
        var depth = 0
        var open: (words: [String], start: Int)?
        for (i, line) in raw.lines.enumerated() {
            let code = ConfigText.stripComment(line.content)
            for c in code {
                if c == "{" {
                    if depth == 0 {
                        let header = code[..<(code.firstIndex(of: "{") ?? code.endIndex)]
                        open = (header.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init), i)
                    }
                    depth += 1
                } else if c == "}" {
                    depth -= 1
                    if depth == 0, let o = open { blocks.append(Block(words: o.words, start: o.start, end: i)); open = nil }
                }
            }
        }
        return blocks
    }

    /// The words of a statement line, without its comment and `;`.
    static func statementWords(_ line: String) -> [String] {
        ConfigText.stripComment(line).replacingOccurrences(of: ";", with: " ").replacingOccurrences(of: ",", with: " ")
            .split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
    }

    /// Replaces the statement on a line, keeping its indentation, its terminator and any comment
    /// after it; an unchanged statement leaves the line as it was. `words` limits a header
    /// (`subnet a netmask m {`) to its first words.
    static func replacingStatement(_ line: String, words: Int?, with statement: String) -> String {
        let indent = line.prefix { $0 == " " || $0 == "\t" }
        let body = line.dropFirst(indent.count)
        let end: String.Index
        if let words {
            var index = body.startIndex
            for _ in 0..<words {
                index = body[index...].drop { $0 == " " || $0 == "\t" }.startIndex
                index = body[index...].firstIndex { $0 == " " || $0 == "\t" || $0 == "{" } ?? body.endIndex
            }
            end = index
        } else {
            end = body.firstIndex(of: ";") ?? body.endIndex
        }
        let old = body[..<end].split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "," }).joined(separator: " ")
        if old == statement.split(separator: " ").joined(separator: " ") { return line }
        return String(indent) + statement + body[end...]
    }
}
