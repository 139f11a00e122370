import Foundation

/// A position in a text file, 1-based, counted in Unicode scalars.
public struct SourcePosition: Sendable, Hashable, CustomStringConvertible {
    public var line: Int
    public var column: Int
    public init(line: Int, column: Int) {
        self.line = line
        self.column = column
    }
    public var description: String { "\(line):\(column)" }
}

/// A JSON value that remembers where it started in the file.
///
/// Foundation's `JSONSerialization` and `JSONDecoder` report no positions, and
/// lab.json errors must point at the line and column of the offending value
/// (validation errors that point at the field, with its line and column).
public struct JSONNode: Sendable, Hashable {
    public indirect enum Value: Sendable, Hashable {
        case object([(key: String, keyPosition: SourcePosition, value: JSONNode)])
        case array([JSONNode])
        case string(String)
        /// The number's literal text, so integers stay exact.
        case number(String)
        case bool(Bool)
        case null

        public static func == (a: Value, b: Value) -> Bool {
            switch (a, b) {
            case let (.object(x), .object(y)):
                return x.count == y.count && zip(x, y).allSatisfy { $0.key == $1.key && $0.value == $1.value }
            case let (.array(x), .array(y)): return x == y
            case let (.string(x), .string(y)): return x == y
            case let (.number(x), .number(y)): return x == y
            case let (.bool(x), .bool(y)): return x == y
            case (.null, .null): return true
            default: return false
            }
        }

        public func hash(into h: inout Hasher) {
            switch self {
            case .object(let m): h.combine(0); for e in m { h.combine(e.key); h.combine(e.value) }
            case .array(let a): h.combine(1); h.combine(a)
            case .string(let s): h.combine(2); h.combine(s)
            case .number(let n): h.combine(3); h.combine(n)
            case .bool(let b): h.combine(4); h.combine(b)
            case .null: h.combine(5)
            }
        }
    }

    public var value: Value
    public var position: SourcePosition

    /// "an object", "a string", ... for error messages.
    public var typeName: String {
        switch value {
        case .object: return "an object"
        case .array: return "an array"
        case .string: return "a string"
        case .number: return "a number"
        case .bool: return "a boolean"
        case .null: return "null"
        }
    }
}

/// A syntax error in a JSON text, with the position where it was found.
public struct JSONSyntaxError: Error, Sendable, Equatable {
    public var message: String
    public var position: SourcePosition
}

/// A small, strict RFC 8259 parser that records the position of every value.
///
/// Strict means: no comments, no trailing commas, no duplicate keys in an
/// object (JSON leaves duplicates undefined; a lab file with two `address`
/// keys is a mistake, not a choice), one top-level value, UTF-8 only.
public struct PositionedJSONParser {
    private let bytes: [UInt8]
    private var index = 0
    private var line = 1
    private var column = 1
    /// Nesting limit, so a hostile file cannot exhaust the stack.
    private let maxDepth = 512

    public static func parse(_ data: Data) throws(JSONSyntaxError) -> JSONNode {
        var p = PositionedJSONParser(bytes: Array(data))
        return try p.parseDocument()
    }

    private init(bytes: [UInt8]) { self.bytes = bytes }

    private var position: SourcePosition { SourcePosition(line: line, column: column) }

    private func fail(_ message: String) -> JSONSyntaxError { JSONSyntaxError(message: message, position: position) }

    private var found: String {
        guard index < bytes.count else { return "the end of the file" }
        let b = bytes[index]
        if b == 0x0a { return "a line break" }
        if b < 0x20 { return "a control character (0x\(String(b, radix: 16)))" }
        // Decode the whole scalar at this point for a readable message.
        var end = index + 1
        while end < bytes.count, bytes[end] & 0xc0 == 0x80 { end += 1 }
        let text = String(decoding: bytes[index..<end], as: UTF8.self)
        return "'\(text)'"
    }

    private mutating func advance() {
        let b = bytes[index]
        index += 1
        if b == 0x0a {
            line += 1
            column = 1
        } else if b & 0xc0 != 0x80 {
            // Count scalars, not bytes: continuation bytes do not move the column.
            column += 1
        }
    }

