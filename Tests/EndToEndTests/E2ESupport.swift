import Foundation
import LabKit
import LabHarness

/// The real `labctl` binary next to the test bundle (`swift build --build-tests` builds both).
enum LabctlBinary {
    static var path: String {
        let candidates = [
            URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("labctl").path,
            Bundle.main.bundleURL.deletingLastPathComponent().appendingPathComponent("labctl").path,
            Bundle.main.bundleURL.appendingPathComponent("labctl").path,
            URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
                .appendingPathComponent(".build/debug/labctl").path,
        ]
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) } ?? candidates[candidates.count - 1]
    }

    static var exists: Bool { FileManager.default.isExecutableFile(atPath: path) }
}

/// One test lab on the testbed: its own directory, base VM, VM folder and vmrun call log.
struct TestLab: Sendable {
    let tb: Testbed
    let name: String
    let dir: URL
    let baseVMX: String
    let labFile: URL
    let nodes: [(name: String, address: String, cluster: String)]
    var callLog: String { dir.appendingPathComponent("vmrun-calls.jsonl").path }
    var vmFolder: URL { dir.appendingPathComponent("vms") }
    var stateDir: URL { dir.appendingPathComponent(".labctl") }

    /// The node checkpoint (seed 7.6), the Kubernetes one (seed 10) and the kubeconfig one (seed 11).
    static let checkpointsAfterUp = ["snapshot#2", "snapshot#3", "snapshot#4", "snapshot#5"]

    /// Stage instances of `up`: base.check, 5 node stages per node, kubeadm init per control plane,
    /// join per worker, 5 cluster stages per cluster, 2 lab stages (issue 8).
    var instanceCount: Int {
        let clusters = Set(nodes.map(\.cluster)).count
        // + the mesh (issue 9): 4 stages per cluster (cacerts, install, east-west, sample), 4 lab stages.
        return 1 + nodes.count * 5 + nodes.count + clusters * 5 + 2 + clusters * 4 + 4
    }

    func vmx(_ node: String) -> String { vmFolder.appendingPathComponent("\(node)/\(node).vmx").path }

