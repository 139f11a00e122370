import Foundation

/// An IPv4 address as a 32-bit number, so ranges and subnets are arithmetic.
public struct IPv4Address: Sendable, Hashable, Comparable, Codable, CustomStringConvertible {
    public var value: UInt32
    public init(_ value: UInt32) { self.value = value }

    /// Parses dotted-quad notation strictly: four decimal octets 0-255, no leading zeros.
    public init?(_ text: String) {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var v: UInt32 = 0
        for p in parts {
            guard !p.isEmpty, p.count <= 3, p.allSatisfy(\.isASCII), p.allSatisfy(\.isNumber),
                  !(p.count > 1 && p.first == "0"), let o = UInt32(p), o <= 255 else { return nil }
            v = v << 8 | o
        }
        value = v
    }

    public var description: String {
        "\(value >> 24 & 0xff).\(value >> 16 & 0xff).\(value >> 8 & 0xff).\(value & 0xff)"
    }
    public var octets: [UInt8] { [UInt8(value >> 24 & 0xff), UInt8(value >> 16 & 0xff), UInt8(value >> 8 & 0xff), UInt8(value & 0xff)] }

    public static func < (a: IPv4Address, b: IPv4Address) -> Bool { a.value < b.value }
    public func advanced(by n: Int) -> IPv4Address { IPv4Address(UInt32(truncatingIfNeeded: Int(value) + n)) }

    public init(from decoder: Decoder) throws {
        let s = try decoder.singleValueContainer().decode(String.self)
        guard let a = IPv4Address(s) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not an IPv4 address: \(s)"))
        }
        self = a
    }
    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }
}

/// An IPv4 network in CIDR notation. The address must be the network address.
public struct IPv4Network: Sendable, Hashable, Codable, CustomStringConvertible {
    public var address: IPv4Address
    public var prefixLength: Int

    public init?(_ text: String) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let a = IPv4Address(String(parts[0])),
              let p = Int(parts[1]), (0...32).contains(p), String(p) == parts[1] else { return nil }
        let net = IPv4Network(address: a, prefixLength: p)
        guard net.network == a else { return nil }
        self = net
    }
    public init(address: IPv4Address, prefixLength: Int) {
        self.address = address
        self.prefixLength = prefixLength
    }

    public var mask: UInt32 { prefixLength == 0 ? 0 : UInt32.max << UInt32(32 - prefixLength) }
    public var netmask: IPv4Address { IPv4Address(mask) }
    public var network: IPv4Address { IPv4Address(address.value & mask) }
    public var broadcast: IPv4Address { IPv4Address(address.value | ~mask) }
    public var first: IPv4Address { network }
    public var last: IPv4Address { broadcast }
    public func contains(_ a: IPv4Address) -> Bool { a.value & mask == network.value }
    public func overlaps(_ other: IPv4Network) -> Bool { contains(other.network) || other.contains(network) }
    /// The n-th host of the subnet (`host(2)` is VMware's gateway `.2`).
    public func host(_ n: Int) -> IPv4Address { network.advanced(by: n) }
    public var description: String { "\(network)/\(prefixLength)" }

    public init(from decoder: Decoder) throws {
        let s = try decoder.singleValueContainer().decode(String.self)
        guard let n = IPv4Network(s) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not an IPv4 CIDR: \(s)"))
        }
        self = n
    }
    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }
}

/// An inclusive range of addresses, written `a.b.c.d-e.f.g.h` as MetalLB and the seed write it.
public struct IPv4Range: Sendable, Hashable, Codable, CustomStringConvertible {
    public var lower: IPv4Address
    public var upper: IPv4Address
    public init(_ lower: IPv4Address, _ upper: IPv4Address) {
        self.lower = lower
        self.upper = upper
    }
    public init?(_ text: String) {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        if parts.count == 2, let a = IPv4Address(String(parts[0]).trimmingCharacters(in: .whitespaces)),
           let b = IPv4Address(String(parts[1]).trimmingCharacters(in: .whitespaces)) {
            self.init(a, b)
        } else if parts.count == 1, let n = IPv4Network(text) {
            self.init(n.first, n.last)
        } else {
            return nil
        }
    }
    public var isReversed: Bool { upper < lower }
    public func contains(_ a: IPv4Address) -> Bool { lower <= a && a <= upper }
    public func overlaps(_ o: IPv4Range) -> Bool { lower <= o.upper && o.lower <= upper }
    public var description: String { "\(lower)-\(upper)" }

    public init(from decoder: Decoder) throws {
        let s = try decoder.singleValueContainer().decode(String.self)
        guard let r = IPv4Range(s) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not an IPv4 range: \(s)"))
        }
        self = r
    }
    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }
}

/// An Ethernet MAC address, stored lower-case with colons.
public struct MACAddress: Sendable, Hashable, Codable, CustomStringConvertible {
    public var bytes: [UInt8]
    public init?(_ text: String) {
        let parts = text.split(whereSeparator: { $0 == ":" || $0 == "-" })
        guard parts.count == 6 else { return nil }
        var b: [UInt8] = []
        for p in parts {
            guard (1...2).contains(p.count), let v = UInt8(p, radix: 16) else { return nil }
            b.append(v)
        }
        bytes = b
    }
    public init(bytes: [UInt8]) { self.bytes = bytes }
    public var description: String { bytes.map { String(format: "%02x", $0) }.joined(separator: ":") }

    /// VMware's range for static MACs: 00:50:56:00:00:00-00:50:56:3F:FF:FF.
    public var isVMwareStatic: Bool { bytes.count == 6 && bytes[0] == 0x00 && bytes[1] == 0x50 && bytes[2] == 0x56 && bytes[3] <= 0x3f }

    public init(from decoder: Decoder) throws {
        let s = try decoder.singleValueContainer().decode(String.self)
        guard let m = MACAddress(s) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not a MAC address: \(s)"))
        }
        self = m
    }
    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }
}
