import Foundation
import LabKit
import Testing
@testable import LabStages

/// Runs rendered scripts under the real bash with stub commands in PATH (kubectl cannot reach a
/// cluster here). `sleep` is stubbed too, so bounded waits finish at once and their bounds are visible.
@Suite struct StubRunTests {
    struct Stubs {
        let dir: String
        init(_ stubs: [String: String]) throws {
            dir = try Fixture.tempDir()
            // No script run here reaches the network: curl, unless a test brings its own, fails as curl does offline.
            let offlineCurl = "printf '%s\\n' \"curl $*\" >> \"$STUB/journal\"; echo 'curl: (6) Could not resolve host' >&2; exit 6"
            for (name, body) in stubs.merging(["sleep": "exit 0", "curl": offlineCurl], uniquingKeysWith: { a, _ in a }) {
                let path = "\(dir)/\(name)"
                try "#!/bin/sh\n\(body)\n".write(toFile: path, atomically: true, encoding: .utf8)
                chmod(path, 0o755)
            }
        }
        var environment: [String: String] {
            var env = ProcessInfo.processInfo.environment
            env["PATH"] = dir + ":" + (env["PATH"] ?? "/usr/bin:/bin")
            env["HOME"] = dir
            env["TMPDIR"] = dir
            env["STUB"] = dir
            return env
        }
        func run(_ script: RenderedScript) throws -> (status: Int32, stdout: String, stderr: String) {
            let command = try script.command()
            return try Fixture.run(command.arguments, stdin: command.stdin, environment: environment)
        }
        func journal() -> [String] {
            ((try? String(contentsOfFile: "\(dir)/journal", encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
        }
        func remove() { try? FileManager.default.removeItem(atPath: dir) }
    }

    /// kubectl that answers helloworld calls from a list of replies, one per call.
    static func verifyKubectl(replies: [String]) -> String {
        """
        printf '%s\\n' "$*" >> "$STUB/journal"
        case "$*" in
          *"get pod -l app="*) echo client-7d9f ;;
          *" exec "*)
            n=$(cat "$STUB/calls" 2>/dev/null || echo 0); n=$((n + 1)); echo "$n" > "$STUB/calls"
            case "$n" in
        \(replies.enumerated().map { "      \($0.offset + 1)) echo '\($0.element)' ;;" }.joined(separator: "\n"))
              *) echo 'upstream connect error' ;;
            esac ;;
        esac
        """
    }

    @Test func meshVerifyStopsWhenBothVersionsAnswered() throws {
        let stubs = try Stubs(["kubectl": Self.verifyKubectl(replies: [
            "Hello version: v2, instance: helloworld-v2-abc", "no healthy upstream",
            "Hello version: v2, instance: helloworld-v2-abc", "Hello version: v1, instance: helloworld-v1-xyz",
        ])])
        defer { stubs.remove() }
        let script = try Fixture.scripts(profile: "current").render(.meshVerify, cluster: "cluster1")
        let result = try stubs.run(script)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(StageOutput.parse(result.stdout) == ["verify.cluster1.answered": "v1,v2", "verify.cluster1.tries": "4", "verify.cluster1.ok": "true"])
        let calls = stubs.journal().filter { $0.contains(" exec ") }
        #expect(calls.count == 4)
        #expect(calls.allSatisfy { $0.hasPrefix("--context=cluster1 -n sample exec -c curl client-7d9f -- curl -sS --max-time 5 helloworld.sample:5000/hello") })
    }

    @Test func meshVerifyGivesUpAfterItsBoundAndSaysWhatIsMissing() throws {
        let stubs = try Stubs(["kubectl": Self.verifyKubectl(replies: Array(repeating: "Hello version: v1, instance: helloworld-v1-xyz", count: 100))])
        defer { stubs.remove() }
        let script = try Fixture.scripts(profile: "seed-2021").render(.meshVerify, cluster: "cluster2")
        let result = try stubs.run(script)
        #expect(result.status != 0)
        #expect(StageOutput.parse(result.stdout) == ["verify.cluster2.answered": "v1", "verify.cluster2.tries": "\(StageScripts.verifyTries)", "verify.cluster2.ok": "false"])
        #expect(result.stderr.contains("from cluster2, v2 never answered in \(StageScripts.verifyTries) tries"))
        #expect(stubs.journal().filter { $0.contains(" exec -c sleep ") }.count == StageScripts.verifyTries)
    }

    @Test func waitNodesIsBoundedAndNamesTheNode() throws {
        // The worker's Ready condition is read from a file, so one stub can answer both ways.
        let stubs = try Stubs(["kubectl": """
            printf '%s\\n' "$*" >> "$STUB/journal"
            case "$*" in
              *"get node cluster1-ctrl-plane "*) echo True ;;
              *"get node cluster1-worker-node01 "*) cat "$STUB/worker-ready" 2>/dev/null || echo False ;;
              *"rollout status"*) exit 0 ;;
            esac
            """])
        defer { stubs.remove() }
        let scripts = try Fixture.scripts(profile: "seed-2021")
        let notReady = try stubs.run(try scripts.render(.waitNodes, cluster: "cluster1"))
        #expect(notReady.status != 0)
        #expect(notReady.stderr.contains("node cluster1-worker-node01 is not Ready after 5 minutes"))
        #expect(stubs.journal().filter { $0.contains("get node cluster1-worker-node01 ") }.count == 60, "60 tries of 5 s")
        try "True\n".write(toFile: stubs.dir + "/worker-ready", atomically: true, encoding: .utf8)
        let ready = try stubs.run(try scripts.render(.waitNodes, cluster: "cluster1"))
        #expect(ready.status == 0, "\(ready.stderr)")
        #expect(StageOutput.parse(ready.stdout) == ["node.cluster1-ctrl-plane": "Ready", "node.cluster1-worker-node01": "Ready", "coredns": "ready"])
    }

    @Test func dnsCheckComparesTheAnswerAndCleansUp() throws {
        let answer = """
            Server:\t\t10.96.0.10
            Address:\t10.96.0.10#53

            Name:\tkubernetes.default.svc.cluster.local
            Address: ANSWER
            """
        func kubectl(_ ip: String) -> String {
            """
            printf '%s\\n' "$*" >> "$STUB/journal"
            case "$*" in
              "exec "*) cat <<'EOF'
            \(answer.replacingOccurrences(of: "ANSWER", with: ip))
            EOF
              ;;
            esac
            """
        }
        let scripts = try Fixture.scripts(profile: "current")
        let good = try Stubs(["kubectl": kubectl("10.96.0.1")])
        defer { good.remove() }
        let ok = try good.run(try scripts.render(.dnsCheck, cluster: "cluster2"))
        #expect(ok.status == 0, "\(ok.stderr)")
        #expect(StageOutput.parse(ok.stdout) == ["dns.kubernetes.default": "10.96.0.1"])
        #expect(good.journal().last?.hasPrefix("delete pod labctl-dnsutils") == true, "the pod is deleted at the end")
        let wrong = try Stubs(["kubectl": kubectl("10.0.0.1")])
        defer { wrong.remove() }
        let bad = try wrong.run(try scripts.render(.dnsCheck, cluster: "cluster2"))
        #expect(bad.status != 0 && bad.stderr.contains("expected 10.96.0.1"))
        #expect(wrong.journal().last?.hasPrefix("delete pod labctl-dnsutils") == true, "cleaned up after a failure too")
    }

    @Test func remoteSecretNeverPassesTheTokenInArgv() throws {
        let stubs = try Stubs([
            "istioctl": "printf '%s\\n' \"istioctl $*\" >> \"$STUB/journal\"; printf 'kind: Secret\\ndata: {token: SECRET-BEARER}\\n'",
            "kubectl": "printf '%s\\n' \"kubectl $*\" >> \"$STUB/journal\"; cat >> \"$STUB/applied-$(echo \"$*\" | sed 's/.*--context=\\([a-z0-9]*\\).*/\\1/')\"",
        ])
        defer { stubs.remove() }
        let result = try stubs.run(try Fixture.scripts(profile: "seed-2021").render(.istioRemoteSecret, cluster: "cluster2"))
        #expect(result.status == 0, "\(result.stderr)")
        #expect(stubs.journal() == [
            "istioctl x create-remote-secret --context=cluster2 --name=cluster2 --server=https://194.89.64.13:6443",
            "kubectl --context=cluster1 apply -f -",
        ])
        #expect(try String(contentsOfFile: "\(stubs.dir)/applied-cluster1", encoding: .utf8).contains("SECRET-BEARER"))
        #expect(!result.stdout.contains("SECRET-BEARER") && !result.stderr.contains("SECRET-BEARER"))
    }
}

extension StubRunTests {
    /// The context guard (docs/stages.md, "The context guard after istioctl install"): if istiod in context X reports another cluster's identity, the stage fails.
    @Test func istioInstallChecksTheIdentityOfTheIstiodItInstalled() throws {
        func kubectl(clusterID: String) -> String {
            """
            printf '%s\\n' "kubectl $*" >> "$STUB/journal"
            case "$*" in
              *"get deployment istiod"*) if [ -f "$STUB/installed" ]; then echo \(clusterID); fi ;;
              *"get namespace istio-system"*) echo network2 ;;
            esac
            """
        }
        let istioctl = "printf '%s\\n' \"istioctl $*\" >> \"$STUB/journal\"; cp \"$5\" \"$STUB/operator.yaml\"; touch \"$STUB/installed\""
        let script = try Fixture.scripts(profile: "current").render(.istioInstall, cluster: "cluster2")
        let good = try Stubs(["kubectl": kubectl(clusterID: "cluster2"), "istioctl": istioctl])
        defer { good.remove() }
        let ok = try good.run(script)
        #expect(ok.status == 0, "\(ok.stderr)")
        #expect(StageOutput.parse(ok.stdout)["istio.cluster2.clusterId"] == "cluster2")
        #expect(good.journal().contains { $0.hasPrefix("istioctl install --context=cluster2 -y -f ") })
        let op = try String(contentsOfFile: "\(good.dir)/operator.yaml", encoding: .utf8)
        #expect(op.contains("clusterName: cluster2") && op.contains("network: network2") && !op.contains("cluster1"))
        // Re-run: istiod already has this identity, so nothing is installed again.
        let again = try good.run(script)
        #expect(StageOutput.parse(again.stdout)["istio.cluster2.install"] == "skipped")
        #expect(good.journal().filter { $0.hasPrefix("istioctl install") }.count == 1)

        let wrong = try Stubs(["kubectl": kubectl(clusterID: "cluster1"), "istioctl": istioctl])
        defer { wrong.remove() }
        let bad = try wrong.run(script)
        #expect(bad.status != 0)
        #expect(bad.stderr.contains("istiod in context cluster2 reports CLUSTER_ID=cluster1"))
    }