    /// A lab shaped like the repository's (clusters × (1 control plane + workers), 10.213.64.x),
    /// from a static-.10 or a DHCP base that has `snapshot#1` and `snapshot#2`.
    static func make(_ tb: Testbed, name: String, dhcp: Bool, clusters: Int = 2, workers: Int = 1, baseMAC: String,
                     timeouts: (start: Int, soft: Int, standard: Int) = (120, 30, 60), profile: String = "seed-2021",
                     snapshots: Bool = true) async throws -> TestLab {
        let dir = Testbed.workDir.appendingPathComponent(name)
        try? FileManager.default.removeItem(at: dir)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let base = try await tb.makeBaseVM(name: "\(name)-base", dhcp: dhcp, mac: baseMAC)
        // Every lab uses .11 upwards, which the previous test's VMs held with other MACs: the host's stale
        // neighbour entries would cost each node ~25 s of ARP probing on its address (docs/up.md, "Lessons"),
        // longer than the short deadlines some tests set.
        _ = try? await HostProcess.run(["ip", "neigh", "flush", "dev", "ltb-host"])
        for snap in ["snapshot#1", "snapshot#2"] where snapshots {
            let r = try await tb.vmrun(["-T", "ws", "snapshot", base, snap])
            guard r.succeeded else { throw TestbedError(description: "snapshot \(snap) of the base: \(r.stdout)\(r.stderr)") }
        }
        if snapshots {
            // What base-tools (seed 5, 6) leaves in snapshot#2 for the mesh stages (MeshTests.swift).
            try await installIstioRelease(baseVMX: base, profile: profile)
        }
        let n = Testbed.network
        var nodes: [(name: String, address: String, cluster: String)] = []
        var clusterJSON: [String] = []
        var host = 11
        for c in 1...clusters {
            var nodeJSON: [String] = []
            let cp = "cluster\(c)-ctrl-plane"
            nodes.append((cp, "\(n).\(host)", "cluster\(c)"))
            nodeJSON.append(#"{ "name": "\#(cp)", "role": "control-plane", "address": "\#(n).\#(host)", "cpus": 2, "memoryMiB": 4096 }"#)
            host += 1
            for w in 1...workers {
                let wn = String(format: "cluster%d-worker-node%02d", c, w)
                nodes.append((wn, "\(n).\(host)", "cluster\(c)"))
                nodeJSON.append(#"{ "name": "\#(wn)", "role": "worker", "address": "\#(n).\#(host)", "cpus": 2, "memoryMiB": 4096 }"#)
                host += 1
            }
            let poolStart = 80 + (c - 1) * 20 + 1
            clusterJSON.append("""
                {
                  "name": "cluster\(c)",
                  "network": "network\(c)",
                  "metallb": ["\(n).\(poolStart)-\(n).\(poolStart + 19)"],
                  "nodes": [\(nodeJSON.joined(separator: ",\n"))]
                }
                """)
        }
        let address = dhcp ? "" : #""address": "\#(n).10","#
        let json = """
        {
          "apiVersion": "labctl.dev/v1",
          "name": "\(name)",
          "profile": "\(profile)",
          "network": { "vmnet": "vmnet8", "subnet": "\(n).0/24", "gateway": "\(n).2", "hostAddress": "\(n).1",
                       "dns": ["\(n).2"], "dhcp": "\(n).128-\(n).254" },
          "base": { "name": "base", "vmx": "\(base)", \(address)
                    "workerCheckpoint": "snapshot#1", "controlPlaneCheckpoint": "snapshot#2" },
          "ssh": { "user": "lab", "port": 22, "privateKey": "\(await tb.keyPath)" },
          "vmware": { "product": "ws", "vmFolder": "vms", "cloneKind": "linked",
                      "timeouts": { "startSeconds": \(timeouts.start), "softStopSeconds": \(timeouts.soft), "defaultSeconds": \(timeouts.standard) } },
          "mesh": { "id": "mesh1" },
          "clusters": [\(clusterJSON.joined(separator: ",\n"))]
        }
        """
        let labFile = dir.appendingPathComponent("lab.json")
        try json.write(to: labFile, atomically: true, encoding: .utf8)
        return TestLab(tb: tb, name: name, dir: dir, baseVMX: base, labFile: labFile, nodes: nodes)
    }

    func environment(faults: URL? = nil) async -> [String: String] {
        var env = await tb.environment
        env["LABCTL_FAKE_VMRUN_LOG"] = callLog
        env["CI"] = "1"
        // Each lab its own (empty) artifact cache: the user's ~/.cache/labctl never leaks into a test.
        env["LABCTL_CACHE_DIR"] = dir.appendingPathComponent("cache").path
        if let faults { env["LABCTL_FAKE_VMRUN_FAULTS"] = faults.path }
        return env
    }

    /// Runs `labctl ARGS --lab <lab.json>` to the end.
    func labctl(_ args: [String], faults: URL? = nil, stdin: String? = nil, timeout: Duration = .seconds(600)) async throws -> ProcessOutcome {
        try await HostProcess.run([LabctlBinary.path] + args + ["--lab", labFile.path], environment: await environment(faults: faults),
                                  stdin: stdin, timeout: timeout)
    }

    /// `labctl up --progress json`, parsed.
    func up(_ extra: [String] = [], faults: URL? = nil, timeout: Duration = .seconds(600)) async throws -> UpRun {
        let t0 = ContinuousClock.now
        let r = try await labctl(["up", "--progress", "json"] + extra, faults: faults, timeout: timeout)
        // Kept outside the lab dir (which cleanUp removes) for CI artifacts and debugging.
        let logDir = URL(fileURLWithPath: "/tmp/labctl-e2e-logs")
        try? FileManager.default.createDirectory(at: logDir, withIntermediateDirectories: true)
        let stamp = Int(Date().timeIntervalSince1970 * 1000)
        try? r.stdout.write(to: logDir.appendingPathComponent("\(name)-\(stamp).jsonl"), atomically: true, encoding: .utf8)
        print("e2e \(name): labctl up \(extra.joined(separator: " ")) took \(ContinuousClock.now - t0), exit \(r.status)")
        return UpRun(outcome: r, events: ProgressEvents.parse(r.stdout))
    }

    /// Starts `labctl up --progress json` and SIGKILLs it as soon as an event matches `when`.
    /// Returns the events seen up to the kill; fails if the run ended before.
    func upKilled(when: @escaping @Sendable ([String: Any]) -> Bool, timeout: Duration = .seconds(600)) async throws -> [[String: Any]] {
        ProgressEvents.parse(try await killed(["up", "--progress", "json"], timeout: timeout) { ProgressEvents.parse($0).contains(where: when) })
    }

    /// Starts `labctl ARGS --lab <lab.json>` and SIGKILLs it as soon as its output so far satisfies
    /// `when`. Returns that output; fails if labctl ended before, or the point was not reached in time.
    func killed(_ args: [String], timeout: Duration = .seconds(300), when: (String) -> Bool) async throws -> String {
        let out = dir.appendingPathComponent("killed-\(UUID().uuidString).out")
        _ = FileManager.default.createFile(atPath: out.path, contents: nil)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: LabctlBinary.path)
        p.arguments = args + ["--lab", labFile.path]
        p.environment = ProcessInfo.processInfo.environment.merging(await environment()) { $1 }
        p.standardOutput = try FileHandle(forWritingTo: out)
        p.standardError = FileHandle.nullDevice
        p.standardInput = FileHandle.nullDevice
        try p.run()
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let text = (try? String(contentsOf: out, encoding: .utf8)) ?? ""
            if when(text) {
                kill(p.processIdentifier, SIGKILL)
                p.waitUntilExit()
                return text
            }
            if !p.isRunning {
                throw TestbedError(description: "labctl \(args.joined(separator: " ")) ended (status \(p.terminationStatus)) before the kill point; output:\n\(text)")
            }
            try await Task.sleep(for: .milliseconds(25))
        }
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        throw TestbedError(description: "labctl \(args.joined(separator: " ")): the kill point was not reached within \(timeout)")
    }

