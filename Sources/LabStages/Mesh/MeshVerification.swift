import Foundation
import LabKit

/// What the seed 14 check found from one cluster: which helloworld versions answered a client in
/// that cluster, after how many calls. `mesh-verify` prints it as `verify.<cluster>.*` lines.
public struct MeshVerifyResult: Sendable, Hashable, Codable {
    /// The cluster the calls were made from.
    public var cluster: String
    /// The versions that must answer (one per cluster: v1, v2).
    public var expected: [String]
    /// The versions that did answer, sorted.
    public var answered: [String]
    /// Calls made.
    public var tries: Int
    /// The bound on calls.
    public var maxTries: Int
    public var ok: Bool
    /// Seconds the check took from this cluster.
    public var seconds: Double
    /// What the script said on stderr (its log), for reports.
    public var log: [String]
    /// The script's failure, when it failed for another reason than a missing version.
    public var failure: String?

    public init(cluster: String, expected: [String], answered: [String], tries: Int, maxTries: Int, ok: Bool,
                seconds: Double = 0, log: [String] = [], failure: String? = nil) {
        self.cluster = cluster
        self.expected = expected
        self.answered = answered
        self.tries = tries
        self.maxTries = maxTries
        self.ok = ok
        self.seconds = seconds
        self.log = log
        self.failure = failure
    }

    /// The versions that never answered.
    public var missing: [String] { expected.filter { !answered.contains($0) } }

    /// Reads `mesh-verify`'s output for one cluster. `ok` needs the script's own `ok=true`, a zero
    /// exit and every expected version among the answers: any one of them missing is a failure.
    public static func parse(cluster: String, stdout: String, stderr: String = "", exitStatus: Int32,
                             expected: [String], maxTries: Int, seconds: Double = 0) -> MeshVerifyResult {
        let out = StageOutput.parse(stdout)
        let answered = (out["verify.\(cluster).answered"] ?? "").split(separator: ",")
            .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }.sorted()
        let tries = Int(out["verify.\(cluster).tries"] ?? "") ?? 0
        let claimed = out["verify.\(cluster).ok"] == "true"
        let log = stderr.split(separator: "\n").map(String.init)
        let complete = expected.allSatisfy { answered.contains($0) }
        let ok = claimed && exitStatus == 0 && complete
        var failure: String?
        if !ok {
            if out["verify.\(cluster).ok"] == nil {
                failure = log.last(where: { $0.contains("error") || $0.contains("no ") }) ?? log.last ?? "mesh-verify printed no result (exit \(exitStatus))"
            } else if claimed && !complete {
                failure = "the check reported success but \(expected.filter { !answered.contains($0) }.joined(separator: ", ")) did not answer"
            }
        }
        return MeshVerifyResult(cluster: cluster, expected: expected, answered: answered, tries: tries, maxTries: maxTries,
                                ok: ok, seconds: seconds, log: log, failure: failure)
    }

    /// One line for logs: `from cluster1: v1,v2 answered in 2 tries (of 30): ok`.
    public var summaryLine: String {
        let versions = answered.isEmpty ? "no version" : answered.joined(separator: ",")
        return "from \(cluster): \(versions) answered in \(tries) \(tries == 1 ? "try" : "tries") (of \(maxTries)): "
            + (ok ? "ok" : "FAILED" + (missing.isEmpty ? "" : ", \(missing.joined(separator: ",")) never answered"))
    }

    /// The failure as an error with a hint (what to look at next).
    public var error: LabError {
        let message = failure.map { "the mesh check from \(cluster) failed: \($0)" }
            ?? "from \(cluster), \(missing.joined(separator: ", ")) never answered in \(tries) tries"
        return LabError(.commandFailed, message, location: .other("context \(cluster), namespace sample"),
                        hint: "check both remote secrets and east-west gateways (istioctl --context=\(cluster) proxy-config endpoint <client pod>.sample | grep helloworld); re-run with labctl verify")
    }
}

/// Runs `mesh-verify` from every cluster (seed 14): `lab.mesh-verify` and `labctl verify` share it.
public struct MeshVerifier: Sendable {
    public let services: LabServices

    public init(services: LabServices) { self.services = services }

    /// One result per cluster, in lab.json order. A script that fails (a version never answered)
    /// is a result with `ok == false`, not an error; a node that cannot be reached is an error.
    public func run(log: @escaping @Sendable (String) -> Void = { _ in }) async throws -> [MeshVerifyResult] {
        let scripts = services.scripts
        guard let mesh = scripts.meshNode else {
            throw LabError(.invalidInput, "the lab has no control plane to run the mesh check on", location: .lab("clusters"))
        }
        let expected = StageScripts.helloworldVersions(count: services.lab.clusters.count)
        var results: [MeshVerifyResult] = []
        for cluster in services.lab.clusters {
            let script = try scripts.render(.meshVerify, cluster: cluster.name)
            let session: any GuestSession
            let result: CommandResult
            let started = ContinuousClock.now
            do {
                session = try await services.sessions.session(for: mesh.name)
                result = try await session.run(try script.command())
            } catch let e as LabError where e.code == .connection {
                await services.sessions.drop(node: mesh.name)
                throw e
            }
            let elapsed = ContinuousClock.now - started
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            for line in result.stderrText.split(separator: "\n") { log("mesh-verify: \(line)") }
            results.append(MeshVerifyResult.parse(cluster: cluster.name, stdout: result.stdoutText, stderr: result.stderrText,
                                                  exitStatus: result.exitStatus, expected: expected,
                                                  maxTries: StageScripts.verifyTries, seconds: seconds))
        }
        return results
    }
}
