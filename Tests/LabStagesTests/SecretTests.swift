import Foundation
import LabKit
import Testing
@testable import LabStages

/// Join tokens, admin credentials and CA keys travel on standard input only, are marked secret,
/// and appear in no script text.
@Suite struct SecretTests {
    static let token = "abcdef.0123456789abcdef"
    static let hash = "sha256:0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0"
    static let joinLine = "kubeadm join 194.89.64.11:6443 --token \(token) --discovery-token-ca-cert-hash \(hash) "

    @Test(arguments: Fixture.profiles)
    func joinTokensAppearOnlyInTheSecretInput(profile: String) throws {
        let all = try Fixture.scripts(profile: profile).renderAll()
        for script in all {
            #expect(!script.text.contains(Self.token), "\(script.name) contains the join token")
            #expect(script.secrets.isEmpty, "no secret is rendered into \(script.name)")
            if script.input == nil {
                #expect(throws: LabError.self) { try script.command(input: Self.joinLine) }
                let command = try script.command()
                #expect(!String(decoding: command.stdin ?? Data(), as: UTF8.self).contains(Self.token))
            }
        }
        let join = try #require(all.first { $0.script == .kubeadmJoin })
        #expect(throws: LabError.self) { try join.command() }
        let command = try join.command(input: Self.joinLine)
        #expect(command.arguments == ["bash", "-euo", "pipefail", "-s"], "the script and the token go to stdin, not argv")
        #expect(command.secrets.contains(Self.joinLine))
        #expect(command.sudo)
        #expect(!command.display.contains(Self.token))
        let stdin = String(decoding: command.stdin ?? Data(), as: UTF8.self)
        #expect(stdin.hasPrefix(join.text) && stdin.hasSuffix(Self.joinLine + "\n"))
        #expect(!Redactor(command.secrets).redact(stdin).contains(Self.token))
        // The scripts whose output is secret are marked so.
        #expect(all.filter(\.outputIsSecret).map(\.script).sorted { $0.rawValue < $1.rawValue }.uniqued() == [.adminKubeconfig, .joinCommand])
    }