    /// The vmrun commands of the call log (`clone`, `start`, `snapshot` …), in order.
    func vmrunCalls() -> [[String]] {
        let text = (try? String(contentsOfFile: callLog, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").compactMap { line -> [String]? in
            guard let o = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  o["event"] as? String == "call", let argv = o["argv"] as? [String] else { return nil }
            return argv
        }
    }

    /// The vmrun command names of the call log that change something.
    func mutatingCalls(since: Int = 0) -> [String] {
        let mutating: Set<String> = ["clone", "start", "stop", "snapshot", "deleteSnapshot", "revertToSnapshot", "deleteVM", "reset"]
        return vmrunCalls().dropFirst(since).compactMap { argv in
            argv.first { mutating.contains($0) }
        }
    }

    /// Snapshot names in a VM's .vmsd (`snapshotN.displayName`).
    func snapshotNames(_ vmx: String) -> [String] {
        let vmsd = (vmx as NSString).deletingPathExtension + ".vmsd"
        let text = (try? String(contentsOfFile: vmsd, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").compactMap { line in
            let parts = line.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2, parts[0].hasPrefix("snapshot"), parts[0].hasSuffix(".displayName") else { return nil }
            return parts[1].trimmingCharacters(in: CharacterSet(charactersIn: "\""))
        }
    }

    /// The VM directories in the lab's VM folder.
    func vmDirectories() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: vmFolder.path)) ?? []).sorted()
    }

    /// Stops and deletes the lab's VMs (and the base), so the addresses are free for the next test.
    func cleanUp() async {
        for node in vmDirectories() {
            let vmx = self.vmx(node)
            _ = try? await tb.vmrun(["-T", "ws", "stop", vmx, "hard"], timeout: .seconds(60))
            _ = try? await tb.vmrun(["-T", "ws", "deleteVM", vmx], timeout: .seconds(60))
        }
        // A test may leave the base running (started to look inside); deleteVM refuses a running VM.
        _ = try? await tb.vmrun(["-T", "ws", "stop", baseVMX, "hard"], timeout: .seconds(60))
        _ = try? await tb.vmrun(["-T", "ws", "deleteVM", baseVMX], timeout: .seconds(60))
        try? FileManager.default.removeItem(at: dir)
        try? FileManager.default.removeItem(at: Testbed.workDir.appendingPathComponent("\(name)-base"))
    }
}

