import Foundation
import LabKit
import Testing
import LabHarness

/// Proves the testbed itself (issue 5): real guests boot behind the fake vmrun, snapshots and
/// reverts act on their disks, faults behave as specified, and teardown leaves nothing behind.
/// Needs root, debootstrap, systemd-nspawn, dnsmasq and python3; without them the suite is
/// skipped and `Testbed.isAvailable` prints what is missing.
@Suite("Testbed", .serialized, .enabled(if: Testbed.isAvailable, "needs root and the testbed packages (see output)"))
struct TestbedTests {
    @Test("Four linked clones of the base's snapshot boot, each with its own MAC and DHCP lease, and answer SSH")
    func fourLinkedClonesBoot() async throws {
        let tb = try await Testbed.shared()
        let base = try await tb.makeBaseVM(name: "dhcp-base", dhcp: true)
        #expect(try await tb.vmrun(["-T", "ws", "snapshot", base, "labctl-base"]).succeeded)
        var vms: [(vmx: String, mac: String)] = []
        for i in 1...4 {
            let vmx = Testbed.workDir.appendingPathComponent("n\(i)/n\(i).vmx").path
            let r = try await tb.vmrun(["-T", "ws", "clone", base, vmx, "linked", "-snapshot=labctl-base", "-cloneName=n\(i)"])
            #expect(r.succeeded && r.stdout.isEmpty, "clone n\(i): \(r.stdout)")
            let mac = String(format: "00:50:56:3f:01:%02x", i)
            try await tb.setVMX(vmx, "ethernet0.address", mac)  // as labctl does for each node (docs/vmware-facts.md, "MAC addresses")
            vms.append((vmx, mac))
        }
        // The clone's bookkeeping, in VMware's formats (docs/vmware-facts.md, "The .vmsd database and linked clones").
        let cloneVMSD = try String(contentsOfFile: vms[0].vmx.replacingOccurrences(of: ".vmx", with: ".vmsd"), encoding: .utf8)
        #expect(cloneVMSD.contains("cloneOf0 = \"\(base)\""))
        let baseVMSD = try String(contentsOfFile: base.replacingOccurrences(of: ".vmx", with: ".vmsd"), encoding: .utf8)
        #expect(baseVMSD.contains("snapshot0.numClones = \"4\""))
        let cloneVMX = try String(contentsOfFile: vms[0].vmx, encoding: .utf8)
        let baseVMX = try String(contentsOfFile: base, encoding: .utf8)
        #expect(cloneVMX.contains("displayName = \"n1\""))
        #expect(uuidBios(cloneVMX) != nil && uuidBios(cloneVMX) != uuidBios(baseVMX))

        for vm in vms {
            let r = try await tb.vmrun(["-T", "ws", "start", vm.vmx, "nogui"], timeout: .seconds(60))
            #expect(r.succeeded, "start: \(r.stdout)")
        }
        let list = try await tb.vmrun(["list"])
        #expect(list.lines.first == "Total running VMs: 4")
        #expect(Set(list.lines.dropFirst()) == Set(vms.map(\.vmx)))

        var addresses: Set<String> = []
        for vm in vms {
            let r = try await tb.vmrun(["getGuestIPAddress", vm.vmx, "-wait"], timeout: .seconds(90))
            let ip = r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(r.succeeded, "getGuestIPAddress: \(r.stdout)")
            let last = Int(ip.split(separator: ".").last ?? "") ?? 0
            #expect(ip.hasPrefix("10.213.64.") && (128...254).contains(last), "DHCP address \(ip)")
            try await tb.waitForSSH(ip)
            let mac = try await tb.ssh(ip, "cat /sys/class/net/ens33/address")
            #expect(mac.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == vm.mac)
            #expect(try await tb.ssh(ip, user: "lab", "sudo -n true").succeeded)
            #expect(tb.leases()[vm.mac] == ip, "the lease for \(vm.mac)")
            #expect(try await tb.vmrun(["checkToolsState", vm.vmx]).stdout == "running\n")
            addresses.insert(ip)
        }
        #expect(addresses.count == 4)

        // Like VMware clones, the guests share the template's machine-id until it is regenerated;
        // then each gets its own (from its VMX uuid.bios, Tests/Testbed/README.md, "The nspawn fixes").
        var ids: Set<String> = []
        for vm in vms {
            ids.insert(try await tb.inGuest(vmx: vm.vmx, "cat /etc/machine-id").stdout)
        }
        #expect(ids.count == 1)
        ids = []
        for vm in vms {
            let r = try await tb.inGuest(vmx: vm.vmx, "rm -f /etc/machine-id && systemd-machine-id-setup >/dev/null 2>&1; cat /etc/machine-id")
            ids.insert(r.stdout)
        }
        #expect(ids.count == 4)

        for vm in vms {
            #expect(try await tb.vmrun(["stop", vm.vmx, "soft"], timeout: .seconds(90)).succeeded)
        }
        #expect(try await tb.vmrun(["list"]).stdout == "Total running VMs: 0\n")
    }

