import Foundation
import LabKit
import LabStages
import Testing
import TestbedSupport
import Yams

/// `labctl base prepare` and the Kubernetes stages of `labctl up` (issue 8, seed 2-11) end to end on
/// the testbed: the real labctl, the fake vmrun, real Linux guests, and the **recording stubs** for
/// kubeadm/kubectl/curl (Tests/Testbed/STUBS.md). This proves which commands labctl runs where, in which
/// order, with which arguments and manifests, and that no secret leaks; it never proves Kubernetes works.
@Suite("Kubernetes stages on the testbed (against the recording stubs)", .serialized,
       .enabled(if: LabctlBinary.exists, "needs the labctl binary: run `swift build --build-tests` first"),
       .enabled(if: Testbed.isAvailable, "needs root and the testbed packages (see output)"))
struct KubernetesUpTests {
    static let password = "Pw-e2e-7c1f9-not-a-real-one"

    /// Makes the base need the password: no authorized key for `lab`, sudo with a password only.
    func requirePassword(_ lab: TestLab) async throws {
        let start = try await lab.tb.vmrun(["-T", "ws", "start", lab.baseVMX])
        #expect(start.succeeded, "start the base: \(start.stderr)")
        try await lab.tb.waitForSSH("\(Testbed.network).10")
        let r = try await lab.tb.inGuest(vmx: lab.baseVMX, """
            set -e
            echo 'lab:\(Self.password)' | chpasswd
            rm -f /home/lab/.ssh/authorized_keys
            for f in /etc/sudoers.d/*; do if grep -q NOPASSWD "$f"; then rm -f "$f"; fi; done
            echo 'lab ALL=(ALL) ALL' > /etc/sudoers.d/lab-password && chmod 440 /etc/sudoers.d/lab-password
            if grep -qi '^PasswordAuthentication no' /etc/ssh/sshd_config; then
              sed -i 's/^PasswordAuthentication no/PasswordAuthentication yes/I' /etc/ssh/sshd_config
              systemctl reload ssh || systemctl reload sshd
            fi
            su lab -c 'sudo -n true' 2>/dev/null && echo still-passwordless || echo needs-password
            """)
        #expect(r.succeeded && r.stdout.contains("needs-password"), "guest setup: \(r.stdout) \(r.stderr)")
    }

    /// Every text labctl produced for this lab: its logs and the outputs given.
    func labctlTexts(_ lab: TestLab, _ outputs: [ProcessOutcome]) -> String {
        let logs = lab.stateDir.appendingPathComponent("logs")
        let files = (try? FileManager.default.contentsOfDirectory(atPath: logs.path)) ?? []
        var text = files.map { (try? String(contentsOf: logs.appendingPathComponent($0), encoding: .utf8)) ?? "" }.joined(separator: "\n")
        let journal = (try? String(contentsOf: lab.stateDir.appendingPathComponent("journal.json"), encoding: .utf8)) ?? ""
        text += journal
        for o in outputs { text += o.stdout + o.stderr }
        return text
    }

    func yaml(_ text: String) throws -> [[String: Any]] {
        try Yams.load_all(yaml: text).compactMap { $0 as? [String: Any] }
    }

