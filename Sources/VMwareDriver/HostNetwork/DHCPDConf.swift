import Foundation
import LabKit

/// VMware's vmnet-dhcpd configuration (`vmnet8/dhcpd/dhcpd.conf` on Linux,
/// `vmnet8/dhcpd.conf` on Fusion), ISC dhcpd syntax; the generated layout and
/// the reservation `host` blocks are those of Packer's testdata/dhcpd-example.conf (docs/vmware-driver.md, "Host network files").
public struct DHCPDConf: Sendable, Hashable {
    /// A `host` block: `hardware ethernet` and `fixed-address`.
    public struct Host: Sendable, Hashable {
        public var name: String
        public var mac: MACAddress?
        public var address: IPv4Address?
        public var line: Int
    }

    public var subnet: IPv4Address?
    public var netmask: IPv4Address?
    public var range: IPv4Range?
    public var routers: String?
    public var domainNameServers: String?
    public var hosts: [Host]
    /// The `# Written at:` stamp, kept when nothing else changes so a re-apply is a no-op.
    public var writtenAt: String?
    /// Whether VMware's "DO NOT MODIFY SECTION" markers are present.
    public var hasGeneratedSection: Bool

    public static let startMarker = "###### VMNET DHCP Configuration. Start of \"DO NOT MODIFY SECTION\" #####"
    public static let endMarker = "####### VMNET DHCP Configuration. End of \"DO NOT MODIFY SECTION\" #######"

    struct Token { var text: String; var line: Int; var quoted: Bool }

    static func tokenize(_ text: String, file: String) throws -> [Token] {
        var tokens: [Token] = []
        for (i, raw) in ConfigText.lines(text).enumerated() {
            let n = i + 1
            var word = ""
            var inQuotes = false
            func flush() { if !word.isEmpty { tokens.append(Token(text: word, line: n, quoted: false)); word = "" } }
            for c in raw {
                if inQuotes {
                    if c == "\"" { tokens.append(Token(text: word, line: n, quoted: true)); word = ""; inQuotes = false } else { word.append(c) }
                    continue
                }
                if c == "#" { break }
                if c == "\"" { flush(); inQuotes = true; continue }
                if c == " " || c == "\t" { flush(); continue }
                if c == "{" || c == "}" || c == ";" || c == "," {
                    flush()
                    tokens.append(Token(text: String(c), line: n, quoted: false))
                    continue
                }
                word.append(c)
            }
            if inQuotes { throw ConfigText.error("a quoted string is not closed on this line", file: file, line: n) }
            flush()
        }
        return tokens
    }

    public static func parse(_ text: String, file: String) throws -> DHCPDConf {
        let tokens = try tokenize(text, file: file)
        var conf = DHCPDConf(hosts: [], hasGeneratedSection: text.contains(startMarker) && text.contains(endMarker))
        conf.writtenAt = ConfigText.lines(text).first { $0.hasPrefix("# Written at: ") }.map { String($0.dropFirst("# Written at: ".count)) }
        // Blocks open with `{` after their header words; the stack keeps header and line.
        var stack: [(header: [Token], line: Int)] = []
        var statement: [Token] = []
        var host: Host?

        func handle(_ words: [Token]) throws {
            guard let first = words.first else { return }
            let w = words.filter { $0.text != "," }.map(\.text)
            let inHost = stack.last?.header.first?.text == "host"
            let inSubnet = stack.last?.header.first?.text == "subnet"
            func address(_ t: Token) throws -> IPv4Address {
                guard let a = IPv4Address(t.text) else {
                    throw ConfigText.error("\"\(t.text)\" is not an IPv4 address", file: file, line: t.line)
                }
                return a
            }
            if inHost, w.count == 3, w[0] == "hardware", w[1] == "ethernet" {
                guard let mac = MACAddress(w[2]) else {
                    throw ConfigText.error("\"\(w[2])\" is not a MAC address", file: file, line: first.line)
                }
                host?.mac = mac
            } else if inHost, w.count == 2, w[0] == "fixed-address" {
                host?.address = try address(words[1])
            } else if inSubnet, w.count == 3, w[0] == "range" {
                conf.range = IPv4Range(try address(words[1]), try address(words[2]))
            } else if inSubnet, w.count >= 3, w[0] == "option", w[1] == "routers" {
                conf.routers = w.dropFirst(2).joined(separator: ", ")
            } else if inSubnet, w.count >= 3, w[0] == "option", w[1] == "domain-name-servers" {
                conf.domainNameServers = w.dropFirst(2).joined(separator: ", ")
            }
        }

        for t in tokens {
            switch t.quoted ? "" : t.text {
            case ";":
                try handle(statement)
                statement = []
            case "{":
                guard let head = statement.first else {
                    throw ConfigText.error("\"{\" without a declaration before it", file: file, line: t.line)
                }
                if head.text == "subnet" {
                    guard statement.count == 4, statement[2].text == "netmask",
                          let s = IPv4Address(statement[1].text), let m = IPv4Address(statement[3].text) else {
                        throw ConfigText.error("expected \"subnet <address> netmask <mask> {\"", file: file, line: head.line)
                    }
                    conf.subnet = s
                    conf.netmask = m
                } else if head.text == "host" {
                    guard statement.count == 2 else {
                        throw ConfigText.error("expected \"host <name> {\"", file: file, line: head.line)
                    }
                    host = Host(name: statement[1].text, mac: nil, address: nil, line: head.line)
                }
                stack.append((statement, head.line))
                statement = []
            case "}":
                guard statement.isEmpty else {
                    throw ConfigText.error("missing \";\" after \"\(statement.map(\.text).joined(separator: " "))\"", file: file, line: statement[0].line)
                }
                guard let open = stack.popLast() else {
                    throw ConfigText.error("\"}\" without a matching \"{\"", file: file, line: t.line)
                }
                if open.header.first?.text == "host", let h = host {
                    conf.hosts.append(h)
                    host = nil
                }
            default:
                statement.append(t)
            }
        }
        if let open = stack.last {
            throw ConfigText.error("\"\(open.header.map(\.text).joined(separator: " ")) {\" is never closed with \"}\"", file: file, line: open.line)
        }
        if let dangling = statement.first {
            throw ConfigText.error("missing \";\" after \"\(statement.map(\.text).joined(separator: " "))\"", file: file, line: dangling.line)
        }
        return conf
    }

