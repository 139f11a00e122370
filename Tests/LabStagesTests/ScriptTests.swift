import Foundation
import LabKit
import Testing
import Yams
@testable import LabStages

@Suite struct ScriptTests {
    static let hasShellcheck = Fixture.which("shellcheck") != nil

    // CI installs shellcheck (scripts/install-deps test); without it this check cannot run.
    @Test(.enabled(if: hasShellcheck, "shellcheck is not installed (scripts/install-deps test installs it)"))
    func everyRenderedScriptPassesShellcheck() throws {
        let dir = try Fixture.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var files: [String] = []
        for profile in Fixture.profiles {
            for script in try Fixture.scripts(profile: profile).renderAll() {
                let path = "\(dir)/\(profile)-\(script.name).sh"
                try script.text.write(toFile: path, atomically: true, encoding: .utf8)
                files.append(path)
            }
        }
        #expect(files.count >= 2 * StageScript.allCases.count)
        let result = try Fixture.run(["shellcheck", "--shell=bash", "--severity=style", "--format=gcc"] + files)
        #expect(result.status == 0, "shellcheck found problems:\n\(result.stdout)\(result.stderr)")
    }

    @Test(arguments: Fixture.profiles)
    func everyScriptIsStrictAndIdempotencyMinded(profile: String) throws {
        for script in try Fixture.scripts(profile: profile).renderAll() {
            let lines = script.text.split(separator: "\n").map(String.init)
            #expect(lines.first == "#!/usr/bin/env bash", "\(script.name) has no bash shebang")
            let firstCommand = lines.first { !$0.hasPrefix("#") && !$0.trimmingCharacters(in: .whitespaces).isEmpty }
            #expect(firstCommand == "set -euo pipefail", "\(script.name) does not begin with set -euo pipefail")
            #expect(!script.text.contains("{{"), "\(script.name) has an unrendered template tag")
            if script.input != nil {
                #expect(lines.last == "main", "\(script.name) reads a secret input, so its last line must be main")
            }
        }
    }

    @Test(arguments: Fixture.profiles)
    func manifestsParseAsYAMLAndMetalLBPoolsEqualLabJSON(profile: String) throws {
        let scripts = try Fixture.scripts(profile: profile)
        var manifests = 0
        for script in try scripts.renderAll() {
            for (name, text) in script.manifests {
                let docs = Array(try Yams.load_all(yaml: text))
                #expect(!docs.isEmpty, "\(name) in \(script.name) is empty")
                manifests += 1
            }
        }
        #expect(manifests >= 10)
        for cluster in scripts.lab.clusters {
            let text = try scripts.render(manifest: .metallbPool, cluster: cluster.name)
            let docs = Array(try Yams.load_all(yaml: text)).compactMap { $0 as? [String: Any] }
            let want = cluster.metallb.map(\.description)
            #expect(!want.isEmpty)
            switch scripts.profile.metallb.config {
            case .configmap:
                let config = try #require((docs.first?["data"] as? [String: Any])?["config"] as? String)
                let inner = try #require(try Yams.load(yaml: config) as? [String: Any])
                let pools = try #require(inner["address-pools"] as? [[String: Any]])
                #expect(pools.count == 1)
                #expect(pools.first?["protocol"] as? String == "layer2")
                #expect(pools.first?["addresses"] as? [String] == want)
            case .crds:
                let pool = try #require(docs.first { $0["kind"] as? String == "IPAddressPool" })
                #expect((pool["spec"] as? [String: Any])?["addresses"] as? [String] == want)
                let l2 = try #require(docs.first { $0["kind"] as? String == "L2Advertisement" })
                let poolName = (pool["metadata"] as? [String: Any])?["name"] as? String
                #expect((l2["spec"] as? [String: Any])?["ipAddressPools"] as? [String] == [poolName ?? "?"])
            }
        }
    }

