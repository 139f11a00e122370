import Foundation
import LabKit

/// One DHCP lease from VMware's DHCP server.
public struct DHCPLease: Sendable, Hashable {
    public var address: IPv4Address
    public var mac: MACAddress
    /// nil in Apple's format, which records only the expiry.
    public var starts: Date?
    public var ends: Date?
    public var hostname: String?
    /// `file:line` where the lease begins.
    public var location: String

    public init(address: IPv4Address, mac: MACAddress, starts: Date?, ends: Date?, hostname: String?, location: String) {
        self.address = address
        self.mac = mac
        self.starts = starts
        self.ends = ends
        self.hostname = hostname
        self.location = location
    }

    public func isActive(at now: Date) -> Bool {
        if let s = starts, s > now { return false }
        if let e = ends, e < now { return false }
        return true
    }
}

/// What the lease files say about one MAC.
public enum LeaseLookup: Sendable, Hashable {
    /// One answer: the newest active lease.
    case found(DHCPLease)
    /// Only expired leases; the newest is given for diagnostics, not as an answer.
    case expired(DHCPLease)
    /// Active leases that disagree (different addresses and host names): reported, not guessed.
    case conflict([DHCPLease])
    case none
}

/// Leases parsed from a file, plus the lines that could not be understood.
public struct LeaseFile: Sendable, Equatable {
    public var leases: [DHCPLease]
    /// One error per line that is not a lease statement, each naming file and line.
    public var problems: [LabError]

    public init(leases: [DHCPLease] = [], problems: [LabError] = []) {
        self.leases = leases
        self.problems = problems
    }

    /// Finds the lease for `mac` (docs/vmware-driver.md, "Host network files").
    ///
    /// Entries are appended, so a MAC appears many times. Like VVD's `dhcp_lease_file.go`,
    /// only active leases count, and when several are active the most recent start wins
    /// if they agree (same address or same host name); otherwise the MAC is ambiguous.
    public func lookup(_ mac: MACAddress, at now: Date = Date()) -> LeaseLookup {
        let mine = leases.filter { $0.mac == mac }
        guard !mine.isEmpty else { return .none }
        let active = mine.filter { $0.isActive(at: now) }
        guard !active.isEmpty else {
            return mine.max(by: Self.older).map { .expired($0) } ?? .none
        }
        let addresses = Set(active.map(\.address))
        let hostnames = Set(active.map { $0.hostname ?? "" })
        guard addresses.count == 1 || hostnames.count == 1 else { return .conflict(active) }
        return active.max(by: Self.older).map { .found($0) } ?? .none
    }

    /// Ordering for "newest": latest start (or expiry in Apple's format), then file order.
    static func older(_ a: DHCPLease, _ b: DHCPLease) -> Bool {
        let ka = a.starts ?? a.ends ?? .distantPast
        let kb = b.starts ?? b.ends ?? .distantPast
        if ka != kb { return ka < kb }
        return false
    }