    /// VMware's generated file (PKR testdata/dhcpd-example.conf) with the lab's values, followed by
    /// one reservation `host` block per node below the end marker: VMware's header
    /// says edits inside the marked section make it back the file up and regenerate it.
    static let template = """
        # Configuration file for ISC 2.0 vmnet-dhcpd operating on {{vmnet}}.
        # This file was automatically generated by the VMware configuration program.
        # See Instructions below if you want to modify it.
        # We set domain-name-servers to make some DHCP clients happy
        # (dhclient as configured in SuSE, TurboLinux, etc.).
        # We also supply a domain name to make pump (Red Hat 6.x) happy.
        {{startMarker}}
        # Modification Instructions: This section of the configuration file contains
        # information generated by the configuration program. Do not modify this
        # section.
        # You are free to modify everything else. Also, this section must start
        # on a new line
        # This file will get backed up with a different name in the same directory
        # if this section is edited and you try to configure DHCP again.

        # Written at: {{writtenAt}}
        allow unknown-clients;
        default-lease-time 1800;                # default is 30 minutes
        max-lease-time 7200;                    # default is 2 hours
        subnet {{subnet}} netmask {{netmask}} {
        \trange {{rangeStart}} {{rangeEnd}};
        \toption broadcast-address {{broadcast}};
        \toption domain-name-servers {{gateway}};
        \toption domain-name localdomain;
        \tdefault-lease-time 1800;
        \tmax-lease-time 7200;
        \toption netbios-name-servers {{gateway}};
        \toption routers {{gateway}};
        }
        host {{vmnet}} {
        \thardware ethernet {{hostMAC}};
        \tfixed-address {{hostAddress}};
        \toption domain-name-servers 0.0.0.0;
        \toption domain-name "";
        \toption routers 0.0.0.0;
        }
        {{endMarker}}
        {{#reservations}}
        host {{name}} {
        \thardware ethernet {{mac}};
        \tfixed-address {{address}};
        }
        {{/reservations}}

        """

    /// `MM/dd/yyyy HH:mm:ss` as VMware writes it; labctl writes UTC.
    static func writtenAt(_ date: Date) -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = "MM/dd/yyyy HH:mm:ss"
        return f.string(from: date)
    }

    public static func render(_ plan: HostNetworkPlan, writtenAt date: Date) throws -> String {
        try render(plan, stamp: writtenAt(date))
    }

    static func render(_ plan: HostNetworkPlan, stamp: String) throws -> String {
        try TemplateText.render(template, [
            "vmnet": plan.vmnet, "startMarker": startMarker, "endMarker": endMarker, "writtenAt": stamp,
            "subnet": plan.subnet.network.description, "netmask": plan.netmask.description,
            "rangeStart": plan.dhcp.lower.description, "rangeEnd": plan.dhcp.upper.description,
            "broadcast": plan.broadcast.description, "gateway": plan.gateway.description,
            "hostMAC": plan.hostMAC, "hostAddress": plan.hostAddress.description,
            "reservations": plan.reservations.map { ["name": $0.name, "mac": $0.macText, "address": $0.address.description] },
        ], name: "dhcpd.conf")
    }
}
