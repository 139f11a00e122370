import ArgumentParser
import Foundation
import LabKit

extension Labctl {
    /// Parses the command line, runs the command and turns errors into a message
    /// on standard error and a documented exit code (README, "Exit codes").
    public static func runMain(_ arguments: [String]? = nil) async {
        do {
            var command = try parseAsRoot(arguments)
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch let reported as AlreadyReported {
            // A stage run failed; the progress renderer has printed what, where and how to resume.
            Foundation.exit(reported.error.exitCode)
        } catch let error as LabError {
            Terminal.printError(render(error))
            Foundation.exit(error.exitCode)
        } catch let errors as LabErrors {
            for e in errors.errors { Terminal.printError(render(e)) }
            Foundation.exit(errors.errors.map(\.exitCode).max() ?? 1)
        } catch {
            exit(withError: error)
        }
    }

    /// What failed, where, why and what to do next; `kind` is `error` or `warning`.
    static func render(_ error: LabError, kind: String = "error") -> String {
        var lines = ["\(kind): \(error.message)"]
        if let location = error.location { lines.append("  at: \(location)") }
        if let cause = error.causeText { lines.append("  cause: \(cause)") }
        if let hint = error.hint { lines.append("  hint: \(hint)") }
        return lines.joined(separator: "\n")
    }
}

/// The CLI's only way to write: LabKit and the drivers never print.
enum Terminal {
    static func printError(_ text: String) {
        FileHandle.standardError.write(Data((text + "\n").utf8))
    }

    static var isInteractive: Bool {
        isatty(STDOUT_FILENO) == 1 && ProcessInfo.processInfo.environment["CI"] == nil
    }
}
