import Foundation
import LabKit

/// The live view on a terminal: finished stages scroll up as `✓ stage (1.2s)` / `✗ …`, and below
/// them one redrawn line per running stage with a spinner and its elapsed time.
///
/// Only chosen when stdout is a terminal and `CI` is not set (`ProgressOptions.resolve`).
/// Skipped stages are counted, not listed, so a no-op `up` stays one line. A ticker redraws
/// the running lines four times a second while something runs; it is UI only, the engine
/// never waits on it.
final class TTYProgressRenderer: ProgressRenderer, @unchecked Sendable {
    private static let spinner = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"]

    private let output: ProgressOutput
    private let resumeCommand: String
    private let clock: @Sendable () -> Duration
    private let lock = NSLock()
    private var running: [(id: StageInstanceID, since: Duration, note: String?)] = []
    private var drawnLines = 0
    private var frame = 0
    private var skipped = 0
    private var ticker: Task<Void, Never>?
    private var finished = false

    private let columns: @Sendable () -> Int?

    init(output: ProgressOutput, resumeCommand: String, clock: @escaping @Sendable () -> Duration = ProgressClock.now,
         tick: Duration? = .milliseconds(250), columns: @escaping @Sendable () -> Int? = TTYProgressRenderer.terminalColumns) {
        self.columns = columns
        self.output = output
        self.resumeCommand = resumeCommand
        self.clock = clock
        if let tick {
            ticker = Task { [weak self] in
                while !Task.isCancelled {
                    try? await Task.sleep(for: tick)
                    // Ends with the renderer even if finish() was never called.
                    guard let self else { return }
                    self.redraw()
                }
            }
        }
        output.write("\u{1B}[?25l")  // hide the cursor while redrawing
    }

    func handle(_ event: EngineEvent) {
        lock.lock()
        defer { lock.unlock() }
        var permanent = ""
        switch event {
        case .runStarted:
            break
        case .stageStarted(let id):
            running.append((id, clock(), nil))
        case .stageSkipped:
            skipped += 1
        case .stageFinished(let id, let duration):
            running.removeAll { $0.id == id }
            permanent = "\u{1B}[32m✓\u{1B}[0m \(id) \u{1B}[2m(\(formatDuration(duration)))\u{1B}[0m\n"
        case .stageFailed(let id, let error, _):
            let since = running.first { $0.id == id }?.since
            running.removeAll { $0.id == id }
            let elapsed = since.map { " (\(formatDuration(clock() - $0)))" } ?? ""
            permanent = "\u{1B}[31m✗\u{1B}[0m \(id)\(elapsed): \(error.message)\n"
        case .waiting(let id, let requirement, let hint):
            permanent = "\u{1B}[2m… \(id) waits for \(requirement)\(hint.map { " (\($0))" } ?? "")\u{1B}[0m\n"
        case .warning(let text):
            permanent = "\u{1B}[33mwarning:\u{1B}[0m \(text)\n"
        case .log(let scope, let line):
            // The last log line shows next to the node's running stage; full logs are in the node log.
            if let i = running.firstIndex(where: { $0.id.scope == scope }) { running[i].note = line }
        case .runFinished(let summary):
            running.removeAll()
            if skipped > 0 { permanent += "\u{1B}[2m\(skipped) stage\(skipped == 1 ? "" : "s") already done\u{1B}[0m\n" }
            permanent += summaryLine(summary) + "\n"
            if summary.outcome != .succeeded {
                permanent += "\n" + FailureSummary.render(summary, resumeCommand: resumeCommand)
            }
        }
        draw(permanent: permanent)
    }

    private func redraw() {
        lock.lock()
        defer { lock.unlock() }
        guard !finished, !running.isEmpty else { return }
        frame += 1
        draw(permanent: "")
    }

    /// Erases the live lines, prints what scrolls up, then the running lines again. Caller holds the lock.
    private func draw(permanent: String) {
        guard !finished else { return }
        var text = String(repeating: "\u{1B}[1A\u{1B}[2K", count: drawnLines)
        if drawnLines > 0 { text += "\r" }
        text += permanent
        let now = clock()
        let spin = Self.spinner[frame % Self.spinner.count]
        // A running line must not wrap: the redraw erases exactly one terminal row per line.
        let width = columns() ?? 10_000
        for r in running {
            let elapsed = formatDuration(now - r.since)
            var id = r.id.description
            let fixed = 2 + 1 + elapsed.count  // spinner and space, space, elapsed
            if fixed + id.count > width - 1 { id = String(id.prefix(max(1, width - 1 - fixed))) }
            var line = "\u{1B}[36m\(spin)\u{1B}[0m \(id) \(elapsed)"
            let room = min(60, width - 1 - fixed - id.count - 1)
            if let note = r.note, room >= 8 {
                let shown = note.count > room ? String(note.prefix(room - 1)) + "…" : note
                line += " \u{1B}[2m\(shown)\u{1B}[0m"
            }
            text += line + "\n"
        }
        drawnLines = running.count
        output.write(text)
    }

    /// The terminal's width (stdout), or nil when it cannot be read.
    @Sendable static func terminalColumns() -> Int? {
        var size = winsize()
        guard ioctl(STDOUT_FILENO, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0 else { return nil }
        return Int(size.ws_col)
    }

    func finish() {
        lock.lock()
        defer { lock.unlock() }
        guard !finished else { return }
        finished = true
        ticker?.cancel()
        output.write("\u{1B}[?25h")  // cursor back, also after Ctrl-C
    }
}
