import ArgumentParser
import Foundation
import LabKit

/// How stage progress is shown (`--progress`), after apple/container's `--progress auto|…`.
enum ProgressMode: String, CaseIterable, ExpressibleByArgument, Sendable {
    /// A live view on a terminal; plain lines when stdout is not a terminal or `CI` is set.
    case auto
    /// The live view (ANSI redraw), even if auto-detection would not choose it.
    case tty
    /// One line per event, no ANSI: logs, CI, pipes.
    case plain
    /// One JSON object per event per line, for tools.
    case json
}

/// `--progress auto|tty|plain|json`, shared by every command that runs stages.
struct ProgressOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("How to show progress: auto, tty, plain or json.", valueName: "mode"))
    var progress: ProgressMode = .auto

    /// The mode after auto-detection: never `.auto`.
    func resolved(isTTY: Bool = isatty(STDOUT_FILENO) == 1,
                  environment: [String: String] = ProcessInfo.processInfo.environment) -> ProgressMode {
        Self.resolve(progress, isTTY: isTTY, environment: environment)
    }

    static func resolve(_ mode: ProgressMode, isTTY: Bool, environment: [String: String]) -> ProgressMode {
        guard mode == .auto else { return mode }
        // tart and SwiftPM do the same: no redraw when CI is set or the terminal cannot take it.
        if !isTTY || environment["CI"] != nil || environment["TERM"] == "dumb" { return .plain }
        return .tty
    }

    /// A renderer for the resolved mode, writing to standard output.
    func makeRenderer(resumeCommand: String) -> any ProgressRenderer {
        Self.makeRenderer(mode: resolved(), resumeCommand: resumeCommand, output: ProgressOutput.standardOutput)
    }

    static func makeRenderer(mode: ProgressMode, resumeCommand: String, output: ProgressOutput,
                             clock: @escaping @Sendable () -> Duration = ProgressClock.now) -> any ProgressRenderer {
        switch mode {
        case .json: return JSONProgressRenderer(output: output, resumeCommand: resumeCommand)
        case .tty: return TTYProgressRenderer(output: output, resumeCommand: resumeCommand, clock: clock)
        case .plain, .auto: return PlainProgressRenderer(output: output, resumeCommand: resumeCommand, clock: clock)
        }
    }
}

/// Where renderers write: standard output in the CLI, a buffer in tests.
struct ProgressOutput: Sendable {
    let write: @Sendable (String) -> Void

    static let standardOutput = ProgressOutput { text in
        FileHandle.standardOutput.write(Data(text.utf8))
    }
}

/// Monotonic time for elapsed times in the renderers (injectable for golden tests).
enum ProgressClock {
    private static let origin = ContinuousClock.now
    @Sendable static func now() -> Duration { ContinuousClock.now - origin }
}