    /// Everything `up` must have done for the Kubernetes stages (seed 8-11), read from the stubs' journal,
    /// the manifests they recorded, the merged kubeconfig (with the real kubectl) and the VMs' snapshots;
    /// then a second `up` must run nothing.
    func checkKubernetes(_ lab: TestLab, run: UpRun, profile: String, outputs: inout [ProcessOutcome]) async throws {
        let tb = lab.tb
        let finished = Set(run.finished)
        for c in ["cluster1", "cluster2"] {
            for stage in ["cluster.cni", "cluster.metallb", "cluster.dns-check", "cluster.checkpoint"] {
                #expect(finished.contains("\(stage)@\(c)"), "\(stage)@\(c) did not finish")
            }
            // The stubs report every node Ready from the start (STUBS.md), so cluster.ready's probe may adopt it.
            #expect(finished.contains("cluster.ready@\(c)") || Set(run.skipped).contains("cluster.ready@\(c)"), "cluster.ready@\(c)")
            #expect(finished.contains("cluster.init@\(c)-ctrl-plane"))
            #expect(finished.contains("node.join@\(c)-worker-node01"))
        }
        #expect(finished.contains("lab.kubeconfig@lab") && finished.contains("lab.kubeconfig-checkpoint@lab"))
        #expect(!finished.contains("node.join@cluster1-ctrl-plane") && !finished.contains("cluster.init@cluster1-worker-node01"))
        #expect(run.outcome.stderr.contains("export KUBECONFIG="), "the KUBECONFIG line: \(run.outcome.stderr.suffix(500))")

        // 3. The stubs' journal, per node and in order.
        let calls = try tb.stubJournal()
        for c in ["cluster1", "cluster2"] {
            let cp = lab.nodes.first { $0.name == "\(c)-ctrl-plane" }
            let worker = lab.nodes.first { $0.name == "\(c)-worker-node01" }
            let cpAddress = cp?.address ?? "?"
            let onCP = calls.filter { $0.node == "\(c)-ctrl-plane" && !$0.argv.contains("get") }
            let steps = onCP.map { call -> String in
                if call.tool == "kubeadm" { return "kubeadm " + call.argv.dropFirst().prefix(2).joined(separator: " ") }
                if call.tool == "kubectl" { return "kubectl " + (call.argv.dropFirst().first ?? "") }
                return call.tool
            }
            // kubeadm config images pull, init, user kubeconfig, token for the worker, CNI, wait, MetalLB, DNS.
            let order = ["kubeadm config images", "kubeadm init", "kubeadm token", "kubectl apply"]
            var index = 0
            for step in steps where index < order.count && step.hasPrefix(order[index]) { index += 1 }
            #expect(index == order.count, "\(c) control plane order: \(steps)")
            let initCall = try #require(onCP.first { $0.tool == "kubeadm" && $0.argv.dropFirst().first == "init" })
            let docs = try yaml(initCall.config ?? "")
            let initCfg = try #require(docs.first { $0["kind"] as? String == "InitConfiguration" })
            let clusterCfg = try #require(docs.first { $0["kind"] as? String == "ClusterConfiguration" })
            let endpoint = initCfg["localAPIEndpoint"] as? [String: Any]
            #expect(endpoint?["advertiseAddress"] as? String == cpAddress)
            #expect(clusterCfg["controlPlaneEndpoint"] as? String == "\(cpAddress):6443")
            #expect(clusterCfg["clusterName"] as? String == c)
            #expect(clusterCfg["kubernetesVersion"] as? String == (profile == "seed-2021" ? "v1.21.2" : "v1.36.1"))
            #expect(initCall.config?.contains(profile == "seed-2021" ? "kubeadm.k8s.io/v1beta2" : "kubeadm.k8s.io/v1beta4") == true)
            let networking = clusterCfg["networking"] as? [String: Any]
            let podSubnet = networking?["podSubnet"] as? String ?? ""
            #expect(!podSubnet.isEmpty && networking?["serviceSubnet"] as? String != nil)
            #expect(docs.contains { $0["kind"] as? String == "KubeletConfiguration" && $0["cgroupDriver"] as? String == "systemd" })

            // The worker joined its own cluster with the token kubeadm made, through a JoinConfiguration (no token in argv).
            let joinCall = try #require(calls.first { $0.node == worker?.name && $0.tool == "kubeadm" && $0.argv.dropFirst().first == "join" })
            let join = try #require(try yaml(joinCall.config ?? "").first)
            let discovery = (join["discovery"] as? [String: Any])?["bootstrapToken"] as? [String: Any]
            #expect(discovery?["apiServerEndpoint"] as? String == "\(cpAddress):6443")
            let clusterState = try JSONSerialization.jsonObject(with: Data(contentsOf: Testbed.stubsShared
                .appendingPathComponent("clusters/\(cpAddress)/cluster.json"))) as? [String: Any]
            let token = clusterState?["token"] as? String ?? "missing"
            #expect(discovery?["token"] as? String == token)
            #expect(!joinCall.argv.joined(separator: " ").contains(token), "the token is in kubeadm's argv")
            #expect(!labctlTexts(lab, outputs).contains(token), "the join token of \(c) appears in labctl's logs or output")

            // The manifests applied, parsed: the CNI for the profile, MetalLB's pool = lab.json's.
            let manifests = try FileManager.default.contentsOfDirectory(atPath: Testbed.stubsShared.appendingPathComponent("clusters/\(cpAddress)").path)
                .filter { $0.hasPrefix("manifest-") }.sorted()
                .map { try String(contentsOf: Testbed.stubsShared.appendingPathComponent("clusters/\(cpAddress)/\($0)"), encoding: .utf8) }
            let all = try manifests.flatMap { try yaml($0) }
            let n = Testbed.network
            let start = c == "cluster1" ? 81 : 101
            let wantPool = ["\(n).\(start)-\(n).\(start + 19)"]
            if profile == "seed-2021" {
                // Weave 2.8.1 with IPALLOC_RANGE = the pod subnet; MetalLB 0.10's ConfigMap pool.
                let weave = all.first { $0["kind"] as? String == "List" }
                let items = weave?["items"] as? [[String: Any]] ?? []
                let ds = items.first { $0["kind"] as? String == "DaemonSet" }
                let containers = (((ds?["spec"] as? [String: Any])?["template"] as? [String: Any])?["spec"] as? [String: Any])?["containers"] as? [[String: Any]] ?? []
                let env = containers.first { $0["name"] as? String == "weave" }?["env"] as? [[String: Any]] ?? []
                #expect(env.contains { $0["name"] as? String == "IPALLOC_RANGE" && $0["value"] as? String == podSubnet },
                        "Weave's IPALLOC_RANGE in \(c): \(env)")
                let pool = try #require(all.first { $0["kind"] as? String == "ConfigMap" && ($0["metadata"] as? [String: Any])?["name"] as? String == "config" })
                let config = try #require(try yaml(((pool["data"] as? [String: Any])?["config"] as? String) ?? "").first)
                let addresses = ((config["address-pools"] as? [[String: Any]])?.first?["addresses"] as? [String]) ?? []
                #expect(addresses == wantPool, "MetalLB pool of \(c): \(addresses)")
                #expect(calls.contains { $0.node == "\(c)-ctrl-plane" && $0.argv.contains { $0.contains("metallb/v0.10.2/manifests/metallb.yaml") } })
            } else {
                // Flannel with net-conf.json's Network = the pod subnet; MetalLB 0.16's IPAddressPool + L2Advertisement.
                let cfg = all.first { $0["kind"] as? String == "ConfigMap" && ($0["metadata"] as? [String: Any])?["name"] as? String == "kube-flannel-cfg" }
                let netConf = (cfg?["data"] as? [String: Any])?["net-conf.json"] as? String ?? ""
                let network = (try? JSONSerialization.jsonObject(with: Data(netConf.utf8)) as? [String: Any])?["Network"] as? String
                #expect(network == podSubnet, "Flannel's Network in \(c): \(netConf)")
                let pool = try #require(all.first { $0["kind"] as? String == "IPAddressPool" })
                #expect((pool["spec"] as? [String: Any])?["addresses"] as? [String] == wantPool, "MetalLB pool of \(c): \(pool)")
                #expect(all.contains { $0["kind"] as? String == "L2Advertisement" })
                #expect(calls.contains { $0.node == "\(c)-ctrl-plane" && $0.argv.contains { $0.contains("metallb/v0.16.1/config/manifests/metallb-native.yaml") } })
            }
            #expect(calls.contains { $0.node == "\(c)-ctrl-plane" && $0.argv.contains("nslookup") }, "DNS check in \(c)")
            #expect(calls.contains { $0.node == "\(c)-ctrl-plane" && $0.argv.starts(with: ["kubectl", "delete", "pod", "labctl-dnsutils"]) })
        }
        #expect(!labctlTexts(lab, outputs).contains(Self.password), "the password appears in labctl's logs or output")