    @Test func kubeadmConfigCarriesTheClusterIdentity() throws {
        for profile in Fixture.profiles {
            let scripts = try Fixture.scripts(profile: profile)
            for cluster in scripts.lab.clusters {
                let cp = try #require(cluster.controlPlane)
                let docs = Array(try Yams.load_all(yaml: try scripts.render(manifest: .kubeadmConfig, cluster: cluster.name)))
                    .compactMap { $0 as? [String: Any] }
                let initConfig = try #require(docs.first { $0["kind"] as? String == "InitConfiguration" })
                let clusterConfig = try #require(docs.first { $0["kind"] as? String == "ClusterConfiguration" })
                let kubelet = try #require(docs.first { $0["kind"] as? String == "KubeletConfiguration" })
                #expect((initConfig["localAPIEndpoint"] as? [String: Any])?["advertiseAddress"] as? String == cp.address.description)
                #expect(clusterConfig["controlPlaneEndpoint"] as? String == "\(cp.address):6443")
                #expect(clusterConfig["clusterName"] as? String == cluster.name)
                let networking = clusterConfig["networking"] as? [String: Any]
                #expect(networking?["podSubnet"] as? String == cluster.podSubnet.description)
                #expect(networking?["serviceSubnet"] as? String == cluster.serviceSubnet.description)
                #expect(kubelet["cgroupDriver"] as? String == "systemd")
                #expect(clusterConfig["kubernetesVersion"] as? String == "v" + scripts.profile.kubernetes.version)
            }
        }
    }

    @Test func cniManifestPerProfile() throws {
        let seed = try Fixture.scripts(profile: "seed-2021").render(.cni, cluster: "cluster1").text
        #expect(seed.contains("MANIFEST_URL='https://github.com/weaveworks/weave/releases/download/v2.8.1/weave-daemonset-k8s-1.11.yaml'"))
        #expect(!seed.contains("https://cloud.weave.works"), "the seed's Weave URL is dead (weaveworks/weave#3960)")
        #expect(!seed.contains("flannel"))
        let current = try Fixture.scripts(profile: "current").render(.cni, cluster: "cluster1").text
        #expect(current.contains("MANIFEST_URL='https://github.com/flannel-io/flannel/releases/download/v0.28.9/kube-flannel.yml'"))
        #expect(!current.lowercased().contains("weave"))
        #expect(current.contains("POD_SUBNET=10.32.0.0/12"))
    }

    @Test func profileSpecificCommands() throws {
        let seed = try Fixture.scripts(profile: "seed-2021")
        let current = try Fixture.scripts(profile: "current")
        // Kubernetes packages: binaries for 1.21 (no apt repo left), pkgs.k8s.io for current.
        let seedK8s = try seed.render(.baseKubernetes).text
        #expect(seedK8s.contains("https://dl.k8s.io/release/v1.21.2/bin/linux/amd64"))
        #expect(!seedK8s.contains("https://apt.kubernetes.io"))
        let currentK8s = try current.render(.baseKubernetes).text
        #expect(currentK8s.contains("https://pkgs.k8s.io/core:/stable:/v1.36/deb/"))
        #expect(currentK8s.contains("PACKAGE_VERSION='1.36.1-1.1'"))
        // Runtimes.
        #expect(try seed.render(.baseRuntime).text.contains("DOCKER_VERSION='5:20.10.7~3-0~ubuntu-focal'"))
        #expect(try current.render(.baseRuntime).text.contains("containerd-2.3.4-linux-amd64.tar.gz"))
        // Netplan gateway syntax.
        #expect(try seed.render(manifest: .netplan, node: "cluster1-worker-node01").contains("gateway4: 194.89.64.2"))
        let currentNetplan = try current.render(manifest: .netplan, node: "cluster1-worker-node01")
        #expect(currentNetplan.contains("- to: default") && currentNetplan.contains("via: 194.89.64.2") && !currentNetplan.contains("gateway4"))
        // East-west gateway flags and remote secret command per Istio version.
        #expect(try seed.render(.istioEastWest, cluster: "cluster2").text.contains("gen-eastwest-gateway.sh\" --mesh mesh1 --cluster cluster2 --network network2 >"))
        let currentEW = try current.render(.istioEastWest, cluster: "cluster2").text
        #expect(currentEW.contains("gen-eastwest-gateway.sh\" --network network2 >") && !currentEW.contains("--mesh mesh1"))
        #expect(try seed.render(.istioRemoteSecret, cluster: "cluster1").text.contains("istioctl x create-remote-secret --context=cluster1"))
        let currentRS = try current.render(.istioRemoteSecret, cluster: "cluster1").text
        #expect(currentRS.contains("istioctl create-remote-secret --context=cluster1") && !currentRS.contains(" x create-remote-secret"))
        // The sample client: sleep in 1.10, curl later.
        #expect(try seed.render(.meshSample, cluster: "cluster1").text.contains("samples/sleep/sleep.yaml"))
        #expect(try current.render(.meshSample, cluster: "cluster1").text.contains("samples/curl/curl.yaml"))
        // 12.4 corrected: root-cert.pem compared, never ca-cert.pem.
        let rootCheck = try seed.render(.istioRootCheck).text
        #expect(rootCheck.contains("cmp -s \"$work/cluster1-root.pem\" \"$work/cluster2-root.pem\""))
        #expect(!rootCheck.contains("cmp -s \"$work/cluster1-ca.pem\""))
    }

