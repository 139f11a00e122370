import Foundation
@testable import LabctlCLI

/// Collects what a command or renderer writes, from any thread.
final class OutputBuffer: @unchecked Sendable {
    private let lock = NSLock()
    private var text = ""
    func append(_ s: String) { lock.withLock { text += s } }
    var value: String { lock.withLock { text } }
    var output: ProgressOutput { ProgressOutput { s in self.append(s) } }
}