        // 4. The merged kubeconfig, with the real kubectl.
        let kubeconfig = lab.stateDir.appendingPathComponent("kubeconfig").path
        let mode = (try FileManager.default.attributesOfItem(atPath: kubeconfig)[.posixPermissions] as? NSNumber)?.intValue
        #expect(mode == 0o600)
        let contexts = try await HostProcess.run(["kubectl", "config", "get-contexts", "-o", "name", "--kubeconfig", kubeconfig])
        #expect(Set(contexts.lines) == ["cluster1", "cluster2"], "\(contexts.stdout) \(contexts.stderr)")
        for c in ["cluster1", "cluster2"] {
            let cp = lab.nodes.first { $0.name == "\(c)-ctrl-plane" }?.address ?? "?"
            let server = try await HostProcess.run(["kubectl", "config", "view", "--kubeconfig", kubeconfig, "-o",
                                                    "jsonpath={.clusters[?(@.name==\"\(c)\")].cluster.server}"])
            #expect(server.stdout == "https://\(cp):6443", "\(c): \(server.stdout) \(server.stderr)")
            let ctx = try await HostProcess.run(["kubectl", "config", "view", "--kubeconfig", kubeconfig, "-o",
                                                 "jsonpath={.contexts[?(@.name==\"\(c)\")].context.cluster}"])
            #expect(ctx.stdout == c)
        }
        let onMesh = try await tb.inGuest(vmx: lab.vmx("cluster1-ctrl-plane"), "cat /home/lab/.kube/labctl-mesh.yaml")
        #expect(onMesh.stdout == (try String(contentsOfFile: kubeconfig, encoding: .utf8)), "the mesh node's kubeconfig differs")
        let path = try await lab.labctl(["kubeconfig"])
        #expect(path.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == kubeconfig, "\(path.stdout) \(path.stderr)")
        let export = try await lab.labctl(["kubeconfig", "--export"])
        #expect(export.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "export KUBECONFIG=\(kubeconfig)")
        for node in lab.nodes {
            #expect(lab.snapshotNames(lab.vmx(node.name)) == TestLab.checkpointsAfterUp, "snapshots of \(node.name)")
        }

