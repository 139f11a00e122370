import Foundation
import LabKit

/// The per-node log (`.labctl/logs/<node>.log`): commands, their output as it streams, and
/// exit codes. Secrets are redacted line by line, so a secret split across two network
/// reads is still caught.
///
/// A write that fails (a full disk) drops its text; the first failure is kept until the session
/// reports it (`reportFailure`, before its next command), once. Later writes are tried again.
final class NodeLog: @unchecked Sendable {
    let path: String
    private let lock = NSLock()
    private var file: AppendFile?
    private var failure: LabError?
    private var reported = false

    init(path: String) { self.path = path }

    func write(_ text: String) {
        lock.lock()
        defer { lock.unlock() }
        do {
            // O_APPEND: several sessions to one node (a reconnect, a pin replacement) share the file.
            let f = try file ?? AppendFile(path: path, mode: 0o600)
            file = f
            try f.append(Data(text.utf8))
        } catch let error as LabError {
            if !reported && failure == nil { failure = error }
        } catch {
            if !reported && failure == nil { failure = LabError(.internalError, "cannot write \(path)", location: .file(path), cause: error) }
        }
    }

    /// Throws the first write failure, once per log: the session's next command is not run, so
    /// the stage fails with the reason instead of working on without a log (the journal, on the
    /// same disk, could not record it either).
    func reportFailure() throws {
        lock.lock()
        defer { lock.unlock() }
        guard let failure, !reported else { return }
        reported = true
        self.failure = nil
        throw failure
    }

    func stream(redactor: Redactor) -> Stream { Stream(log: self, redactor: redactor) }

    /// Buffers partial lines of one command's stdout and stderr.
    final class Stream {
        private let log: NodeLog
        private let redactor: Redactor
        private var pending: [Bool: Data] = [false: Data(), true: Data()]
        /// Lines longer than this are flushed anyway (binary output); a secret is never this long.
        private let maxLine = 64 * 1024

        init(log: NodeLog, redactor: Redactor) {
            self.log = log
            self.redactor = redactor
        }

        func append(_ bytes: Data, stderr: Bool) {
            var buffer = pending[stderr, default: Data()]
            buffer.append(bytes)
            if let lastNewline = buffer.lastIndex(of: 0x0A) {
                let complete = buffer[buffer.startIndex...lastNewline]
                emit(Data(complete), stderr: stderr)
                buffer = Data(buffer[(lastNewline + 1)...])
            } else if buffer.count > maxLine {
                emit(buffer, stderr: stderr)
                buffer = Data()
            }
            pending[stderr] = buffer
        }

        func flush() {
            for isStderr in [false, true] {
                if let b = pending[isStderr], !b.isEmpty { emit(b + Data("\n".utf8), stderr: isStderr) }
                pending[isStderr] = Data()
            }
        }

        private func emit(_ data: Data, stderr: Bool) {
            let text = redactor.redact(String(decoding: data, as: UTF8.self))
            if stderr {
                log.write(text.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map { "! " + $0 + "\n" }.joined())
            } else {
                log.write(text)
            }
        }
    }
}