    private mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x09, 0x0a, 0x0d: advance()
            default: return
            }
        }
    }

    private mutating func parseDocument() throws(JSONSyntaxError) -> JSONNode {
        if let bad = Self.firstInvalidUTF8(bytes) {
            while index < bad { advance() }
            throw fail("the file is not valid UTF-8 (save it as UTF-8)")
        }
        // A UTF-8 byte-order mark is tolerated (Windows editors write one).
        if bytes.starts(with: [0xef, 0xbb, 0xbf]) { index = 3 }
        skipWhitespace()
        guard index < bytes.count else { throw fail("expected a JSON value, found an empty file") }
        let node = try parseValue(depth: 0)
        skipWhitespace()
        guard index >= bytes.count else { throw fail("expected the end of the file after the top-level value, found \(found)") }
        return node
    }

    /// Offset of the first byte that does not start or continue a valid UTF-8 sequence.
    static func firstInvalidUTF8(_ b: [UInt8]) -> Int? {
        var i = 0
        while i < b.count {
            let lead = b[i]
            let length: Int
            switch lead {
            case 0x00...0x7f: length = 1
            case 0xc2...0xdf: length = 2
            case 0xe0...0xef: length = 3
            case 0xf0...0xf4: length = 4
            default: return i
            }
            guard i + length <= b.count else { return i }
            if String(validating: b[i..<(i + length)], as: UTF8.self) == nil { return i }
            i += length
        }
        return nil
    }

    private mutating func parseValue(depth: Int) throws(JSONSyntaxError) -> JSONNode {
        guard depth < maxDepth else { throw fail("nesting is deeper than \(maxDepth) levels") }
        guard index < bytes.count else { throw fail("expected a value, found the end of the file") }
        let start = position
        switch bytes[index] {
        case UInt8(ascii: "{"): return JSONNode(value: try parseObject(depth: depth), position: start)
        case UInt8(ascii: "["): return JSONNode(value: try parseArray(depth: depth), position: start)
        case UInt8(ascii: "\""): return JSONNode(value: .string(try parseString()), position: start)
        case UInt8(ascii: "t"): try literal("true"); return JSONNode(value: .bool(true), position: start)
        case UInt8(ascii: "f"): try literal("false"); return JSONNode(value: .bool(false), position: start)
        case UInt8(ascii: "n"): try literal("null"); return JSONNode(value: .null, position: start)
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return JSONNode(value: .number(try parseNumber()), position: start)
        default:
            throw fail("expected a value (object, array, string, number, true, false or null), found \(found)")
        }
    }

    private mutating func literal(_ word: String) throws(JSONSyntaxError) {
        for b in word.utf8 {
            guard index < bytes.count, bytes[index] == b else { throw fail("expected '\(word)', found \(found)") }
            advance()
        }
    }

    private mutating func parseObject(depth: Int) throws(JSONSyntaxError) -> JSONNode.Value {
        advance() // {
        var members: [(key: String, keyPosition: SourcePosition, value: JSONNode)] = []
        var seen: [String: SourcePosition] = [:]
        skipWhitespace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "}") {
            advance()
            return .object(members)
        }
        while true {
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else {
                throw fail("expected a key in double quotes, found \(found)")
            }
            let keyPosition = position
            let key = try parseString()
            if let first = seen[key] {
                throw JSONSyntaxError(message: "duplicate key \"\(key)\" (first at line \(first.line), column \(first.column))", position: keyPosition)
            }
            seen[key] = keyPosition
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else {
                throw fail("expected ':' after the key \"\(key)\", found \(found)")
            }
            advance()
            skipWhitespace()
            let value = try parseValue(depth: depth + 1)
            members.append((key, keyPosition, value))
            skipWhitespace()
            guard index < bytes.count else { throw fail("expected ',' or '}' in an object, found the end of the file") }
            if bytes[index] == UInt8(ascii: ",") {
                advance()
                skipWhitespace()
                if index < bytes.count, bytes[index] == UInt8(ascii: "}") {
                    throw fail("expected a key after ',', found '}' (JSON allows no trailing comma)")
                }
                continue
            }
            if bytes[index] == UInt8(ascii: "}") {
                advance()
                return .object(members)
            }
            throw fail("expected ',' or '}' after an object member, found \(found)")
        }
    }

    private mutating func parseArray(depth: Int) throws(JSONSyntaxError) -> JSONNode.Value {
        advance() // [
        var items: [JSONNode] = []
        skipWhitespace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "]") {
            advance()
            return .array(items)
        }
        while true {
            skipWhitespace()
            items.append(try parseValue(depth: depth + 1))
            skipWhitespace()
            guard index < bytes.count else { throw fail("expected ',' or ']' in an array, found the end of the file") }
            if bytes[index] == UInt8(ascii: ",") {
                advance()
                skipWhitespace()
                if index < bytes.count, bytes[index] == UInt8(ascii: "]") {
                    throw fail("expected a value after ',', found ']' (JSON allows no trailing comma)")
                }
                continue
            }
            if bytes[index] == UInt8(ascii: "]") {
                advance()
                return .array(items)
            }
            throw fail("expected ',' or ']' after an array element, found \(found)")
        }
    }

    private mutating func parseString() throws(JSONSyntaxError) -> String {
        advance() // opening quote
        var out: [UInt8] = []
        while true {
            guard index < bytes.count else { throw fail("expected '\"' to close the string, found the end of the file") }
            let b = bytes[index]
            if b == UInt8(ascii: "\"") {
                advance()
                return String(decoding: out, as: UTF8.self)
            }
            if b < 0x20 { throw fail("expected '\"' to close the string, found \(found) (escape it)") }
            if b != UInt8(ascii: "\\") {
                out.append(b)
                advance()
                continue
            }
            advance()
            guard index < bytes.count else { throw fail("expected an escape character, found the end of the file") }
            let e = bytes[index]
            switch e {
            case UInt8(ascii: "\""): out.append(0x22)
            case UInt8(ascii: "\\"): out.append(0x5c)
            case UInt8(ascii: "/"): out.append(0x2f)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0c)
            case UInt8(ascii: "n"): out.append(0x0a)
            case UInt8(ascii: "r"): out.append(0x0d)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                advance()
                var scalar = try hex4()
                if (0xd800...0xdbff).contains(scalar) {
                    // A high surrogate must be followed by \uDC00-\uDFFF.
                    guard index + 1 < bytes.count, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u") else {
                        throw fail("expected a low surrogate escape after \\u\(String(scalar, radix: 16))")
                    }
                    advance(); advance()
                    let low = try hex4()
                    guard (0xdc00...0xdfff).contains(low) else { throw fail("expected a low surrogate, found \\u\(String(low, radix: 16))") }
                    scalar = 0x10000 + ((scalar - 0xd800) << 10) + (low - 0xdc00)
                } else if (0xdc00...0xdfff).contains(scalar) {
                    throw fail("unpaired low surrogate \\u\(String(scalar, radix: 16))")
                }
                guard let u = Unicode.Scalar(scalar) else { throw fail("invalid \\u escape") }
                out.append(contentsOf: Array(String(Character(u)).utf8))
                continue
            default:
                throw fail("expected one of \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\u after '\\', found \(found)")
            }
            advance()
        }
    }

    private mutating func hex4() throws(JSONSyntaxError) -> UInt32 {
        var v: UInt32 = 0
        for _ in 0..<4 {
            guard index < bytes.count, let d = UInt32(String(UnicodeScalar(bytes[index])), radix: 16) else {
                throw fail("expected four hex digits after \\u, found \(found)")
            }
            v = v << 4 | d
            advance()
        }
        return v
    }

    private mutating func parseNumber() throws(JSONSyntaxError) -> String {
        let start = index
        func isDigit(_ i: Int) -> Bool { i < bytes.count && (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[i]) }
        if bytes[index] == UInt8(ascii: "-") { advance() }
        guard isDigit(index) else { throw fail("expected a digit, found \(found)") }
        if bytes[index] == UInt8(ascii: "0") {
            advance()
            if isDigit(index) { throw fail("expected '.', 'e' or the end of the number after a leading 0, found \(found)") }
        } else {
            while isDigit(index) { advance() }
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            advance()
            guard isDigit(index) else { throw fail("expected a digit after '.', found \(found)") }
            while isDigit(index) { advance() }
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
            advance()
            if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") { advance() }
            guard isDigit(index) else { throw fail("expected a digit in the exponent, found \(found)") }
            while isDigit(index) { advance() }
        }
        return String(decoding: bytes[start..<index], as: UTF8.self)
    }
}