        // 5. Re-running up runs no action and no Kubernetes command that changes anything.
        let callsBefore = try tb.stubJournal().count
        let vmrunBefore = lab.vmrunCalls().count
        let again = try await lab.up()
        outputs.append(again.outcome)
        #expect(again.outcome.succeeded, "\(again.summary)")
        #expect(again.started.isEmpty, "stages ran again: \(again.started)")
        let newCalls = try tb.stubJournal().dropFirst(callsBefore)
        // Probes only read: `kubectl [-n NS] [--context=C] get …` (the mesh probes name a context and namespace first).
        func subcommand(_ argv: [String]) -> String? {
            var i = 1
            while i < argv.count {
                if ["-n", "--namespace", "--context", "--kubeconfig"].contains(argv[i]) { i += 2; continue }
                if argv[i].hasPrefix("-") { i += 1; continue }
                return argv[i]
            }
            return nil
        }
        let changing = newCalls.filter { call in !(call.tool == "kubectl" && subcommand(call.argv) == "get") }
        #expect(changing.isEmpty, "Kubernetes calls on re-run: \(changing.map { $0.node + ": " + $0.argv.joined(separator: " ") })")
        #expect(lab.mutatingCalls(since: vmrunBefore).isEmpty)
        #expect(!labctlTexts(lab, outputs).contains(Self.password))
    }

    @Test("base prepare bootstraps with the password; up then runs every Kubernetes stage against the stubs (seed-2021); re-run does nothing")
    func seed2021() async throws {
        let tb = try await Testbed.shared()
        try await tb.resetStubState()
        let lab = try await TestLab.make(tb, name: "e2e-k8s", dhcp: false, baseMAC: "00:50:56:3f:00:50", snapshots: false)
        defer { Task { await lab.cleanUp() } }
        var outputs: [ProcessOutcome] = []

        // 1. base prepare, password on stdin.
        try await requirePassword(lab)
        let prepare = try await lab.labctl(["base", "prepare", "--password-stdin", "--progress", "json"], stdin: Self.password + "\n")
        outputs.append(prepare)
        let prepEvents = ProgressEvents.parse(prepare.stdout)
        let prepFinished = prepEvents.filter { $0["event"] as? String == "stageFinished" }.compactMap { $0["stage"] as? String }
        #expect(prepFinished.starts(with: ["base.access", "base.swap", "base.network"]), "base prepare: \(prepare.stdout.suffix(3000)) \(prepare.stderr)")
        let access = try await tb.inGuest(vmx: lab.baseVMX, "cat /home/lab/.ssh/authorized_keys; echo ---; cat /etc/sudoers.d/labctl-lab")
        let pub = try String(contentsOfFile: (await tb.keyPath) + ".pub", encoding: .utf8).split(separator: " ").prefix(2).joined(separator: " ")
        #expect(access.stdout.contains(pub), "authorized_keys: \(access.stdout)")
        #expect(access.stdout.contains("lab ALL=(ALL) NOPASSWD: ALL"), "sudoers drop-in: \(access.stdout)")
        // The testbed runs Debian: the runtime/Kubernetes/tools scripts stop at their Ubuntu check (they download and
        // install real binaries, which cannot run here). What runs of base prepare is checked; the checkpoints are
        // then taken by hand, as prepare would have taken them.
        if !prepare.succeeded {
            let failed = prepEvents.first { $0["event"] as? String == "stageFailed" }
            let stage = failed?["stage"] as? String ?? ""
            #expect(["base.kernel", "base.runtime", "base.kubernetes"].contains(stage), "base prepare failed at \(stage): \(prepare.stdout.suffix(2000))")
            let stopped = try await tb.vmrun(["-T", "ws", "stop", lab.baseVMX, "hard"])
            #expect(stopped.succeeded)
            // The clones come up on the base's .10 with other MACs: drop the host's ARP entry for the stopped
            // base (a stale entry can keep .10 unreachable; the testbed's ARP issue is being looked at separately).
            _ = try await HostProcess.run(["ip", "neigh", "flush", "to", "\(Testbed.network).10"])
            for snap in ["snapshot#1", "snapshot#2"] {
                let r = try await tb.vmrun(["-T", "ws", "snapshot", lab.baseVMX, snap])
                #expect(r.succeeded, "snapshot \(snap): \(r.stderr)")
            }
        }
        let callsBeforeNoop = lab.vmrunCalls().count
        let noop = try await lab.labctl(["base", "prepare", "--progress", "plain"])
        #expect(noop.succeeded && noop.stdout.contains("nothing to do"), "\(noop.stdout) \(noop.stderr)")
        #expect(lab.mutatingCalls(since: callsBeforeNoop).isEmpty, "base prepare changed something: \(lab.mutatingCalls(since: callsBeforeNoop))")

        // The mesh stages that follow need the Istio release base-tools would install (MeshTests.swift).
        try lab.installIstioRelease(version: "1.10.1")

        // 2. up: nodes, then both clusters, then the kubeconfig.
        let run = try await lab.up(timeout: .seconds(900))
        outputs.append(run.outcome)
        #expect(run.outcome.succeeded, "\(run.summary)")
        if !run.outcome.succeeded {
            // What the first clone looks like inside, for the failure report.
            let d = try? await tb.inGuest(vmx: lab.vmx("cluster1-ctrl-plane"),
                                          "ip -4 -o addr; ls -l /etc/netplan; cat /etc/netplan/*; networkctl --no-pager 2>&1 | head; systemctl --failed --no-pager | head -20")
            Issue.record("prepare: \(prepare.stdout.suffix(4000))\nclone: \(d?.stdout ?? "") \(d?.stderr ?? "")")
            await lab.cleanUp()
            return
        }
        try await checkKubernetes(lab, run: run, profile: "seed-2021", outputs: &outputs)
        await lab.cleanUp()
    }
}

extension KubernetesUpTests {
    @Test("up runs every Kubernetes stage against the stubs with the current profile (containerd, 1.36, Flannel, MetalLB 0.16)")
    func current() async throws {
        let tb = try await Testbed.shared()
        try await tb.resetStubState()
        let lab = try await TestLab.make(tb, name: "e2e-k8s-current", dhcp: true, baseMAC: "00:50:56:3f:00:60", profile: "current")
        defer { Task { await lab.cleanUp() } }
        var outputs: [ProcessOutcome] = []
        let run = try await lab.up(timeout: .seconds(900))
        outputs.append(run.outcome)
        #expect(run.outcome.succeeded, "\(run.summary)")
        if run.outcome.succeeded { try await checkKubernetes(lab, run: run, profile: "current", outputs: &outputs) }
        await lab.cleanUp()
    }
}