    @Test func metallbPatchesStrictARPOnlyInIPVSMode() throws {
        func kubectl(mode: String) -> String {
            """
            printf '%s\\n' "$*" >> "$STUB/journal"
            case "$*" in
              *"get configmap kube-proxy -o jsonpath"*) printf 'apiVersion: kubeproxy.config.k8s.io/v1alpha1\\nipvs:\\n  strictARP: false\\nmode: \(mode)\\n' ;;
              *"get configmap kube-proxy -o yaml"*) printf 'data:\\n  config.conf: |-\\n    ipvs:\\n      strictARP: false\\n' ;;
              *"get endpoints metallb-webhook-service"*) echo 10.32.0.5 ;;
              *"apply -f -"*) cat > "$STUB/kube-proxy.yaml" ;;
              *"apply -f /"*pool.yaml) cp "$(echo "$*" | sed 's/.*apply -f //')" "$STUB/pool.yaml" ;;
              *"apply -f /"*) grep -q '^downloaded ' "$(echo "$*" | sed 's/.*apply -f //')" ;;
            esac
            """
        }
        // curl -fsSL … -o DEST URL (_lib.sh's fetch): writes a marker naming the URL.
        let curl = "printf '%s\\n' \"curl $*\" >> \"$STUB/journal\"; while [ $# -gt 1 ]; do [ \"$1\" = -o ] && out=$2; shift; done; echo \"downloaded $1\" > \"$out\""
        let scripts = try Fixture.scripts(profile: "current")
        let iptables = try Stubs(["kubectl": kubectl(mode: "iptables"), "curl": curl])
        defer { iptables.remove() }
        let plain = try iptables.run(try scripts.render(.metallb, cluster: "cluster1"))
        #expect(plain.status == 0, "\(plain.stderr)")
        #expect(!iptables.journal().contains { $0.contains("rollout restart daemonset/kube-proxy") })
        #expect(StageOutput.parse(plain.stdout)["kubeProxy.strictARP"] == nil)
        #expect(try String(contentsOfFile: "\(iptables.dir)/pool.yaml", encoding: .utf8).contains("- 194.89.64.81-194.89.64.100"))
        let order = iptables.journal()
        let webhook = order.firstIndex { $0.contains("metallb-webhook-service") } ?? 99
        let pool = order.firstIndex { $0.hasPrefix("apply -f /") && $0.hasSuffix("/pool.yaml") } ?? -1
        #expect(webhook < pool, "the pool is applied after the webhook has an endpoint")
        // MetalLB's manifest is fetched (so the host cache can serve it), then applied from the file.
        let native = "https://raw.githubusercontent.com/metallb/metallb/v0.16.1/config/manifests/metallb-native.yaml"
        let fetched = order.firstIndex { $0.hasPrefix("curl ") && $0.hasSuffix(" " + native) } ?? 99
        let applied = order.firstIndex { $0.hasPrefix("apply -f /") && $0.hasSuffix("/metallb-native.yaml") } ?? -1
        #expect(fetched < applied && applied < webhook, "\(order)")

        let ipvs = try Stubs(["kubectl": kubectl(mode: "ipvs"), "curl": curl])
        defer { ipvs.remove() }
        let patched = try ipvs.run(try scripts.render(.metallb, cluster: "cluster1"))
        #expect(patched.status == 0, "\(patched.stderr)")
        #expect(StageOutput.parse(patched.stdout)["kubeProxy.strictARP"] == "true")
        #expect(try String(contentsOfFile: "\(ipvs.dir)/kube-proxy.yaml", encoding: .utf8).contains("strictARP: true"))
        #expect(ipvs.journal().contains { $0.contains("rollout restart daemonset/kube-proxy") })
    }
}

extension StubRunTests {
    /// Seed 2.2/2.3 with a stub sudo: the password reaches `sudo -S` on a pipe, never argv; the key is
    /// added once; the sudoers rule is checked with visudo before it is installed.
    @Test func baseAccessUsesThePasswordOnceAndOnlyOnStdin() throws {
        let password = "correct horse battery staple"
        let stubs = try Stubs([
            // `sudo -n …` works once the rule exists; `sudo -S -p '' bash -c SCRIPT NAME RULE FILE` checks the
            // password from stdin and runs SCRIPT with FILE moved into the stub directory.
            "sudo": """
                printf '%s\\n' "sudo $*" >> "$STUB/journal"
                if [ "$1" = -n ]; then [ -f "$STUB/sudoers" ]; exit $?; fi
                IFS= read -r pw
                [ "$pw" = '\(password)' ] || { echo 'sudo: wrong password' >&2; exit 1; }
                shift 5
                exec bash -c "$1" "$2" "$3" "$STUB/sudoers"
                """,
            "visudo": "printf '%s\\n' \"visudo $*\" >> \"$STUB/journal\"; grep -qx 'hung ALL=(ALL) NOPASSWD: ALL' \"$2\"",
        ])
        defer { stubs.remove() }
        let script = try Fixture.scripts(profile: "seed-2021").render(.baseAccess)
        #expect(!script.sudo && script.input == .sudoPassword)
        let command = try script.command(input: password)
        let first = try Fixture.run(command.arguments, stdin: command.stdin, environment: stubs.environment)
        #expect(first.status == 0, "\(first.stderr)")
        #expect(StageOutput.parse(first.stdout) == ["ssh.key": "added", "sudo.nopasswd": "added"])
        #expect(try String(contentsOfFile: "\(stubs.dir)/sudoers", encoding: .utf8) == "hung ALL=(ALL) NOPASSWD: ALL\n")
        #expect(try String(contentsOfFile: "\(stubs.dir)/.ssh/authorized_keys", encoding: .utf8) == Fixture.publicKey + "\n")
        #expect(!stubs.journal().joined().contains(password), "the password is in no argv")
        #expect(stubs.journal().contains { $0.hasPrefix("visudo -cf ") })
        // Re-run: nothing changes and no password is needed.
        let again = try Fixture.run(try script.command(input: "unused").arguments, stdin: try script.command(input: "unused").stdin,
                                    environment: stubs.environment)
        #expect(StageOutput.parse(again.stdout) == ["ssh.key": "present", "sudo.nopasswd": "present"])
        #expect(try String(contentsOfFile: "\(stubs.dir)/.ssh/authorized_keys", encoding: .utf8) == Fixture.publicKey + "\n")
    }