    @Test("Under a latency model's boot delay, start returns at power-on, Tools wait for the boot, and a stop during it powers off")
    func bootDelay() async throws {
        let tb = try await Testbed.shared()
        let base = try await tb.makeBaseVM(name: "boot-base", dhcp: true, mac: "00:50:56:3f:00:30")
        #expect(try await tb.vmrun(["-T", "ws", "snapshot", base, "s"]).succeeded)
        let vmx = Testbed.workDir.appendingPathComponent("boot1/boot1.vmx").path
        #expect(try await tb.vmrun(["-T", "ws", "clone", base, vmx, "linked", "-snapshot=s", "-cloneName=boot1"]).succeeded)
        try await tb.setVMX(vmx, "ethernet0.address", "00:50:56:3f:01:30")
        func model(boot: Int) throws -> [String: String] {
            let file = Testbed.workDir.appendingPathComponent("boot-model-\(boot).json")
            try #"{"bootSeconds": \#(boot)}"#.write(to: file, atomically: true, encoding: .utf8)
            return ["LABCTL_FAKE_VMRUN_LATENCY": file.path]
        }
        // A long boot: powered on at once, Tools not yet running; a hard stop ends the boot.
        let slow = try model(boot: 120)
        #expect(try await tb.vmrun(["-T", "ws", "start", vmx, "nogui"], extraEnvironment: slow).succeeded)
        #expect(try await tb.vmrun(["list"]).lines == ["Total running VMs: 1", vmx])
        #expect(try await tb.vmrun(["checkToolsState", vmx]).stdout == "installed\n", "still booting")
        #expect(try await tb.vmrun(["stop", vmx, "hard"], extraEnvironment: slow, timeout: .seconds(60)).succeeded)
        #expect(try await tb.vmrun(["list"]).stdout == "Total running VMs: 0\n")
        // A short one: the guest boots after it and reports its address.
        let quick = try model(boot: 1)
        #expect(try await tb.vmrun(["-T", "ws", "start", vmx, "nogui"], extraEnvironment: quick).succeeded)
        let ip = try await tb.vmrun(["getGuestIPAddress", vmx, "-wait"], extraEnvironment: quick, timeout: .seconds(90))
        #expect(ip.succeeded && ip.stdout.hasPrefix("10.213.64."), "\(ip.stdout)")
        #expect(try await tb.vmrun(["checkToolsState", vmx]).stdout == "running\n")
        #expect(try await tb.vmrun(["stop", vmx, "hard"], timeout: .seconds(60)).succeeded)
        #expect(try await tb.vmrun(["deleteVM", vmx]).succeeded)
    }