    @Test func strictARPOnlyForIPVS() throws {
        let metallb = try Fixture.scripts(profile: "seed-2021").render(.metallb, cluster: "cluster1").text
        // The patch is guarded by the live kube-proxy mode…
        let guardLine = try #require(metallb.range(of: "if [ \"$proxy_mode\" = ipvs ]; then"))
        let patch = try #require(metallb.range(of: "s/strictARP: false/strictARP: true/"))
        #expect(guardLine.lowerBound < patch.lowerBound)
        // …and kubeadm's config asks for iptables, so neither profile enables IPVS.
        for profile in Fixture.profiles {
            let config = try Fixture.scripts(profile: profile).render(manifest: .kubeadmConfig, cluster: "cluster1")
            #expect(config.contains("mode: iptables") && !config.contains("strictARP"))
        }
    }

    @Test func nodeIdentityWritesHostsBeforeHostnameAndAppliesNetplanDetached() throws {
        let text = try Fixture.scripts(profile: "current").render(.nodeIdentity, node: "cluster2-worker-node01").text
        let hosts = try #require(text.range(of: "| write_file /etc/hosts 644"))
        let hostname = try #require(text.range(of: "hostnamectl set-hostname"))
        #expect(hosts.lowerBound < hostname.lowerBound)
        let lab = try Fixture.lab(profile: "current")
        for node in lab.nodes { #expect(text.contains("\(node.address) \(node.name)\n")) }
        #expect(text.contains("rm -f /etc/machine-id /var/lib/dbus/machine-id"))
        #expect(text.contains("systemd-machine-id-setup"))
        #expect(text.contains("rm -f /etc/ssh/ssh_host_*") && text.contains("ssh-keygen -q -t ed25519") && !text.contains("-t rsa"))
        #expect(text.contains("netplan generate"))
        #expect(text.contains("systemd-run --on-active=1 --timer-property=AccuracySec=10ms --unit=labctl-netplan-apply netplan apply"))
        #expect(text.contains("ADDRESS=194.89.64.14"))
        let applyLines = text.split(separator: "\n").filter { $0.contains("netplan apply") && !$0.trimmingCharacters(in: .whitespaces).hasPrefix("#") }
        #expect(applyLines.allSatisfy { $0.contains("systemd-run") }, "netplan apply must only run detached")
    }

    @Test func renderArgumentsAreChecked() throws {
        let scripts = try Fixture.scripts(profile: "seed-2021")
        #expect(throws: LabError.self) { try scripts.render(.kubeadmInit) }
        #expect(throws: LabError.self) { try scripts.render(.kubeadmInit, cluster: "cluster9") }
        #expect(throws: LabError.self) { try scripts.render(.kubeadmJoin, node: "cluster1-ctrl-plane") }
        #expect(throws: LabError.self) { try scripts.render(.baseSwap, cluster: "cluster1") }
        let join = try scripts.render(.kubeadmJoin, node: "cluster1-worker-node01")
        #expect(join.host == "cluster1-worker-node01" && join.sudo && join.input == .joinCommand)
        let install = try scripts.render(.istioInstall, cluster: "cluster2")
        #expect(install.host == "cluster1-ctrl-plane", "mesh stages run on the mesh node")
        #expect(install.name == "istio-install@cluster2" && !install.sudo)
    }

    @Test func labValuesThatCouldBreakAScriptAreRefused() throws {
        var lab = try Fixture.lab(profile: "seed-2021")
        lab.clusters[1].network = "net2; rm -rf /"
        let error = try #require(throws: LabError.self) { try StageScripts(lab: lab) }
        #expect(error.location?.description == "lab.json: clusters[1].network")
    }

    @Test func nodeVerificationComparesWithLabJSON() throws {
        let lab = try Fixture.lab(profile: "seed-2021")
        let node = try #require(lab.node(named: "cluster1-worker-node01"))
        let good = StageOutput.parse("""
            hostname=cluster1-worker-node01
            machine=x86_64
            address=194.89.64.12/24
            gateway=194.89.64.2
            dns=1.1.1.1,8.8.8.8
            machineId=0123456789abcdef0123456789abcdef
            hostKeyEd25519=SHA256:abc
            hostsEntry=194.89.64.12
            resolves=true
            """)
        #expect(NodeVerification.problems(good, lab: lab, node: node).isEmpty)
        var bad = good
        bad["address"] = "194.89.64.130/24"
        let problems = NodeVerification.problems(bad, lab: lab, node: node)
        #expect(problems.count == 1)
        #expect(problems.first?.message.contains("194.89.64.130/24") == true)
    }

    /// Issue 15.3: node.verify refuses a node (a clone of the base) whose uname -m is not lab.json's base.arch,
    /// naming the node, the base, what it found and what to do.
    @Test(arguments: [(GuestArch.amd64, "aarch64"), (.arm64, "x86_64"), (.amd64, "")])
    func nodeVerifyRefusesAnotherArchitecture(arch: GuestArch, machine: String) throws {
        var lab = try Fixture.lab(profile: "seed-2021")
        lab.base.arch = arch
        let node = try #require(lab.node(named: "cluster1-worker-node01"))
        var output = StageOutput.parse("""
            hostname=cluster1-worker-node01
            address=194.89.64.12/24
            gateway=194.89.64.2
            dns=1.1.1.1,8.8.8.8
            machineId=0123456789abcdef0123456789abcdef
            hostsEntry=194.89.64.12
            """)
        output["machine"] = arch.unameMachine
        #expect(NodeVerification.problems(output, lab: lab, node: node).isEmpty)
        output["machine"] = machine
        let problems = NodeVerification.problems(output, lab: lab, node: node)
        let problem = try #require(problems.first)
        #expect(problems.count == 1)
        #expect(problem.message.contains("base.arch is \(arch.rawValue) (\(arch.unameMachine))"), "\(problem.message)")
        if !machine.isEmpty { #expect(problem.message.contains("runs \(machine)")) }
        #expect(problem.location?.description.contains("cluster1-worker-node01") == true && problem.location?.description.contains(lab.base.name) == true)
        #expect(problem.hint?.contains("set base.arch") == true)
    }
}

extension ScriptTests {
    @Test func basePhasesCoverEveryBaseScriptInOrder() {
        let base = StageScript.allCases.filter { $0.scope == .base }
        #expect(StageScript.base(before: .workers) + StageScript.base(before: .controlPlanes) == base)
        #expect(!StageScript.base(before: .workers).contains(.baseTools), "istioctl and k9s come after snapshot#1 (seed 4.3)")
    }
}
