import Foundation

/// PLACEHOLDER (branch `net`): the VMware-driver helper writes the real
/// `HostProcessRunner` (deadlines, process-group kill); the lead replaces this
/// file at merge. It runs argv without a shell and waits for the process.
public struct HostProcessRunner: CommandRunner {
    public init() {}

    public func run(_ command: Command) async throws -> CommandResult {
        guard let executable = command.arguments.first else {
            throw LabError(.internalError, "empty command")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = Array(command.arguments.dropFirst())
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        if command.stdin != nil { process.standardInput = Pipe() } else { process.standardInput = FileHandle.nullDevice }
        let start = ContinuousClock.now
        do { try process.run() } catch {
            throw LabError(.commandFailed, "cannot start the command", location: command.display, cause: "\(error)")
        }
        if let input = command.stdin, let pipe = process.standardInput as? Pipe {
            pipe.fileHandleForWriting.write(input)
            try? pipe.fileHandleForWriting.close()
        }
        // The deadline: terminate the process when it passes (the real runner kills the process group).
        let watchdog = Task.detached { [deadline = command.deadline] in
            try await Task.sleep(for: deadline)
            if process.isRunning { process.terminate() }
        }
        defer { watchdog.cancel() }
        // Read both pipes before waiting, so a full pipe cannot deadlock (vmware.md 6.13).
        async let stdout = Task.detached { out.fileHandleForReading.readDataToEndOfFile() }.value
        async let stderr = Task.detached { err.fileHandleForReading.readDataToEndOfFile() }.value
        let (o, e) = await (stdout, stderr)
        process.waitUntilExit()
        let signalled = process.terminationReason == .uncaughtSignal
        if signalled && ContinuousClock.now - start >= command.deadline {
            throw LabError(.timeout, "the command did not finish within \(command.deadline)", location: command.display)
        }
        return CommandResult(exitStatus: signalled ? -1 : process.terminationStatus,
                             exitSignal: signalled ? "\(process.terminationStatus)" : nil,
                             stdout: o, stderr: e, duration: ContinuousClock.now - start)
    }
}