    @Test("The static base's clone answers on .10; snapshot, change, revert restores the guest's files")
    func snapshotRevert() async throws {
        let tb = try await Testbed.shared()
        let base = try await tb.makeBaseVM(name: "static-base")
        #expect(try await tb.vmrun(["snapshot", base, "labctl-base"]).succeeded)
        let vmx = Testbed.workDir.appendingPathComponent("s1/s1.vmx").path
        #expect(try await tb.vmrun(["clone", base, vmx, "linked", "-snapshot=labctl-base", "-cloneName=s1"]).succeeded)
        #expect(try await tb.vmrun(["start", vmx, "nogui"], timeout: .seconds(60)).succeeded)
        let ip = try await tb.vmrun(["getGuestIPAddress", vmx, "-wait"], timeout: .seconds(90))
        #expect(ip.stdout == "10.213.64.10\n")
        try await tb.waitForSSH("10.213.64.10")
        #expect(try await tb.ssh("10.213.64.10", "echo before > /root/keep && hostnamectl set-hostname k8s-a").succeeded)

        // Snapshot while running (crash-consistent copy, the guest keeps running).
        #expect(try await tb.vmrun(["snapshot", vmx, "snapshot#1"]).succeeded)
        #expect(try await tb.ssh("10.213.64.10", "echo after > /root/keep && touch /root/new && hostnamectl set-hostname k8s-b").succeeded)
        #expect(try await tb.vmrun(["listSnapshots", vmx]).stdout == "Total snapshots: 1\nsnapshot#1\n")

        // Revert: the snapshot holds no memory, so the VM ends powered off; start it again.
        #expect(try await tb.vmrun(["revertToSnapshot", vmx, "snapshot#1"], timeout: .seconds(90)).succeeded)
        #expect(try await tb.vmrun(["list"]).stdout == "Total running VMs: 0\n")
        #expect(try await tb.vmrun(["start", vmx, "nogui"], timeout: .seconds(60)).succeeded)
        _ = try await tb.vmrun(["getGuestIPAddress", vmx, "-wait"], timeout: .seconds(90))
        try await tb.waitForSSH("10.213.64.10")
        let r = try await tb.ssh("10.213.64.10", "cat /root/keep; test -e /root/new && echo new-exists; hostname")
        #expect(r.stdout == "before\nk8s-a\n")

        // A second snapshot is a child of the first; showTree indents it with a tab.
        #expect(try await tb.vmrun(["snapshot", vmx, "snapshot#2"]).succeeded)
        #expect(try await tb.vmrun(["listSnapshots", vmx, "showTree"]).stdout == "Total snapshots: 2\nsnapshot#1\n\tsnapshot#2\n")
        let vmsd = try String(contentsOfFile: vmx.replacingOccurrences(of: ".vmx", with: ".vmsd"), encoding: .utf8)
        #expect(vmsd.contains("snapshot1.parent = \"1\"") && vmsd.contains("snapshot.current = \"2\""))
        // Reboots inside the guest are honoured (nspawn exit 133 restarts the guest).
        _ = try await tb.ssh("10.213.64.10", "systemctl reboot", timeout: .seconds(10))
        try await Task.sleep(for: .seconds(2))
        try await tb.waitForSSH("10.213.64.10")
        #expect(try await tb.vmrun(["list"]).lines.contains(vmx))

        // Guest variables live while the VM runs; unset ones read as an empty line.
        #expect(try await tb.vmrun(["writeVariable", vmx, "guestVar", "labctl.node", "s1"]).succeeded)
        #expect(try await tb.vmrun(["readVariable", vmx, "guestVar", "labctl.node"]).stdout == "s1\n")
        #expect(try await tb.vmrun(["readVariable", vmx, "guestVar", "unset.key"]).stdout == "\n")
        #expect(try await tb.vmrun(["readVariable", vmx, "runtimeConfig", "displayName"]).stdout == "s1\n")
        #expect(try await tb.vmrun(["writeVariable", vmx, "guestVar", "k", "a=b"]).status == 255)

        // reset hard: the guest boots again.
        let nspawnPid = URL(fileURLWithPath: vmx).deletingLastPathComponent().appendingPathComponent(".ltb/nspawn.pid")
        let oldBoot = try String(contentsOf: nspawnPid, encoding: .utf8)
        #expect(try await tb.vmrun(["reset", vmx, "hard"], timeout: .seconds(60)).succeeded)
        _ = try await tb.vmrun(["getGuestIPAddress", vmx, "-wait"], timeout: .seconds(90))
        try await tb.waitForSSH("10.213.64.10")
        #expect(try await tb.ssh("10.213.64.10", "systemctl is-system-running --wait >/dev/null; echo up").stdout == "up\n")
        #expect(try await tb.vmrun(["readVariable", vmx, "guestVar", "labctl.node"]).stdout == "s1\n")
        #expect(try String(contentsOf: nspawnPid, encoding: .utf8) != oldBoot, "a new nspawn booted the guest")

        #expect(try await tb.vmrun(["stop", vmx, "hard"], timeout: .seconds(60)).succeeded)
        #expect(try await tb.vmrun(["stop", vmx]).stdout == "Error: The virtual machine is not powered on: \(vmx)\n")
    }