    /// Runs the real rendered join script under bash with a recording kubeadm stub: the token reaches
    /// kubeadm in a 0600 config file only, never in its argv, and the file is gone afterwards.
    @Test func joinScriptReadsTheTokenFromStdinIntoAConfigFile() throws {
        // The script skips when the machine is a Kubernetes node already; it never is in CI.
        guard !FileManager.default.fileExists(atPath: "/etc/kubernetes/kubelet.conf") else {
            Issue.record("this machine is a Kubernetes node (/etc/kubernetes/kubelet.conf exists); the join script would skip")
            return
        }
        let dir = try Fixture.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let stub = """
            #!/bin/sh
            printf '%s\\n' "$@" > "\(dir)/argv"
            cp "$3" "\(dir)/config"
            stat -c %a "$3" > "\(dir)/mode"
            echo "$3" > "\(dir)/path"
            """
        try stub.write(toFile: "\(dir)/kubeadm", atomically: true, encoding: .utf8)
        chmod("\(dir)/kubeadm", 0o755)
        let join = try Fixture.scripts(profile: "current").render(.kubeadmJoin, node: "cluster2-worker-node01")
        let command = try join.command(input: Self.joinLine)
        var env = ProcessInfo.processInfo.environment
        env["PATH"] = dir + ":" + (env["PATH"] ?? "/usr/bin:/bin")
        env["TMPDIR"] = dir
        let result = try Fixture.run(command.arguments, stdin: command.stdin, environment: env)
        #expect(result.status == 0, "join script failed: \(result.stderr)")
        #expect(result.stdout == "kubeadm.join=applied\n")
        let argv = try String(contentsOfFile: "\(dir)/argv", encoding: .utf8)
        #expect(argv.hasPrefix("join\n--config\n"))
        #expect(!argv.contains(Self.token))
        let config = try String(contentsOfFile: "\(dir)/config", encoding: .utf8)
        #expect(config.contains("token: \"\(Self.token)\""))
        #expect(config.contains("apiServerEndpoint: \"194.89.64.11:6443\""))
        #expect(config.contains("- \"\(Self.hash)\""))
        #expect(config.contains("name: cluster2-worker-node01"))
        #expect(config.contains("criSocket: unix:///var/run/containerd/containerd.sock"))
        #expect(config.contains("apiVersion: kubeadm.k8s.io/v1beta4"))
        #expect(try String(contentsOfFile: "\(dir)/mode", encoding: .utf8) == "600\n")
        let used = try String(contentsOfFile: "\(dir)/path", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(!FileManager.default.fileExists(atPath: used), "the config file with the token must be removed")
        // A line that is not a join command is refused before anything runs.
        let bad = try join.command(input: "curl http://example.invalid | sh")
        let refused = try Fixture.run(bad.arguments, stdin: bad.stdin, environment: env)
        #expect(refused.status != 0 && refused.stderr.contains("expected a 'kubeadm join' command"))
    }

    /// Runs the real mesh-kubeconfig script with HOME in a temporary directory.
    @Test func meshKubeconfigArrivesOnStdinAndIsWrittenPrivately() throws {
        let dir = try Fixture.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let kubeconfig = "apiVersion: v1\nkind: Config\nusers:\n- name: cluster1\n  user: {client-key-data: c2VjcmV0}\n"
        let script = try Fixture.scripts(profile: "seed-2021").render(.meshKubeconfig)
        let command = try script.command(input: StageInputs.kubeconfig(kubeconfig))
        #expect(command.secrets.contains(StageInputs.kubeconfig(kubeconfig)))
        var env = ProcessInfo.processInfo.environment
        env["HOME"] = dir
        let first = try Fixture.run(command.arguments, stdin: command.stdin, environment: env)
        #expect(first.status == 0, "\(first.stderr)")
        let path = "\(dir)/\(StageScripts.meshKubeconfigPath)"
        #expect(StageOutput.parse(first.stdout) == ["kubeconfig.mesh": "written", "kubeconfig.path": path])
        #expect(try String(contentsOfFile: path, encoding: .utf8) == kubeconfig)
        let mode = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int
        #expect(mode == 0o600)
        // Idempotent: the second run changes nothing.
        let second = try Fixture.run(command.arguments, stdin: command.stdin, environment: env)
        #expect(StageOutput.parse(second.stdout)["kubeconfig.mesh"] == "unchanged")
    }

    @Test func caCertificatesInputCarriesTheFourFiles() throws {
        let dir = try Fixture.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for file in StageInputs.caFiles {
            try "-----BEGIN \(file)-----\n".write(toFile: "\(dir)/\(file)", atomically: true, encoding: .utf8)
        }
        let input = try StageInputs.caCertificates(directory: dir)
        let lines = input.split(separator: "\n")
        #expect(lines.map { String($0.split(separator: " ")[0]) } == StageInputs.caFiles)
        let script = try Fixture.scripts(profile: "current").render(.istioCACerts, cluster: "cluster2")
        let command = try script.command(input: input)
        #expect(lines.allSatisfy { command.secrets.contains(String($0)) })
        try FileManager.default.removeItem(atPath: "\(dir)/ca-key.pem")
        let error = try #require(throws: LabError.self) { try StageInputs.caCertificates(directory: dir) }
        #expect(error.location?.description == "\(dir)/ca-key.pem")
    }
}

extension Array where Element: Hashable {
    func uniqued() -> [Element] {
        var seen = Set<Element>()
        return filter { seen.insert($0).inserted }
    }
}

/// Runs the real rendered istio-cacerts script against a recording kubectl stub.
@Suite struct CACertsRunTests {
    @Test func cacertsGoesToItsOwnContextAndLeavesNoKeyBehind() throws {
        let dir = try Fixture.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let pki = dir + "/pki", tmp = dir + "/tmp"
        try FileManager.default.createDirectory(atPath: pki, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: tmp, withIntermediateDirectories: true)
        for file in StageInputs.caFiles {
            try "PEM-\(file)\n".write(toFile: "\(pki)/\(file)", atomically: true, encoding: .utf8)
        }
        let stub = """
            #!/bin/sh
            printf '%s\\n' "$*" >> "\(dir)/journal"
            case "$*" in
              *"get namespace istio-system -o jsonpath"*) echo network2 ;;
              *"get namespace istio-system"*) exit 1 ;;
              *"create secret generic"*)
                echo "kind: Secret"
                for a in "$@"; do case "$a" in --from-file=*) f=${a#--from-file=}; echo "$(basename "$f"): $(cat "$f")";; esac; done ;;
              *"apply -f -"*) cat >> "\(dir)/applied" ;;
            esac
            """
        try stub.write(toFile: "\(dir)/kubectl", atomically: true, encoding: .utf8)
        chmod("\(dir)/kubectl", 0o755)
        let script = try Fixture.scripts(profile: "seed-2021").render(.istioCACerts, cluster: "cluster2")
        let command = try script.command(input: try StageInputs.caCertificates(directory: pki))
        var env = ProcessInfo.processInfo.environment
        env["PATH"] = dir + ":" + (env["PATH"] ?? "/usr/bin:/bin")
        env["TMPDIR"] = tmp
        env["HOME"] = dir
        let result = try Fixture.run(command.arguments, stdin: command.stdin, environment: env)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(StageOutput.parse(result.stdout) == ["cacerts.cluster2": "applied", "network.cluster2": "network2"])
        let journal = try String(contentsOfFile: "\(dir)/journal", encoding: .utf8).split(separator: "\n")
        #expect(journal.count == 6, "\(journal)")
        // Namespace and network label before the secret (and the secret before any Istio install).
        let label = journal.firstIndex { $0.contains("label namespace istio-system") } ?? 99
        let secret = journal.firstIndex { $0.contains("create secret generic cacerts") } ?? -1
        #expect(label < secret)
        #expect(journal.allSatisfy { $0.hasPrefix("--context=cluster2 ") }, "\(journal)")
        #expect(journal.contains { $0.contains("create namespace istio-system") })
        #expect(journal.contains { $0.contains("label namespace istio-system --overwrite topology.istio.io/network=network2") })
        let applied = try String(contentsOfFile: "\(dir)/applied", encoding: .utf8)
        for file in StageInputs.caFiles { #expect(applied.contains("\(file): PEM-\(file)")) }
        #expect(try FileManager.default.contentsOfDirectory(atPath: tmp).isEmpty, "the CA key must not stay on the node")
    }
}
