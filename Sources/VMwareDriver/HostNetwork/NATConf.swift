import Foundation
import LabKit

/// VMware's NAT daemon configuration (`vmnet8/nat/nat.conf` on Linux,
/// `vmnet8/nat.conf` on Fusion), an INI-like file; layout per docs/vmware-driver.md, "Host network files"
/// (Vagrant utility `nat_file.go` and its `corrupted_nat_conf` fixture).
public struct NATConf: Sendable, Hashable {
    public struct Entry: Sendable, Hashable {
        public var key: String
        public var value: String
        public var line: Int
    }
    public struct Section: Sendable, Hashable {
        public var name: String
        public var entries: [Entry]
    }
    /// A port forward from `[incomingtcp]`/`[incomingudp]`: `hostport = guestip:guestport`.
    public struct PortForward: Sendable, Hashable {
        public var hostPort: String
        public var target: String
    }

    public var sections: [Section]

    public static func parse(_ text: String, file: String) throws -> NATConf {
        var sections: [Section] = []
        for (i, raw) in ConfigText.lines(text).enumerated() {
            let n = i + 1
            let line = ConfigText.stripComment(raw)
            if line.isEmpty { continue }
            if line.hasPrefix("[") {
                guard line.hasSuffix("]"), line.count > 2 else {
                    throw ConfigText.error("a section header must look like [name]", file: file, line: n)
                }
                sections.append(Section(name: String(line.dropFirst().dropLast()), entries: []))
                continue
            }
            guard let eq = line.firstIndex(of: "=") else {
                throw ConfigText.error("expected \"key = value\" or a [section], got \"\(line)\"", file: file, line: n)
            }
            let key = line[..<eq].trimmingCharacters(in: .whitespaces)
            let value = line[line.index(after: eq)...].trimmingCharacters(in: .whitespaces)
            guard !key.isEmpty else { throw ConfigText.error("a key is missing before \"=\"", file: file, line: n) }
            guard !sections.isEmpty else {
                throw ConfigText.error("\"\(key)\" comes before the first [section]", file: file, line: n)
            }
            sections[sections.count - 1].entries.append(Entry(key: key, value: value, line: n))
        }
        return NATConf(sections: sections)
    }

    public func value(_ section: String, _ key: String) -> String? {
        sections.first { $0.name == section }?.entries.first { $0.key == key }?.value
    }

    public func portForwards(_ section: String) -> [PortForward] {
        sections.filter { $0.name == section }.flatMap(\.entries).map { PortForward(hostPort: $0.key, target: $0.value) }
    }

    /// `[host] ip`, which may carry a prefix length on some versions (`x.x.x.2/24`).
    public var gateway: IPv4Address? {
        value("host", "ip").flatMap { IPv4Address(String($0.split(separator: "/").first ?? "")) }
    }

    static let template = """
        [host]
        ip = {{gateway}}
        netmask = {{netmask}}
        device = {{device}}
        activeFTP = 1
        allowAnyOUI = 1
        hostMAC = {{hostMAC}}
        natIp6Enable = 0
        [tcp]
        timeWaitTimeout = 30
        [udp]
        timeout = 60
        [incomingtcp]
        # hostport = guestip:guestport
        {{#tcp}}
        {{hostPort}} = {{target}}
        {{/tcp}}
        [incomingudp]
        {{#udp}}
        {{hostPort}} = {{target}}
        {{/udp}}

        """

    /// Renders nat.conf for the plan. `device` is `/dev/vmnet8` on Linux and
    /// `vmnet8` on Fusion (docs/vmware-driver.md, "Host network files"). Port forwards of the current file are kept.
    public static func render(_ plan: HostNetworkPlan, os: VMwareHostOS, keeping current: NATConf? = nil) throws -> String {
        let device = os == .linux ? "/dev/\(plan.vmnet)" : plan.vmnet
        let forwards: (String) -> [[String: String]] = { section in
            (current?.portForwards(section) ?? []).map { ["hostPort": $0.hostPort, "target": $0.target] }
        }
        return try TemplateText.render(template, [
            "gateway": plan.gateway.description, "netmask": plan.netmask.description, "device": device,
            "hostMAC": plan.hostMAC, "tcp": forwards("incomingtcp"), "udp": forwards("incomingudp"),
        ], name: "nat.conf")
    }
}
