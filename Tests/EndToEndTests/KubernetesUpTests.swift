import Foundation
import LabKit
import LabStages
import Testing
import LabHarness
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

        // 3. The stubs' journal, per node and in order. No strict double refused or warned (kubeadm's unknown fields).
        let calls = try tb.stubJournal()
        for call in calls where call.refused != nil || !(call.warnings ?? []).isEmpty {
            Issue.record("\(call.node): \(call.argv.joined(separator: " ")): \(call.refused ?? "") \(call.warnings ?? [])")
        }
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

    /// The testbed's guests run Debian, and every profile's scripts stop on anything but their Ubuntu
    /// release (`_oscheck.sh`). The base claims that release in /etc/os-release, the only thing of Ubuntu
    /// the scripts read; the packages come from the apt-get stub either way.
    func claimUbuntu(_ lab: TestLab, _ profile: Profile) async throws {
        let r = try await lab.tb.inGuest(vmx: lab.baseVMX, """
            set -e
            rm -f /etc/os-release
            printf '%s\\n' 'NAME="Ubuntu"' 'ID=ubuntu' 'VERSION_ID="\(profile.os.ubuntuVersion)"' \\
              'VERSION_CODENAME=\(profile.os.codename)' 'PRETTY_NAME="Ubuntu \(profile.os.ubuntuVersion) (os-release of a Debian testbed guest)"' > /etc/os-release
            """)
        #expect(r.succeeded, "os-release: \(r.stderr)")
    }

    /// `labctl base prepare` from a freshly installed base to both checkpoints, every script against the
    /// stubs; then what it installed, in which order, and what each clone of the base inherited.
    func prepareBase(_ lab: TestLab, _ profile: Profile, password: String?, outputs: inout [ProcessOutcome]) async throws -> Bool {
        let tb = lab.tb
        if let password {
            try await requirePassword(lab)
            try await claimUbuntu(lab, profile)
            outputs.append(try await lab.labctl(["base", "prepare", "--password-stdin", "--progress", "json"], stdin: password + "\n"))
        } else {
            let start = try await tb.vmrun(["-T", "ws", "start", lab.baseVMX])
            #expect(start.succeeded, "start the base: \(start.stderr)")
            try await claimUbuntu(lab, profile)
            outputs.append(try await lab.labctl(["base", "prepare", "--progress", "json"]))
        }
        let prepare = outputs[outputs.count - 1]
        let finished = ProgressEvents.parse(prepare.stdout).filter { $0["event"] as? String == "stageFinished" }.compactMap { $0["stage"] as? String }
        #expect(prepare.succeeded && finished == ProgressEvents.planned(prepare.stdout) && finished.count > 2, "base prepare: \(finished)\n\(prepare.stdout.suffix(3000))\n\(prepare.stderr)")
        guard prepare.succeeded else { return false }
        // Workers clone snapshot#1, control planes snapshot#2, its child (seed 4.3, 6.2).
        #expect(lab.snapshotNames(lab.baseVMX) == ["snapshot#1", "snapshot#2"], "\(lab.snapshotNames(lab.baseVMX))")
        // snapshot#1 is a clean clone source: taken with the base powered off (seed 4.3).
        let vmrun = lab.vmrunCalls()
        let snap1 = try #require(vmrun.firstIndex { $0.contains("snapshot") && $0.contains("snapshot#1") }, "no snapshot#1 call: \(vmrun)")
        #expect(vmrun[..<snap1].last { $0.contains("start") || $0.contains("stop") }?.contains("stop") == true, "\(vmrun[..<snap1])")

        // What was installed on the base, in order: the pinned packages and the release files downloaded.
        let k = profile.kubernetes, rt = profile.runtime
        var expected: [String] = []
        if rt.kind == .docker, let docker = rt.dockerPackageVersion, let containerd = rt.containerdPackageVersion {
            expected += ["docker-ce=\(docker)", "docker-ce-cli=\(docker)", "containerd.io=\(containerd)"]
        }
        expected += [rt.containerdURL, rt.runcURL].compactMap { $0 }
        if let binaries = k.binaryBaseURL { expected += ["kubeadm", "kubelet", "kubectl"].map { "\(binaries)/\($0)" } }
        if let v = k.packageVersion { expected += ["kubelet=\(v)", "kubeadm=\(v)", "kubectl=\(v)"] }
        expected += [k.crictlURL, k.cniPluginsURL, profile.istio.releaseURL, profile.tools.k9sURL].compactMap { $0 }
        let releaseFiles = Set(expected.filter { $0.contains("://") })
        let calls = try tb.stubJournal().filter { $0.node == "ubuntu-base" }
        let installed = calls.flatMap { call -> [String] in
            if call.tool == "apt-get", call.argv.contains("install") { return call.argv.filter { $0.contains("=") && !$0.hasPrefix("-") } }
            if call.tool == "curl" { return call.argv.filter { releaseFiles.contains($0) } }
            return []
        }
        #expect(installed == expected, "installed on the base (\(profile.name)): \(installed)")
        let pinned = profile.name == "seed-2021"
            ? ["docker-ce=5:20.10.7~3-0~ubuntu-focal", "https://dl.k8s.io/release/v1.21.2/bin/linux/amd64/kubeadm"]
            : ["kubeadm=1.36.1-1.1", "https://github.com/containerd/containerd/releases/download/v2.3.4/containerd-2.3.4-linux-amd64.tar.gz"]
        #expect(pinned.allSatisfy(installed.contains), "the profile's versions: \(installed)")

        #expect(calls.contains { $0.tool == "modprobe" && $0.argv.contains("br_netfilter") }, "br_netfilter was not loaded")
        #expect(calls.contains { $0.tool == "sysctl" && $0.argv.contains("--system") })
        #expect(calls.contains { $0.tool == "apt-mark" && $0.argv.contains("hold") && $0.argv.contains(pinned[0].components(separatedBy: "=")[0]) })

        // A second prepare finds both checkpoints and changes nothing.
        let callsBeforeNoop = lab.vmrunCalls().count
        let noop = try await lab.labctl(["base", "prepare", "--progress", "plain"])
        outputs.append(noop)
        #expect(noop.succeeded && noop.stdout.contains("nothing to do"), "\(noop.stdout) \(noop.stderr)")
        #expect(lab.mutatingCalls(since: callsBeforeNoop).isEmpty, "base prepare changed something: \(lab.mutatingCalls(since: callsBeforeNoop))")
        // The clones come up on the base's address with other MACs: drop the host's ARP entry for the
        // stopped base, or the first clone can stay unreachable until it expires (docs/up.md, "Lessons").
        _ = try await HostProcess.run(["ip", "neigh", "flush", "to", "\(Testbed.network).10"])
        return true
    }

    /// What every node inherited from the base's checkpoint: the lab's key and sudo rule, the runtime with the systemd cgroup driver,
    /// Kubernetes at the profile's version, the kernel settings, no swap; the tools on control planes only.
    func checkNodes(_ lab: TestLab, _ profile: Profile) async throws {
        let k8s = "v" + profile.kubernetes.version
        let pub = try String(contentsOfFile: (await lab.tb.keyPath) + ".pub", encoding: .utf8).split(separator: " ").prefix(2).joined(separator: " ")
        for node in lab.nodes {
            let r = try await lab.tb.inGuest(vmx: lab.vmx(node.name), """
                echo "kubeadm=$(kubeadm version -o short)"
                echo "kubelet=$(kubelet --version)"
                echo "bridge=$(sysctl -n net.bridge.bridge-nf-call-iptables)"
                echo "forward=$(sysctl -n net.ipv4.ip_forward)"
                echo "modules=$(tr '\\n' , < /etc/modules-load.d/k8s.conf)"
                echo "swap=$(swapon --show --noheadings | wc -l)"
                echo "docker=$(dpkg-query -W -f='${Version}' docker-ce 2>/dev/null)"
                echo "dockerDriver=$(docker info 2>/dev/null | awk -F': ' '/Cgroup Driver/ {print $2}')"
                echo "containerd=$(/usr/local/bin/containerd --version 2>/dev/null | awk '{print $3}')"
                echo "systemdCgroup=$(grep -c 'SystemdCgroup = true' /etc/containerd/config.toml 2>/dev/null)"
                echo "runtimeActive=$(systemctl is-active \(profile.runtime.kind == .docker ? "docker" : "containerd"))"
                echo "cni=$(test -x /opt/cni/bin/loopback && echo yes)"
                echo "istioctl=$(readlink -f /usr/local/bin/istioctl)"
                echo "k9s=$(test -x /usr/local/bin/k9s && echo yes)"
                echo "sudoers=$(cat /etc/sudoers.d/labctl-lab)"
                echo "labKey=$(grep -cF '\(pub)' /home/lab/.ssh/authorized_keys)"
                """)
            var facts: [String: String] = [:]
            for line in r.lines { if let eq = line.firstIndex(of: "=") { facts[String(line[..<eq])] = String(line[line.index(after: eq)...]) } }
            let name = node.name
            #expect(facts["kubeadm"] == k8s && facts["kubelet"] == "Kubernetes \(k8s)", "\(name): \(facts)")
            #expect(facts["bridge"] == "1" && facts["forward"] == "1" && facts["modules"] == "overlay,br_netfilter,", "\(name): \(facts)")
            #expect(facts["swap"] == "0" && facts["cni"] == "yes" && facts["runtimeActive"] == "active", "\(name): \(facts)")
            if profile.runtime.kind == .docker {
                #expect(facts["docker"] == profile.runtime.dockerPackageVersion && facts["dockerDriver"] == "systemd", "\(name): \(facts)")
            } else {
                #expect(facts["containerd"] == "v" + (profile.versions["containerd"] ?? "?") && facts["systemdCgroup"] == "1", "\(name): \(facts)")
            }
            // base-access (seed 2.2, 2.3), inherited: the lab's key and labctl's own NOPASSWD drop-in.
            #expect(facts["sudoers"] == "lab ALL=(ALL) NOPASSWD: ALL" && facts["labKey"] == "1", "\(name): \(facts)")
            let controlPlane = name.hasSuffix("ctrl-plane")
            #expect(facts["istioctl"] == (controlPlane ? "/opt/istio-\(profile.istio.version)/bin/istioctl" : "/usr/local/bin/labctl-stub"), "\(name): \(facts)")
            #expect((facts["k9s"] == "yes") == controlPlane, "\(name): k9s only on control planes (snapshot#2): \(facts)")
        }
    }

    @Test("base prepare bootstraps with the password and installs the seed-2021 base; up then runs every Kubernetes stage against the stubs; re-runs do nothing")
    func seed2021() async throws {
        let tb = try await Testbed.shared()
        try await tb.resetStubState()
        let lab = try await TestLab.make(tb, name: "e2e-k8s", dhcp: false, baseMAC: "00:50:56:3f:00:50", snapshots: false)
        defer { Task { await lab.cleanUp() } }
        var outputs: [ProcessOutcome] = []
        let profile = try Profile.load(named: "seed-2021")
        guard try await prepareBase(lab, profile, password: Self.password, outputs: &outputs) else { return }

        let run = try await lab.up(timeout: .seconds(900))
        outputs.append(run.outcome)
        #expect(run.outcome.succeeded, "\(run.summary)")
        guard run.outcome.succeeded else { return }
        try await checkNodes(lab, profile)
        try await checkKubernetes(lab, run: run, profile: "seed-2021", outputs: &outputs)
        await lab.cleanUp()
    }
}

