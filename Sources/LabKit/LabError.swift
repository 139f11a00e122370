import Foundation

/// The one error type every module reports to the user.
///
/// It says what failed (`message`), where (`location`), and what to do next (`hint`).
/// The error underneath stays typed in `cause` (a `VmrunError`, a `POSIXError`, another
/// `LabError`), so callers decide on its type and kind, never on its text, as
/// apple/containerization's `ContainerizationError` (code, message, `cause: (any Error)?`)
/// and swift-nio's `FileSystemError` (code, message, cause, location) do.
/// `detail` is text that explains the failure and has no error type (a command's last
/// standard-error lines). `description` is for logs; the CLI renders every part.
public struct LabError: Error, Sendable, CustomStringConvertible, Equatable {
    public enum Code: String, Sendable, Codable, CaseIterable {
        /// The lab file or a command-line argument is wrong.
        case invalidInput
        /// A file or VM that should exist does not.
        case notFound
        /// The thing exists already, or is in use (a lock, a running VM).
        case conflict
        /// A deadline passed.
        case timeout
        /// The backend cannot do this (for example linked clones under Workstation Player).
        case unsupported
        /// A command on the host or in a guest failed.
        case commandFailed
        /// The network connection to a guest failed or dropped.
        case connection
        /// A security check refused to go on (host-key mismatch, RSA key).
        case security
        /// Cancelled by the user (Ctrl-C).
        case cancelled
        /// A bug or an unexpected state.
        case internalError
    }

    public var code: Code
    public var message: String
    /// Where it happened: a lab.json key, a node, a command, a file and line.
    public var location: Location?
    /// What the user can do next.
    public var hint: String?
    /// The underlying error, typed. Callers redact secrets before they wrap an error.
    public var cause: (any Error & Sendable)?
    /// What the failing thing said, as text (never contains secrets: callers redact first).
    public var detail: String?

    public init(_ code: Code, _ message: String, location: Location? = nil, hint: String? = nil,
                cause: (any Error & Sendable)? = nil, detail: String? = nil) {
        self.code = code
        self.message = message
        self.location = location
        self.hint = hint
        self.cause = cause
        self.detail = detail
    }

    /// The text the user sees after `cause:`: the detail, else the underlying error.
    public var causeText: String? {
        if let detail { return detail }
        return cause.map(Self.describe)
    }

    /// An underlying error as one line of text: a `LabError` by its message and detail, a POSIX
    /// error by `strerror` (Foundation's text for it differs between Darwin and Linux).
    public static func describe(_ error: any Error) -> String {
        switch error {
        case let e as LabError: return e.message + (e.causeText.map { ": \($0)" } ?? "")
        case let e as POSIXError: return String(cString: strerror(e.code.rawValue))
        case let e as CocoaError: return e.localizedDescription
        default: return "\(error)"
        }
    }

    /// The first error of type `E` in the chain of causes (this error's cause, its cause's cause, ...).
    public func underlying<E: Error>(_ type: E.Type) -> E? {
        var next: (any Error)? = cause
        while let e = next {
            if let match = e as? E { return match }
            next = (e as? LabError)?.cause
        }
        return nil
    }

    /// The same error with `redact` applied to every text it carries (secrets out of messages and
    /// commands). A typed cause whose text would change is replaced by its redacted text in `detail`.
    public func redacted(_ redact: (String) -> String) -> LabError {
        var e = self
        e.message = redact(message)
        e.hint = hint.map(redact)
        e.detail = detail.map(redact)
        if case let .command(argv, node) = location { e.location = .command(argv.map(redact), node: node) }
        if let inner = cause as? LabError {
            e.cause = inner.redacted(redact)
        } else if let cause, detail == nil {
            let text = Self.describe(cause)
            if redact(text) != text {
                e.cause = nil
                e.detail = redact(text)
            }
        }
        return e
    }

    public var description: String {
        var s = message
        if let location { s += " (at \(location))" }
        if let causeText { s += ": \(causeText)" }
        if let hint { s += "\nhint: \(hint)" }
        return s
    }

    /// Two errors are equal when the user would read the same thing (the cause by its text).
    public static func == (a: LabError, b: LabError) -> Bool {
        a.code == b.code && a.message == b.message && a.location == b.location && a.hint == b.hint && a.causeText == b.causeText
    }

    /// Exit codes are documented in the README ("Exit codes").
    public var exitCode: Int32 {
        switch code {
        case .invalidInput: return 2
        case .notFound: return 3
        case .conflict: return 4
        case .timeout: return 5
        case .unsupported: return 6
        case .commandFailed: return 7
        case .connection: return 8
        case .security: return 9
        case .cancelled: return 130
        case .internalError: return 70
        }
    }
}

extension POSIXError {
    /// The typed error for an `errno` value (the current one by default), for `LabError.cause`.
    public static func current(_ value: Int32? = nil) -> POSIXError {
        POSIXError(POSIXErrorCode(rawValue: value ?? currentErrno) ?? .EIO)
    }
}

private var currentErrno: Int32 { errno }

/// Where an error happened, typed: the CLI renders it, tests and callers match on its case.
public enum Location: Sendable, Hashable, CustomStringConvertible {
    /// A key of the lab file, `lab.json: clusters[0].nodes[1].address (line 12, column 45)`.
    case lab(String, file: String = "lab.json", position: SourcePosition? = nil)
    /// A node of the lab, and optionally a path or object on it: `node c1-worker1: /etc/kubernetes/admin.conf`.
    case node(String, path: String? = nil)
    /// A lab stage instance (the engine's fallback when a stage's error names no place).
    case stage(String)
    /// The exact command, as argv (secrets already redacted); rendered so it can be pasted into a shell.
    case command([String], node: String? = nil)
    /// A file on the host, with a line (and column) when known: `/etc/vmware/vmnet8/nat/nat.conf:12`.
    case file(String, line: Int? = nil, column: Int? = nil)
    /// A command-line option or an environment variable: `--from/--only/--to`, `LABCTL_VMRUN`.
    case option(String)
    /// Anything else that names a place in words (`context cluster1: istio-system/cacerts`).
    case other(String)

    /// A command's argv with its secrets redacted.
    public static func command(_ command: Command, node: String? = nil) -> Location {
        let redactor = Redactor(command.secrets)
        return .command(command.arguments.map(redactor.redact), node: node)
    }

    public var description: String {
        switch self {
        case let .lab(key, file, position):
            return "\(file): \(key)" + (position.map { " (line \($0.line), column \($0.column))" } ?? "")
        case let .node(name, path):
            return "node \(name)" + (path.map { ": \($0)" } ?? "")
        case let .stage(id):
            return "stage \(id)"
        case let .command(argv, node):
            return (node.map { "node \($0): " } ?? "") + argv.map(shellQuote).joined(separator: " ")
        case let .file(path, line, column):
            return path + (line.map { ":\($0)" } ?? "") + (column.map { ":\($0)" } ?? "")
        case let .option(name), let .other(name):
            return name
        }
    }

    /// The argv, when this location is a command.
    public var argv: [String]? {
        if case let .command(argv, _) = self { return argv }
        return nil
    }

    /// The node, when this location names one.
    public var node: String? {
        switch self {
        case let .node(name, _): return name
        case let .command(_, node): return node
        default: return nil
        }
    }
}

/// Several problems found at once (validation collects every error, as kind does).
public struct LabErrors: Error, Sendable, CustomStringConvertible {
    public var errors: [LabError]
    public init(_ errors: [LabError]) { self.errors = errors }
    public var description: String { errors.map(\.description).joined(separator: "\n") }
}
