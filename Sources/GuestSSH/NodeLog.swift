import Foundation
import LabKit

/// The per-node log (`.labctl/logs/<node>.log`): commands, their output as it streams, and
/// exit codes. Secrets are redacted line by line, so a secret split across two network
/// reads is still caught.
final class NodeLog: @unchecked Sendable {
    let path: String
    private let lock = NSLock()
    private var handle: FileHandle?

    init(path: String) { self.path = path }

    func write(_ text: String) {
        lock.lock()
        defer { lock.unlock() }
        if handle == nil {
            let fm = FileManager.default
            try? fm.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            // O_APPEND: several sessions to one node (a reconnect, a pin replacement) share the file.
            let fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o600)
            guard fd >= 0 else { return }
            handle = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
        }
        try? handle?.write(contentsOf: Data(text.utf8))
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
