import Foundation

/// lab.json values that rendered scripts, remote probes and hints carry as bare shell words or YAML
/// scalars (docs/robustness.md, "Shell injection"): they may hold only ASCII letters, digits, '.',
/// '_' and '-', and may not start with '-' (an option to the command they are passed to). Checked by
/// `labctl validate` (`LabValidator.check`) and again by the script renderer, which can be called
/// with a lab that was never validated.
extension LabValidator {
    /// Every such value that breaks the rule, with its lab.json path.
    public static func scriptWordProblems(_ lab: Lab) -> [LabProblem] {
        var values: [(String, String)] = [
            (lab.name, "name"), (lab.ssh.user, "ssh.user"), (lab.mesh.id, "mesh.id"),
            (lab.base.name, "base.name"), (lab.base.interface, "base.interface"),
        ]
        for (i, c) in lab.clusters.enumerated() {
            values.append((c.name, "clusters[\(i)].name"))
            values.append((c.network, "clusters[\(i)].network"))
            for (j, n) in c.nodes.enumerated() { values.append((n.name, "clusters[\(i)].nodes[\(j)].name")) }
        }
        return values.compactMap { value, path in
            isScriptWord(value) ? nil
                : LabProblem(path: path, message: "'\(value)' cannot be used in a script",
                             hint: "use letters, digits, '.', '_' and '-' only, not starting with '-'")
        }
    }

    /// Non-empty, ASCII letters, digits and `extra` only, not starting with '-'.
    public static func isScriptWord(_ value: String, extra: String = "._-") -> Bool {
        !value.isEmpty && !value.hasPrefix("-") && value.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || extra.contains($0)) }
    }

    /// Adds the script-word problems whose path has no error yet (a bad node name already has one).
    static func checkScriptWords(_ lab: Lab, into r: inout Report) {
        let reported = Set(r.errors.map(\.path))
        r.errors += scriptWordProblems(lab).filter { !reported.contains($0.path) }
    }
}