    @Test("Error contract: exit 255 and the catalogued Error: lines on stdout")
    func errorContract() async throws {
        let tb = try await Testbed.shared()
        let base = try await tb.makeBaseVM(name: "err-base")
        let clone = Testbed.workDir.appendingPathComponent("e1/e1.vmx").path

        let noSnap = try await tb.vmrun(["-T", "ws", "clone", base, clone, "linked"])
        #expect(noSnap.status == 255 && noSnap.stdout == "Error: One of the parameters was invalid\n" && noSnap.stderr.isEmpty)
        let unknownSnap = try await tb.vmrun(["clone", base, clone, "linked", "-snapshot=nope"])
        #expect(unknownSnap.stdout == "Error: Invalid snapshot name\n")
        let missing = try await tb.vmrun(["start", "/nonexistent/x.vmx"])
        #expect(missing.status == 255 && missing.stdout == "Error: Cannot open VM: /nonexistent/x.vmx, The virtual machine cannot be found\n")
        let ip = try await tb.vmrun(["getGuestIPAddress", base])
        #expect(ip.stdout == "Error: The virtual machine is not powered on: \(base)\n")
        #expect(try await tb.vmrun(["checkToolsState", base]).stdout == "installed\n")
        let player = try await tb.vmrun(["-T", "player", "snapshot", base, "x"])
        #expect(player.status == 255 && player.stdout.hasPrefix("Error: "))
        let bad = try await tb.vmrun(["-T", "ws", "frobnicate", base])
        #expect(bad.status == 255 && bad.lines.first == "Invalid argument: frobnicate" && bad.lines.dropFirst().first == "vmrun version 1.17.0 build-14665864")

        // Duplicate names are allowed; then a name no longer identifies one snapshot.
        #expect(try await tb.vmrun(["snapshot", base, "dup"]).succeeded)
        #expect(try await tb.vmrun(["snapshot", base, "dup"]).succeeded)
        #expect(try await tb.vmrun(["listSnapshots", base]).stdout == "Total snapshots: 2\ndup\ndup\n")
        #expect(try await tb.vmrun(["revertToSnapshot", base, "dup"]).stdout == "Error: The name does not uniquely identify one snapshot\n")
        #expect(try await tb.vmrun(["deleteSnapshot", base, "dup"]).stdout == "Error: The name does not uniquely identify one snapshot\n")
        #expect(try await tb.vmrun(["deleteSnapshot", base, "dup/dup"]).succeeded)

        // A snapshot with linked clones cannot be deleted; once the clone is gone it can.
        #expect(try await tb.vmrun(["clone", base, clone, "linked", "-snapshot=dup", "-cloneName=e1"]).succeeded)
        let refused = try await tb.vmrun(["deleteSnapshot", base, "dup"])
        #expect(refused.status == 255 && refused.stdout.hasPrefix("Error: "))
        #expect(try await tb.vmrun(["deleteVM", clone]).succeeded)
        #expect(!FileManager.default.fileExists(atPath: clone))
        #expect(try await tb.vmrun(["deleteSnapshot", base, "dup"]).succeeded)
        #expect(try await tb.vmrun(["listSnapshots", base]).stdout == "Total snapshots: 0\n")

        // A leftover lock directory (the VM "open in the UI") makes the VM busy.
        try FileManager.default.createDirectory(atPath: base + ".lck", withIntermediateDirectories: false)
        #expect(try await tb.vmrun(["clone", base, clone, "full"]).stdout == "Error: The file is already in use\n")
        #expect(try await tb.vmrun(["start", base]).stdout == "Error: The file is already in use\n")
        try FileManager.default.removeItem(atPath: base + ".lck")

        // Every call is in the call log.
        let log = try String(contentsOfFile: await tb.callLog, encoding: .utf8)
        #expect(log.contains("\"frobnicate\""))
    }

