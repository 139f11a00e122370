import Foundation

/// The one error type every module reports to the user.
///
/// It says what failed (`message`), where (`location`: a lab.json path, a node,
/// a file and line, or the exact command), and what to do next (`hint`).
/// `description` is for logs; the CLI renders `message`, `location` and `hint`.
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
    /// Where it happened: `lab.json: clusters[0].nodes[1].address`, `node cluster1-ctrl-plane`,
    /// `vmrun -T ws start /vms/a.vmx nogui`, `/etc/vmware/vmnet8/nat/nat.conf:12`.
    public var location: String?
    /// What the user can do next.
    public var hint: String?
    /// The underlying error, as text (never contains secrets: callers redact first).
    public var cause: String?

    public init(_ code: Code, _ message: String, location: String? = nil, hint: String? = nil, cause: String? = nil) {
        self.code = code
        self.message = message
        self.location = location
        self.hint = hint
        self.cause = cause
    }

    public var description: String {
        var s = message
        if let location { s += " (at \(location))" }
        if let cause { s += ": \(cause)" }
        if let hint { s += "\nhint: \(hint)" }
        return s
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

/// Several problems found at once (validation collects every error, as kind does).
public struct LabErrors: Error, Sendable, CustomStringConvertible {
    public var errors: [LabError]
    public init(_ errors: [LabError]) { self.errors = errors }
    public var description: String { errors.map(\.description).joined(separator: "\n") }
}
