import Foundation

/// A command to run somewhere: on the host, or in a guest over SSH.
///
/// As in kind, the host and every node implement the same "run a command"
/// interface, so stages and tests can swap one for the other.
public struct Command: Sendable, Hashable {
    /// The argv. On a guest it is quoted for the remote shell; on the host it is
    /// passed to the process as is, never through a shell.
    public var arguments: [String]
    /// Bytes written to the command's standard input (scripts go here, not in argv).
    public var stdin: Data?
    /// How long the command may take before it is killed and `LabError.timeout` is thrown.
    public var deadline: Duration
    /// Run as root through non-interactive `sudo -n` (guests only).
    public var sudo: Bool
    /// Strings that must never appear in logs or errors (join tokens, passwords).
    public var secrets: [String]
    /// Standard output is itself a secret (a join command, an admin kubeconfig): runners return it
    /// but never log it.
    public var secretOutput: Bool = false

    public init(_ arguments: [String], stdin: Data? = nil, deadline: Duration = .seconds(120), sudo: Bool = false, secrets: [String] = []) {
        self.arguments = arguments
        self.stdin = stdin
        self.deadline = deadline
        self.sudo = sudo
        self.secrets = secrets
    }

    /// A shell script fed to `bash -s` on standard input.
    public static func script(_ text: String, deadline: Duration = .seconds(120), sudo: Bool = false, secrets: [String] = []) -> Command {
        Command(["bash", "-euo", "pipefail", "-s"], stdin: Data(text.utf8), deadline: deadline, sudo: sudo, secrets: secrets)
    }

    /// The command as a user could paste it into a shell, with secrets redacted.
    public var display: String {
        Redactor(secrets).redact(arguments.map(shellQuote).joined(separator: " "))
    }
}

/// What a command did.
public struct CommandResult: Sendable, Hashable {
    public var exitStatus: Int32
    /// The signal that ended the command, if any (`TERM`, `KILL`).
    public var exitSignal: String?
    public var stdout: Data
    public var stderr: Data
    public var duration: Duration

    public init(exitStatus: Int32, exitSignal: String? = nil, stdout: Data = Data(), stderr: Data = Data(), duration: Duration = .zero) {
        self.exitStatus = exitStatus
        self.exitSignal = exitSignal
        self.stdout = stdout
        self.stderr = stderr
        self.duration = duration
    }

    public var succeeded: Bool { exitStatus == 0 && exitSignal == nil }
    public var stdoutText: String { String(decoding: stdout, as: UTF8.self) }
    public var stderrText: String { String(decoding: stderr, as: UTF8.self) }
}

/// Runs commands. Implemented by the host's process runner and by `GuestSession`.
public protocol CommandRunner: Sendable {
    func run(_ command: Command) async throws -> CommandResult
}

/// Quotes a word for a POSIX shell.
public func shellQuote(_ word: String) -> String {
    if !word.isEmpty, word.allSatisfy({ $0.isLetter || $0.isNumber || "-_./=:@,+%".contains($0) }) {
        return word
    }
    return "'" + word.replacingOccurrences(of: "'", with: "'\\''") + "'"
}

/// Removes secrets from text before it reaches a log, an error or the screen.
public struct Redactor: Sendable {
    public var secrets: [String]
    public init(_ secrets: [String]) { self.secrets = secrets.filter { !$0.isEmpty } }
    public func redact(_ text: String) -> String {
        secrets.reduce(text) { $0.replacingOccurrences(of: $1, with: "<redacted>") }
    }
}
