/// A JUnit XML report, as Jenkins, GitLab and GitHub test reporters read it:
/// `testsuites` → `testsuite` → `testcase` (with an optional `failure` and `system-out`).
///
/// `labctl verify --junit FILE` makes one test case per direction of the cross-cluster check.
/// Counts and times are derived from the cases, so a report cannot contradict itself.
public struct JUnitReport: Sendable, Hashable {
    public var name: String
    public var suites: [Suite]

    public init(name: String, suites: [Suite]) {
        self.name = name
        self.suites = suites
    }

    public var tests: Int { suites.reduce(0) { $0 + $1.tests } }
    public var failures: Int { suites.reduce(0) { $0 + $1.failures } }
    public var time: Double { suites.reduce(0) { $0 + $1.time } }

    public struct Suite: Sendable, Hashable {
        public var name: String
        /// ISO 8601 start time without time zone (`2026-11-27T10:56:11`), as Ant writes it; optional.
        public var timestamp: String?
        public var hostname: String?
        public var cases: [Case]

        public init(name: String, timestamp: String? = nil, hostname: String? = nil, cases: [Case]) {
            self.name = name
            self.timestamp = timestamp
            self.hostname = hostname
            self.cases = cases
        }

        public var tests: Int { cases.count }
        public var failures: Int { cases.filter { $0.failure != nil }.count }
        public var time: Double { cases.reduce(0) { $0 + $1.time } }
    }

    public struct Case: Sendable, Hashable {
        public var name: String
        public var classname: String
        /// Seconds.
        public var time: Double
        public var failure: Failure?
        /// What the check printed (curl answers, command output).
        public var systemOut: String?

        public init(name: String, classname: String, time: Double, failure: Failure? = nil, systemOut: String? = nil) {
            self.name = name
            self.classname = classname
            self.time = time
            self.failure = failure
            self.systemOut = systemOut
        }
    }

    public struct Failure: Sendable, Hashable {
        /// One line: shown by CI systems as the failure's title.
        public var message: String
        public var type: String?
        /// The details (element text).
        public var text: String

        public init(message: String, type: String? = nil, text: String = "") {
            self.message = message
            self.type = type
            self.text = text
        }
    }
}

/// An XML problem: what failed, and where (line) when libxml2 says.
public struct XMLError: Error, Sendable, CustomStringConvertible, Equatable {
    public var message: String
    /// libxml2's messages, one per problem, with line numbers.
    public var details: [String]

    public init(_ message: String, details: [String] = []) {
        self.message = message
        self.details = details
    }

    public var description: String {
        details.isEmpty ? message : message + ":\n" + details.joined(separator: "\n")
    }
}

/// Formats seconds as JUnit writers do: a plain decimal with three places (`1.250`), never
/// exponent notation (the Jenkins schema's SUREFIRE_TIME pattern accepts no `e`).
func junitTime(_ seconds: Double) -> String {
    guard seconds.isFinite, seconds > 0 else { return "0.000" }
    let millis = Int((seconds * 1000).rounded())
    let frac = millis % 1000
    return "\(millis / 1000)." + (frac < 10 ? "00" : frac < 100 ? "0" : "") + "\(frac)"
}

/// XML 1.0 allows only these characters (§2.2 Char): tab, LF, CR, and U+0020 and above except
/// surrogates, U+FFFE and U+FFFF. Command output may carry others (ANSI colour escapes, NUL);
/// libxml2's writer would emit them raw and make the file unreadable, so they are written as
/// visible `\u{1B}` text instead.
func xmlSafe(_ s: String) -> String {
    var out = ""
    out.unicodeScalars.reserveCapacity(s.unicodeScalars.count)
    for scalar in s.unicodeScalars {
        let v = scalar.value
        let allowed = v == 0x9 || v == 0xA || v == 0xD || (v >= 0x20 && v <= 0xD7FF)
            || (v >= 0xE000 && v <= 0xFFFD) || (v >= 0x10000 && v <= 0x10FFFF)
        if allowed {
            out.unicodeScalars.append(scalar)
        } else {
            out += "\\u{" + String(v, radix: 16, uppercase: true) + "}"
        }
    }
    return out
}