    @Test("Injected faults: hang, N failures with a catalogued error, log noise, CRLF")
    func faults() async throws {
        let tb = try await Testbed.shared()
        let base = try await tb.makeBaseVM(name: "fault-base")
        let faults = Testbed.workDir.appendingPathComponent("faults.json")
        func setFaults(_ json: String) throws {
            try? FileManager.default.removeItem(atPath: faults.path + ".state")
            try json.write(to: faults, atomically: true, encoding: .utf8)
        }

        try setFaults(#"{"hang": [{"command": "checkToolsState", "times": 1}]}"#)
        let started = ContinuousClock.now
        let hung = try await tb.vmrun(["checkToolsState", base], faults: faults, timeout: .seconds(2))
        #expect(hung.timedOut && ContinuousClock.now - started < .seconds(10))
        #expect(try await tb.vmrun(["checkToolsState", base], faults: faults).stdout == "installed\n", "hang budget spent")

        try setFaults(#"{"fail": [{"command": "listSnapshots", "times": 2, "error": "operation_canceled"}]}"#)
        for _ in 1...2 {
            let r = try await tb.vmrun(["listSnapshots", base], faults: faults)
            #expect(r.status == 255 && r.stdout == "Error: The operation was canceled\n")
        }
        #expect(try await tb.vmrun(["listSnapshots", base], faults: faults).stdout == "Total snapshots: 0\n")

        try setFaults(#"{"noise": true, "fail": [{"command": "stop", "error": "tools_not_running"}]}"#)
        let noisy = try await tb.vmrun(["stop", base, "soft"], faults: faults)
        #expect(noisy.status == 255 && noisy.lines.count == 2)
        #expect(noisy.lines.first?.contains("| ServiceImpl_Opener: PID") == true)
        #expect(noisy.lines.last == "Error: The VMware Tools are not running in the virtual machine: \(base)")

        try setFaults(#"{"crlf": true}"#)
        #expect(try await tb.vmrun(["listSnapshots", base], faults: faults).stdout == "Total snapshots: 0\r\n")

        // The same without a file, through environment shorthands.
        let envHang = try await tb.vmrun(["list"], extraEnvironment: ["LABCTL_FAKE_VMRUN_HANG": "list"], timeout: .seconds(1))
        #expect(envHang.timedOut)
        let envCRLF = try await tb.vmrun(["list"], extraEnvironment: ["LABCTL_FAKE_VMRUN_CRLF": "1"])
        #expect(envCRLF.stdout.hasSuffix("\r\n"))
        // The call log saw the hang.
        let log = try String(contentsOfFile: await tb.callLog, encoding: .utf8)
        #expect(log.contains("\"event\": \"hang\""))
    }

    @Test("The recording stubs simulate join, nodes, MetalLB external IPs and the meshed helloworld")
    func stubs() async throws {
        let tb = try await Testbed.shared()
        try await tb.resetStubState()
        let base = try await tb.makeBaseVM(name: "stub-base", dhcp: true)
        #expect(try await tb.vmrun(["snapshot", base, "labctl-base"]).succeeded)
        var ips: [String: String] = [:]
        for (i, name) in ["c1cp", "c1w1", "c2cp"].enumerated() {
            let vmx = Testbed.workDir.appendingPathComponent("\(name)/\(name).vmx").path
            #expect(try await tb.vmrun(["clone", base, vmx, "linked", "-snapshot=labctl-base", "-cloneName=\(name)"]).succeeded)
            try await tb.setVMX(vmx, "ethernet0.address", String(format: "00:50:56:3f:02:%02x", i + 1))
            #expect(try await tb.vmrun(["start", vmx, "nogui"], timeout: .seconds(60)).succeeded)
            ips[name] = vmx
        }
        for (name, vmx) in ips {
            let ip = try await tb.vmrun(["getGuestIPAddress", vmx, "-wait"], timeout: .seconds(90))
            ips[name] = ip.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            try await tb.waitForSSH(ips[name] ?? "")
            #expect(try await tb.ssh(ips[name] ?? "", "hostnamectl set-hostname \(name)").succeeded)
        }
        let c1 = ips["c1cp"] ?? "", w1 = ips["c1w1"] ?? "", c2 = ips["c2cp"] ?? ""
        let kc = "export KUBECONFIG=/etc/kubernetes/admin.conf; "
        for (cp, cluster) in [(c1, "cluster1"), (c2, "cluster2")] {
            let cfg = "apiVersion: kubeadm.k8s.io/v1beta3\nkind: ClusterConfiguration\nclusterName: \(cluster)\n"
            let initOut = try await tb.ssh(cp, user: "lab", "cat > /tmp/init.yaml && sudo kubeadm init --config /tmp/init.yaml", stdin: cfg)
            #expect(initOut.succeeded && initOut.stdout.contains("Your Kubernetes control-plane has initialized successfully!"))
            let conf = try await tb.ssh(cp, "cat /etc/kubernetes/admin.conf")
            #expect(conf.stdout.contains("server: https://\(cp):6443") && conf.stdout.contains("name: \(cluster)"))
        }
        let join = try await tb.ssh(c1, "kubeadm token create --print-join-command")
        #expect(join.stdout.hasPrefix("kubeadm join \(c1):6443 --token "))
        #expect(try await tb.ssh(w1, "sudo " + join.stdout.trimmingCharacters(in: .whitespacesAndNewlines)).succeeded)
        let nodes = try await tb.ssh(c1, kc + "kubectl get nodes")
        #expect(nodes.lines.count == 3 && nodes.stdout.contains("c1w1 ") && nodes.stdout.contains("c1cp "))
        #expect(nodes.lines.first?.hasPrefix("NAME") == true)
        let journal = try await tb.ssh(w1, "cat /var/log/labctl-stubs.jsonl")
        #expect(journal.stdout.contains("\"node\": \"c1w1\"") && journal.stdout.contains("\"argv\": [\"kubeadm\", \"join\""))

        // MetalLB: no pool yet -> <pending>; after the pool -> the pool's first address.
        #expect(try await tb.ssh(c1, kc + "istioctl install -y").succeeded)
        #expect(try await tb.ssh(c1, kc + "kubectl get svc -n istio-system").stdout.contains("<pending>"))
        // The strict kubectl knows IPAddressPool only once MetalLB's manifest brought its CRDs.
        let noCRD = try await tb.ssh(c1, kc + "kubectl apply -f -", stdin: "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata:\n  name: p\n")
        #expect(!noCRD.succeeded && noCRD.stderr.contains(#"no matches for kind "IPAddressPool" in version "metallb.io/v1beta1""#))
        #expect(try await tb.ssh(c1, kc + "kubectl apply -f https://raw.githubusercontent.com/metallb/metallb/v0.16.1/config/manifests/metallb-native.yaml").succeeded)
        let pool = "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata:\n  name: pool\n  namespace: metallb-system\nspec:\n  addresses:\n  - 10.213.64.81-10.213.64.100\n"
        let applied = try await tb.ssh(c1, kc + "kubectl apply -f -", stdin: pool)
        #expect(applied.stdout == "ipaddresspool.metallb.io/pool created\n")
        #expect(try await tb.ssh(c1, kc + "kubectl get svc -n istio-system").stdout.contains("10.213.64.81"))

        // helloworld: v1 in cluster1, v2 in cluster2; only v1 until both clusters hold the other's remote secret.
        let hello = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: helloworld-%@\n  namespace: sample\n"
        #expect(try await tb.ssh(c1, kc + "kubectl apply -f -", stdin: String(format: hello, "v1")).succeeded)
        #expect(try await tb.ssh(c2, kc + "kubectl apply -f -", stdin: String(format: hello, "v2")).succeeded)
        let curl = kc + "kubectl exec -n sample -c sleep sleep-x -- curl -sS helloworld.sample:5000/hello"
        #expect(try await tb.ssh(c1, curl).stdout.hasPrefix("Hello version: v1, instance: helloworld-v1-"))
        for (from, to, name) in [(c1, c2, "cluster1"), (c2, c1, "cluster2")] {
            let secret = try await tb.ssh(from, kc + "istioctl x create-remote-secret --name=\(name)")
            #expect(secret.stdout.contains("istio/multiCluster: \"true\""))
            #expect(try await tb.ssh(to, kc + "kubectl apply -f -", stdin: secret.stdout).succeeded)
        }
        var versions: [String] = []
        for _ in 1...4 {
            let out = try await tb.ssh(c1, curl).stdout
            versions.append(String(out.dropFirst("Hello version: ".count).prefix(2)))
        }
        #expect(versions == ["v1", "v2", "v1", "v2"] || versions == ["v2", "v1", "v2", "v1"])
        // The shared journal has every call in order, with node names.
        let joins = try tb.stubJournal().filter { $0.argv.prefix(2) == ["kubeadm", "join"] }
        #expect(joins.count == 1 && joins.first?.node == "c1w1")
        let running = try await tb.vmrun(["list"]).lines.dropFirst()
        for vmx in running { #expect(try await tb.vmrun(["stop", vmx, "hard"], timeout: .seconds(60)).succeeded) }
    }

    @Test("The generated lab.json is shaped like the repository's and loads")
    func labJSON() async throws {
        let tb = try await Testbed.shared()
        let url = try await tb.writeLabJSON(baseVMX: "/tmp/base/ubuntu-20042-base.vmx")
        let lab = try LabLoader.decode(try Data(contentsOf: url), source: url.path)
        #expect(lab.clusters.count == 2 && lab.clusters.flatMap(\.nodes).count == 4)
        #expect(lab.base.address?.description == "10.213.64.10")
        #expect(lab.vmware.vmrun == Testbed.vmrunPath)
    }

    @Test("Teardown leaves no namespace, mount, cgroup or process behind")
    func teardownIsClean() async throws {
        let tb = try await Testbed.shared()
        let base = try await tb.makeBaseVM(name: "td-base", dhcp: true)
        #expect(try await tb.vmrun(["snapshot", base, "b"]).succeeded)
        let vmx = Testbed.workDir.appendingPathComponent("td1/td1.vmx").path
        #expect(try await tb.vmrun(["clone", base, vmx, "linked", "-snapshot=b"]).succeeded)
        #expect(try await tb.vmrun(["start", vmx], timeout: .seconds(60)).succeeded)
        let before = try await tb.leftovers()
        #expect(before["nspawn"]?.isEmpty == false && before["mounts"]?.isEmpty == false)
        try await tb.tearDown()
        let after = try await tb.leftovers()
        #expect(before["processes"]?.isEmpty == false, "the runner and dnsmasq are seen")
        for key in ["namespaces", "mounts", "cgroups", "nspawn", "processes"] {
            #expect(after[key] == [], "\(key) left: \(after[key] ?? [])")
        }
        let propagate = (try? FileManager.default.contentsOfDirectory(atPath: "/run/systemd/nspawn/propagate")) ?? []
        #expect(!propagate.contains(where: { $0.hasPrefix("ltb-") }))
        #expect(!FileManager.default.fileExists(atPath: "/run/ltb"))
        _ = try await Testbed.shared()  // later suites get it back
    }
}

private func uuidBios(_ vmx: String) -> String? {
    vmx.split(separator: "\n").first(where: { $0.hasPrefix("uuid.bios") }).map(String.init)
}

/// Static checks of the testbed's scripts; no root needed.
@Suite("Testbed scripts")
struct TestbedScriptTests {
    @Test("testbed is shellcheck-clean", .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/shellcheck"),
                                                   "needs shellcheck (scripts/install-deps test)"))
    func shellcheck() async throws {
        let r = try await HostProcess.run(["shellcheck", Testbed.testbedScript])
        #expect(r.succeeded, "\(r.stdout)")
    }

    @Test("vmrun and the stubs compile", .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/python3"),
                                                   "needs python3"))
    func pythonCompiles() async throws {
        let stub = Testbed.scriptsDir.appendingPathComponent("stubs/labctl-stub").path
        for file in [Testbed.vmrunPath, stub] {
            let code = "import ast,sys; ast.parse(open(sys.argv[1]).read(), sys.argv[1])"
            let r = try await HostProcess.run(["python3", "-c", code, file])
            #expect(r.succeeded, "\(file): \(r.stderr)")
        }
    }
}
