import Foundation
import LabKit

/// Runs a rendered script in a guest: its stderr goes to the stage log, its stdout is parsed
/// into `key=value` facts, a non-zero exit becomes a `LabError` naming the node and the script.
public enum ScriptRunner {
    public static func run(_ script: RenderedScript, on session: any GuestSession, _ ctx: StageContext?,
                           input: String? = nil, secrets: [String] = []) async throws -> [String: String] {
        var command = try script.command(input: input)
        command.secrets += secrets
        let result = try await session.run(command)
        let redactor = Redactor(command.secrets)
        let errLines = result.stderrText.split(separator: "\n").map { redactor.redact(String($0)) }
        if let ctx { errLines.forEach { ctx.log("\(script.script.rawValue): \($0)") } }
        guard result.succeeded else {
            throw LabError(.commandFailed,
                           "\(script.script.rawValue) failed on \(script.host) (exit \(result.exitStatus)\(result.exitSignal.map { ", signal \($0)" } ?? ""))",
                           location: .node(session.endpoint.node, path: session.endpoint.host),
                           hint: "see the node's log: labctl logs \(session.endpoint.node); fix the cause and re-run labctl up",
                           detail: errLines.suffix(5).joined(separator: "\n"))
        }
        return script.outputIsSecret ? [:] : StageOutput.parse(result.stdoutText)
    }
}