    @Test func eastwestGatewayWithoutAnAddressNamesMetalLB() throws {
        let stubs = try Stubs([
            "kubectl": "printf '%s\\n' \"kubectl $*\" >> \"$STUB/journal\"; case \"$*\" in *'get service istio-eastwestgateway -o jsonpath'*) echo ;; *'get service'*) exit 1 ;; esac",
            "istioctl": "printf '%s\\n' \"istioctl $*\" >> \"$STUB/journal\"",
        ])
        defer { stubs.remove() }
        // The generator comes from the Istio release on the node; a stub stands in for it.
        let script = try Fixture.scripts(profile: "seed-2021").render(.istioEastWest, cluster: "cluster1")
        let text = script.text.replacingOccurrences(of: "ISTIO_DIR=/opt/istio-1.10.1", with: "ISTIO_DIR=\(stubs.dir)/istio")
        try FileManager.default.createDirectory(atPath: "\(stubs.dir)/istio/samples/multicluster", withIntermediateDirectories: true)
        try "#!/bin/sh\nprintf '%s\\n' \"gen $*\" >> \"$STUB/journal\"\necho 'kind: IstioOperator'\n"
            .write(toFile: "\(stubs.dir)/istio/samples/multicluster/gen-eastwest-gateway.sh", atomically: true, encoding: .utf8)
        chmod("\(stubs.dir)/istio/samples/multicluster/gen-eastwest-gateway.sh", 0o755)
        var patched = script
        patched.text = text
        let result = try stubs.run(patched)
        #expect(result.status != 0)
        #expect(result.stderr.contains("MetalLB gives it one from 194.89.64.81-194.89.64.100"))
        let journal = stubs.journal()
        #expect(journal.contains("gen --mesh mesh1 --cluster cluster1 --network network1"))
        #expect(journal.contains { $0.hasPrefix("istioctl install --context=cluster1 -y -f ") })
        #expect(journal.filter { $0.contains("-o jsonpath={.status.loadBalancer.ingress[0].ip}") }.count == 60)
    }
}
