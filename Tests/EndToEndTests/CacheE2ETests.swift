import Foundation
import LabKit
import LabStages
import Testing
import LabHarness

extension KubernetesUpTests {
    /// Issue 18: `labctl cache fill` from a loopback mirror of the stub catalog, then `base prepare`,
    /// `up` and `rebuild cluster2` of the current profile with the guests offline (the curl stub refuses
    /// every download, STUBS.md "Offline mode"): every release file and manifest comes from the cache,
    /// none from outside. Container images are not part of this: the stubs pull none (docs/cache.md).
    @Test("with a filled cache and the guests offline, base prepare, up and rebuild cluster2 download nothing from outside")
    func cachedBasePrepareOffline() async throws {
        let tb = try await Testbed.shared()
        try await tb.resetStubState()
        let lab = try await TestLab.make(tb, name: "e2e-k8s-cache", dhcp: true, baseMAC: "00:50:56:3f:00:6e", profile: "current", snapshots: false)
        defer { Task { await lab.cleanUp() } }
        let profile = try Profile.load(named: "current")

        // The mirror: 127.0.0.1 only, serving what the curl stub serves (Tests/Testbed/mirror/cache_mirror.py).
        let portFile = lab.dir.appendingPathComponent("mirror.port").path
        let mirror = Process()
        mirror.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        mirror.arguments = ["python3", Testbed.scriptsDir.appendingPathComponent("mirror/cache_mirror.py").path, portFile,
                            lab.dir.appendingPathComponent("mirror.log").path]
        mirror.standardOutput = FileHandle.nullDevice
        try mirror.run()
        defer { kill(mirror.processIdentifier, SIGKILL); mirror.waitUntilExit() }
        var port: String?
        for _ in 0 ..< 200 where port == nil {
            port = try? String(contentsOfFile: portFile, encoding: .utf8)
            if port == nil { try await Task.sleep(for: .milliseconds(50)) }
        }
        let mirrorPort = try #require(port, "the cache mirror did not start")

        let fill = try await lab.labctl(["cache", "fill", "--mirror", "http://127.0.0.1:\(mirrorPort)", "--no-images", "--format", "json"])
        #expect(fill.succeeded, "cache fill: \(fill.stdout.suffix(2000)) \(fill.stderr)")
        guard fill.succeeded else { return }
        // up's own downloads are in it: the CNI's and MetalLB's manifests.
        let index = try String(contentsOf: lab.dir.appendingPathComponent("cache/index.json"), encoding: .utf8)
        for url in [profile.cni.manifestURL] + profile.metallb.manifestURLs {
            #expect(index.contains(url.replacingOccurrences(of: "/", with: "\\/")) || index.contains(url), "\(url) not cached: \(index.prefix(3000))")
        }

        let offline = Testbed.stubsShared.appendingPathComponent("offline")
        try Data().write(to: offline)
        defer { try? FileManager.default.removeItem(at: offline) }
        try await startBase(lab)
        try await claimUbuntu(lab, profile)
        let prepare = try await lab.labctl(["base", "prepare", "--progress", "json"], timeout: .seconds(900))
        let finished = ProgressEvents.parse(prepare.stdout).filter { $0["event"] as? String == "stageFinished" }.compactMap { $0["stage"] as? String }
        #expect(prepare.succeeded && finished == ProgressEvents.planned(prepare.stdout) && finished.count > 2, "base prepare: \(finished)\n\(prepare.stdout.suffix(3000))\n\(prepare.stderr)")

        // 0 downloads from outside: no curl call at all on the base (a refused one would be journaled).
        let curls = try tb.stubJournal().filter { $0.node == "ubuntu-base" && $0.tool == "curl" }
        #expect(curls.isEmpty, "downloads from outside: \(curls.map { "\($0.argv) \($0.refused ?? "")" })")
        // The release files are installed (from the cache), and the upload folder is gone before the checkpoints
        // (prepare leaves the base powered off at snapshot#2: start it to look).
        try await startBase(lab)
        let check = try await tb.inGuest(vmx: lab.baseVMX, "containerd --version; test ! -e /var/cache/labctl/files && echo clean")
        #expect(check.stdout.contains("2.3.4") && check.stdout.contains("clean"), "\(check.stdout) \(check.stderr)")
        let stop = try await tb.vmrun(["-T", "ws", "stop", lab.baseVMX])
        #expect(stop.succeeded, "stop the base: \(stop.stderr)")

        // up, then rebuild cluster2, still offline: the CNI and MetalLB manifests come from the cache.
        let up = try await lab.up(timeout: .seconds(900))
        #expect(up.outcome.succeeded, "up: \(up.summary)")
        guard up.outcome.succeeded else { return }
        for c in ["cluster1", "cluster2"] {
            #expect(up.finished.contains("cluster.cni@\(c)") && up.finished.contains("cluster.metallb@\(c)"), "\(up.finished)")
        }
        let rebuild = try await lab.labctl(["rebuild", "cluster2", "--progress", "json"], timeout: .seconds(900))
        #expect(rebuild.succeeded, "rebuild cluster2: \(rebuild.stdout.suffix(3000))\n\(rebuild.stderr)")
        let downloads = try tb.stubJournal().filter { $0.tool == "curl" && !$0.argv.contains { $0.contains("helloworld.sample") } }
        #expect(downloads.isEmpty, "downloads from outside: \(downloads.map { "\($0.node): \($0.argv) \($0.refused ?? "")" })")
        // The figure (issue 18's benchmark, against the stubs' small files): what the host fetched once, and what
        // the guests fetched from outside in base prepare + up + rebuild cluster2.
        let filled = (try? JSONSerialization.jsonObject(with: Data(fill.stdout.utf8)) as? [String: Any]) ?? [:]
        print("cache benchmark (testbed stubs): fill fetched \((filled["stored"] as? [Any])?.count ?? -1) files, \(filled["bytesDownloaded"] ?? "?") bytes on the host; guests fetched \(downloads.count) files from outside in base prepare, up and rebuild cluster2")
        // MetalLB's CRDs were installed from the cached manifest (the pool of metallb.sh was accepted).
        let logs = lab.stateDir.appendingPathComponent("logs")
        let texts = try FileManager.default.contentsOfDirectory(atPath: logs.path).map { try String(contentsOf: logs.appendingPathComponent($0), encoding: .utf8) }.joined()
        #expect(texts.contains("uploaded metallb-native.yaml from the host cache") && texts.contains("uploaded kube-flannel.yml from the host cache"))
        await lab.cleanUp()
    }

    /// Starts the base and waits (30 s at most) for the fake vmrun's runner to write the guest's nspawn PID.
    func startBase(_ lab: TestLab) async throws {
        let start = try await lab.tb.vmrun(["-T", "ws", "start", lab.baseVMX])
        #expect(start.succeeded, "start the base: \(start.stderr)")
        let pidFile = URL(fileURLWithPath: lab.baseVMX).deletingLastPathComponent().appendingPathComponent(".ltb/nspawn.pid").path
        for _ in 0 ..< 300 where !FileManager.default.fileExists(atPath: pidFile) { try await Task.sleep(for: .milliseconds(100)) }
        try #require(FileManager.default.fileExists(atPath: pidFile), "the base did not boot")
        try await Task.sleep(for: .seconds(1))
    }
}