extension KubernetesUpTests {
    @Test("base prepare installs the current base (containerd 2, Kubernetes 1.36 from pkgs.k8s.io); up runs every Kubernetes stage against the stubs (Flannel, MetalLB 0.16); prepare --force")
    func current() async throws {
        let tb = try await Testbed.shared()
        try await tb.resetStubState()
        let lab = try await TestLab.make(tb, name: "e2e-k8s-current", dhcp: true, baseMAC: "00:50:56:3f:00:60", profile: "current", snapshots: false)
        defer { Task { await lab.cleanUp() } }
        var outputs: [ProcessOutcome] = []
        let profile = try Profile.load(named: "current")
        guard try await prepareBase(lab, profile, password: nil, outputs: &outputs) else { return }

        let run = try await lab.up(timeout: .seconds(900))
        outputs.append(run.outcome)
        #expect(run.outcome.succeeded, "\(run.summary)")
        guard run.outcome.succeeded else { return }
        try await checkNodes(lab, profile)
        try await checkKubernetes(lab, run: run, profile: "current", outputs: &outputs)
        try await forcePrepare(lab, profile)
        await lab.cleanUp()
    }

    /// `base prepare --force`: refused while linked clones depend on the checkpoints (nothing deleted);
    /// once the lab is destroyed, it re-runs every stage, and the scripts find everything installed.
    func forcePrepare(_ lab: TestLab, _ profile: Profile) async throws {
        let before = lab.snapshotNames(lab.baseVMX)
        let refused = try await lab.labctl(["base", "prepare", "--force"])
        #expect(refused.status == 4 && refused.stderr.contains("linked clones depend on the base's checkpoints"), "\(refused.status) \(refused.stderr)")
        #expect(refused.stderr.contains(lab.vmx("cluster1-worker-node01")), "the clones are named: \(refused.stderr)")
        #expect(lab.snapshotNames(lab.baseVMX) == before)

        let destroyed = try await lab.labctl(["destroy", "--yes"])
        #expect(destroyed.succeeded, "\(destroyed.stderr)")
        let uidsBefore = try String(contentsOfFile: (lab.baseVMX as NSString).deletingPathExtension + ".vmsd", encoding: .utf8)
        let callsBefore = try lab.tb.stubJournal().count
        let again = try await lab.labctl(["base", "prepare", "--force", "--progress", "json"])
        let finished = ProgressEvents.parse(again.stdout).filter { $0["event"] as? String == "stageFinished" }.compactMap { $0["stage"] as? String }
        #expect(again.succeeded && finished == ProgressEvents.planned(again.stdout) && finished.count > 2, "\(finished) \(again.stderr)")
        #expect(lab.snapshotNames(lab.baseVMX) == ["snapshot#1", "snapshot#2"])
        let uidsAfter = try String(contentsOfFile: (lab.baseVMX as NSString).deletingPathExtension + ".vmsd", encoding: .utf8)
        #expect(uidsAfter != uidsBefore, "the checkpoints were not re-created")
        // Idempotent scripts: no pinned package and no release file installed a second time.
        let releaseFiles = [profile.runtime.containerdURL, profile.runtime.runcURL, profile.kubernetes.cniPluginsURL,
                            profile.istio.releaseURL, profile.tools.k9sURL].compactMap { $0 }
        let reinstalled = try lab.tb.stubJournal().dropFirst(callsBefore).filter { call in
            (call.tool == "apt-get" && call.argv.contains { $0.contains("=") && !$0.hasPrefix("-") })
                || (call.tool == "curl" && call.argv.contains { releaseFiles.contains($0) })
        }
        #expect(reinstalled.isEmpty, "installed again: \(reinstalled.map { $0.argv.joined(separator: " ") })")
    }
}