    public static func load(path: String) throws -> LeaseFile {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw LabError(.notFound, "cannot read the DHCP lease file", location: .file(path),
                           hint: "VMware's NAT DHCP server writes it; check that the vmnet8 DHCP service runs and that you may read the file")
        }
        return parse(String(decoding: data, as: UTF8.self), source: path)
    }

    /// Parses ISC `dhcpd.leases` or Apple's `bootpd` format, whichever the text is.
    public static func parse(_ text: String, source: String) -> LeaseFile {
        let lines = text.replacingOccurrences(of: "\r\n", with: "\n").components(separatedBy: "\n")
        let firstStatement = lines.first { let t = $0.trimmingCharacters(in: .whitespaces); return !t.isEmpty && !t.hasPrefix("#") }
        if firstStatement?.trimmingCharacters(in: .whitespaces) == "{" {
            return parseApple(lines, source: source)
        }
        return parseISC(lines, source: source)
    }

    // MARK: ISC (PKR testdata/dhcpd-example.leases)

    static func parseISC(_ lines: [String], source: String) -> LeaseFile {
        var file = LeaseFile()
        var current: (ip: IPv4Address, line: Int, mac: MACAddress?, starts: Date?, ends: Date?, host: String?)?
        var problemsAtLeaseStart = 0
        var skippingBlock = 0 // depth of a non-lease block we do not interpret (host, failover, ...)

        func problem(_ n: Int, _ message: String, _ text: String) {
            file.problems.append(LabError(.invalidInput, message, location: .file(source, line: n),
                                          hint: "the line was ignored; the DHCP server may have been interrupted while writing",
                                          detail: String(text.prefix(80))))
        }

        for (index, raw) in lines.enumerated() {
            let n = index + 1
            let t = raw.trimmingCharacters(in: .whitespaces)
            if t.isEmpty || t.hasPrefix("#") { continue }
            if skippingBlock > 0 {
                if t.hasSuffix("{") { skippingBlock += 1 }
                if t == "}" { skippingBlock -= 1 }
                continue
            }
            if var lease = current {
                if t == "}" {
                    // A lease with a line we could not read is not trusted as an answer.
                    if let mac = lease.mac, file.problems.count == problemsAtLeaseStart {
                        file.leases.append(DHCPLease(address: lease.ip, mac: mac, starts: lease.starts, ends: lease.ends,
                                                     hostname: lease.host, location: "\(source):\(lease.line)"))
                    }
                    current = nil
                    continue
                }
                if t.hasPrefix("lease ") {
                    problem(lease.line, "lease \(lease.ip) is not closed with }", t)
                    current = nil
                    // fall through to parse the new lease header below
                } else {
                    guard t.hasSuffix(";") else {
                        problem(n, "not a lease statement (missing ;)", t)
                        continue
                    }
                    let stmt = String(t.dropLast()).trimmingCharacters(in: .whitespaces)
                    let words = stmt.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
                    switch words.first {
                    case "starts", "ends":
                        guard let date = parseISCDate(words) else {
                            problem(n, "cannot read the \(words[0]) time", t)
                            continue
                        }
                        if words[0] == "starts" { lease.starts = date } else { lease.ends = date }
                    case "hardware":
                        guard words.count == 3, let mac = MACAddress(words[2]) else {
                            problem(n, "cannot read the hardware address", t)
                            continue
                        }
                        lease.mac = mac
                    case "client-hostname":
                        lease.host = stmt.dropFirst("client-hostname".count).trimmingCharacters(in: CharacterSet(charactersIn: " \""))
                    default:
                        break // uid, binding state, cltt, tstp, ...: not needed
                    }
                    current = lease
                    continue
                }
            }
            if t.hasPrefix("lease ") {
                let words = t.split(separator: " ", omittingEmptySubsequences: true)
                guard words.count >= 3, words.last == "{", let ip = IPv4Address(String(words[1])) else {
                    problem(n, "cannot read the lease header (expected: lease <IPv4> {)", t)
                    if t.hasSuffix("{") { skippingBlock = 1 }
                    continue
                }
                current = (ip, n, nil, nil, nil, nil)
                problemsAtLeaseStart = file.problems.count
                continue
            }
            if t.hasSuffix("{") { skippingBlock = 1; continue }
            // Top-level statements dhcpd writes: `authoring-byte-order little-endian;`, `server-duid "...";`.
            if t.hasSuffix(";") { continue }
            problem(n, "not a lease file statement", t)
        }
        if let lease = current {
            problem(lease.line, "lease \(lease.ip) is not closed with } (the file ends first)", "lease \(lease.ip) {")
        }
        return file
    }

    /// `starts 3 2020/05/13 12:00:37` in UTC; `never` for infinite leases.
    static func parseISCDate(_ words: [String]) -> Date? {
        if words.count == 2, words[1] == "never" { return .distantFuture }
        guard words.count >= 4 else { return nil }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyy/MM/dd HH:mm:ss"
        return formatter.date(from: "\(words[2]) \(words[3])")
    }

    // MARK: Apple bootpd (PKR testdata/apple-dhcpd-example.leases, Big Sur + Fusion 12.0/12.1)

    static func parseApple(_ lines: [String], source: String) -> LeaseFile {
        var file = LeaseFile()
        var fields: [String: String]?
        var start = 0
        func problem(_ n: Int, _ message: String, _ text: String) {
            file.problems.append(LabError(.invalidInput, message, location: .file(source, line: n),
                                          hint: "the line was ignored", detail: String(text.prefix(80))))
        }
        for (index, raw) in lines.enumerated() {
            let n = index + 1
            let t = raw.trimmingCharacters(in: .whitespaces)
            if t.isEmpty || t.hasPrefix("#") { continue }
            if t == "{" {
                if fields != nil { problem(start, "lease block is not closed with }", "{") }
                fields = [:]
                start = n
                continue
            }
            if t == "}" {
                guard let f = fields else { problem(n, "} without a lease block", t); continue }
                fields = nil
                // hw_address=1,0:50:56:3a:0:1: hardware type 1 (Ethernet), octets without leading zeros.
                let hw = f["hw_address"].map { $0.split(separator: ",", maxSplits: 1).last.map(String.init) ?? $0 }
                guard let ipText = f["ip_address"], let ip = IPv4Address(ipText), let macText = hw, let mac = MACAddress(macText) else {
                    problem(start, "lease block without a readable ip_address and hw_address", "{")
                    continue
                }
                // lease=0x5fd78ae2: the expiry as a hex Unix time.
                let ends = f["lease"].flatMap { UInt64($0.hasPrefix("0x") ? String($0.dropFirst(2)) : $0, radix: 16) }
                    .map { Date(timeIntervalSince1970: Double($0)) }
                file.leases.append(DHCPLease(address: ip, mac: mac, starts: nil, ends: ends, hostname: f["name"], location: "\(source):\(start)"))
                continue
            }
            guard fields != nil, let eq = t.firstIndex(of: "=") else {
                problem(n, "not a lease file line", t)
                continue
            }
            fields?[String(t[..<eq])] = String(t[t.index(after: eq)...])
        }
        if fields != nil { problem(start, "lease block is not closed with } (the file ends first)", "{") }
        return file
    }

    /// Where VMware keeps its NAT DHCP leases on this host (docs/hosts.md).
    public static func defaultPaths(vmnet: String = "vmnet8", platform: HostPlatform = .current) -> [String] {
        platform.leaseFiles(vmnet: vmnet)
    }
}