struct UpRun: @unchecked Sendable {
    var outcome: ProcessOutcome
    var events: [[String: Any]]

    func named(_ event: String) -> [[String: Any]] { events.filter { $0["event"] as? String == event } }
    /// Instances whose action started.
    var started: [String] { named("stageStarted").compactMap { $0["instance"] as? String } }
    var finished: [String] { named("stageFinished").compactMap { $0["instance"] as? String } }
    var skipped: [String] { named("stageSkipped").compactMap { $0["instance"] as? String } }
    var runFinished: [String: Any]? { named("runFinished").last }
    var failures: String {
        guard let f = runFinished?["failures"], let d = try? JSONSerialization.data(withJSONObject: f, options: [.prettyPrinted]) else { return "-" }
        return String(decoding: d, as: UTF8.self)
    }
    var summary: String { "failures: \(failures)\nexit \(outcome.status)\(outcome.timedOut ? " (timed out)" : "")\nstdout (end):\n\(outcome.stdout.suffix(1500))\nstderr:\n\(outcome.stderr.suffix(2000))" }
}

enum ProgressEvents {
    static func parse(_ text: String) -> [[String: Any]] {
        text.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
    }

    /// The stages the run planned (its `runStarted` instances, in graph order, without their scope):
    /// the real stage array, so no test keeps its own list of stage ids.
    static func planned(_ text: String) -> [String] {
        let started = parse(text).first { $0["event"] as? String == "runStarted" }
        return (started?["instances"] as? [String] ?? []).map { String($0.split(separator: "@").first ?? "") }
    }
}

/// What a guest says about itself (read with nsenter, not the network).
struct GuestFacts: Sendable, Equatable {
    var hostname: String
    var addresses: String
    var route: String
    var hosts: String
    var machineId: String
    var hostKey: String

    static func read(_ tb: Testbed, vmx: String) async throws -> GuestFacts {
        let sep = "---labctl-e2e---"
        let r = try await tb.inGuest(vmx: vmx, """
            hostname; echo \(sep); ip -4 -o addr show dev ens33 scope global | awk '{print $4}'; echo \(sep); \
            ip -4 route show default; echo \(sep); cat /etc/hosts; echo \(sep); cat /etc/machine-id; echo \(sep); \
            ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub | awk '{print $2}'
            """)
        let parts = r.stdout.components(separatedBy: sep + "\n").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
        guard parts.count == 6 else { throw TestbedError(description: "guest facts of \(vmx): \(r.stdout) \(r.stderr)") }
        return GuestFacts(hostname: parts[0], addresses: parts[1], route: parts[2], hosts: parts[3], machineId: parts[4], hostKey: parts[5])
    }

    /// The base's machine-id and host key: the template's, which every clone starts with.
    static func base(_ tb: Testbed) async throws -> (machineId: String, hostKey: String) {
        let root = await tb.templateDir.appendingPathComponent("rootfs")
        let id = try String(contentsOf: root.appendingPathComponent("etc/machine-id"), encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let r = try await HostProcess.run(["ssh-keygen", "-lf", root.appendingPathComponent("etc/ssh/ssh_host_ed25519_key.pub").path])
        let key = r.stdout.split(separator: " ").dropFirst().first.map(String.init) ?? ""
        return (id, key)
    }
}
