import Foundation
import LabKit

/// Fetches bytes from an origin (or a mirror). The cache's only way out of the machine.
public protocol ArtifactDownloader: Sendable {
    /// Downloads `url` into `path`. When `path` already holds the start of the file (an interrupted
    /// fill), the download continues from there if the server allows it, else starts over.
    func download(_ url: String, to path: String) async throws
    /// A small file (a checksum file), in memory.
    func fetch(_ url: String) async throws -> Data
}

/// curl on the host, as a `CommandRunner` command (so deadlines and Ctrl-C kill it like any host tool).
///
/// `-C -` resumes from the partial file's size with an HTTP Range request. A server that ignores
/// Range makes curl stop with exit 33 ("HTTP server doesn't seem to support byte ranges. Cannot
/// resume.", curl/curl `lib/transfer.c`, CURLE_RANGE_ERROR in `include/curl/curl.h`); the partial
/// file is then thrown away and the download restarts from zero.
public struct CurlDownloader: ArtifactDownloader {
    var runner: any CommandRunner
    /// How long one artifact may take.
    var perFileDeadline: Duration

    public init(runner: any CommandRunner = HostProcessRunner(), perFileDeadline: Duration = .seconds(3600)) {
        self.runner = runner
        self.perFileDeadline = perFileDeadline
    }

    static let rangeNotSupported: Int32 = 33

    public func download(_ url: String, to path: String) async throws {
        let seconds = String(perFileDeadline.components.seconds)
        func curl(resume: Bool) -> Command {
            Command(["curl", "-fsSL", "--retry", "3", "--retry-delay", "2", "--connect-timeout", "20", "--max-time", seconds]
                + (resume ? ["-C", "-"] : []) + ["-o", path, url],
                deadline: perFileDeadline + .seconds(30))
        }
        let resume = FileManager.default.fileExists(atPath: path)
        var result = try await runner.run(curl(resume: resume))
        if resume, result.exitStatus == Self.rangeNotSupported {
            try? FileManager.default.removeItem(atPath: path)
            result = try await runner.run(curl(resume: false))
        }
        guard result.succeeded else { throw failure(url, curl(resume: resume), result) }
    }

    public func fetch(_ url: String) async throws -> Data {
        let command = Command(["curl", "-fsSL", "--retry", "3", "--connect-timeout", "20", "--max-time", "120", url], deadline: .seconds(150))
        let result = try await runner.run(command)
        guard result.succeeded else { throw failure(url, command, result) }
        return result.stdout
    }

    private func failure(_ url: String, _ command: Command, _ result: CommandResult) -> LabError {
        LabError(.commandFailed, "cannot download \(url) (curl exit \(result.exitStatus))", location: .command(command),
                 hint: "check the host's internet connection or the --mirror URL, then run labctl cache fill again (it resumes)",
                 detail: result.stderrText.trimmingCharacters(in: .whitespacesAndNewlines))
    }
}
