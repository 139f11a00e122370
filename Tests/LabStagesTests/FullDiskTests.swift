import Foundation
@testable import GuestSSH
import LabKit
import LabPKI
import LabStages
import LabTestSupport
import Testing

/// Issue 19, full disk: the lab's state directory on a 256 KiB tmpfs. Every writer of lab state
/// (journal, snapshot manifests, node facts, kubeconfig, CA keys, the SSH key, stage and node logs,
/// the lock record) is run on the full file system: it fails with a `LabError` whose hint names the
/// full disk, leaves the previous file readable and no temp file behind, and once space is freed
/// the same write succeeds.
@Suite("full disk: every state writer fails cleanly and converges once space is freed", .serialized,
       .enabled(if: TinyFileSystem.unavailableReason == nil, "\(TinyFileSystem.unavailableReason ?? "")"))
struct FullDiskTests {
    /// The error a write on the full file system must give: a LabError naming ENOSPC, whose hint says to free space.
    func expectDiskFull(_ body: () async throws -> Void, _ what: String, sourceLocation: SourceLocation = #_sourceLocation) async {
        do {
            try await body()
            Issue.record("\(what) succeeded on a full file system", sourceLocation: sourceLocation)
        } catch let error as LabError {
            #expect(error.isDiskFull, "\(what): \(error)", sourceLocation: sourceLocation)
            #expect(error.hint?.contains("is full: free space on it") == true, "\(what): hint \(error.hint ?? "-")",
                    sourceLocation: sourceLocation)
        } catch {
            Issue.record("\(what): not a LabError: \(error)", sourceLocation: sourceLocation)
        }
    }

    func withTinyLab(_ body: (TinyFileSystem, LabPaths) async throws -> Void) async throws {
        let fs = try TinyFileSystem()
        defer { fs.unmount() }
        try await body(fs, LabPaths(root: fs.sub(".labctl")))
    }

    @Test("journal: a record on a full disk fails, the journal on disk keeps its entries; after freeing space it converges")
    func journal() async throws {
        try await withTinyLab { fs, paths in
            let journal = try Journal(path: paths.journal)
            let now = Date()
            try await journal.record(StageInstanceID("node.clone", .node("n1")), outcome: .done, started: now, ended: now)
            let before = try Journal.load(path: paths.journal)
            try fs.fill()
            await expectDiskFull({
                try await journal.record(StageInstanceID("node.start", .node("n1")), outcome: .done, started: now, ended: now)
            }, "journal record")
            #expect(try Journal.load(path: paths.journal) == before, "the previous journal still parses, unchanged")
            #expect(fs.leftoverTempFiles().isEmpty, "\(fs.leftoverTempFiles())")
            fs.free()
            try await journal.record(StageInstanceID("node.identity", .node("n1")), outcome: .done, started: now, ended: now)
            let after = try Journal.load(path: paths.journal)
            // The journal's memory kept the record whose write failed; the next write carries it too.
            #expect(Set(after.entries.map(\.stage)) == ["node.clone", "node.start", "node.identity"])
        }
    }

    @Test("snapshot manifest and node facts (AtomicFile): the previous file stays readable, no temp file, converges")
    func manifestAndAtomicFile() async throws {
        try await withTinyLab { fs, paths in
            let store = LabSnapshotStore(paths: paths)
            let node = LabSnapshotManifest.Node(node: "n1", cluster: "c1", vm: "/vms/n1/n1.vmx", snapshotName: "s1", powerState: .on)
            var manifest = LabSnapshotManifest(name: "s1", status: .pending, taken: Date(timeIntervalSince1970: 1_800_000_000),
                                               journalPosition: 3, stage: nil, nodes: [node])
            try store.write(manifest)
            let facts = (paths.root as NSString).appendingPathComponent("nodes/n1.json")
            try AtomicFile.write(Data(#"{"address":"10.213.64.11"}"#.utf8), to: facts)
            try fs.fill()
            manifest.status = .complete
            await expectDiskFull({ try store.write(manifest) }, "manifest write")
            await expectDiskFull({ try AtomicFile.write(Data(#"{"address":"10.213.64.12"}"#.utf8), to: facts) }, "node facts write")
            #expect(try store.load("s1")?.status == .pending, "the previous manifest still parses")
            #expect(try String(contentsOfFile: facts, encoding: .utf8).contains("64.11"))
            #expect(fs.leftoverTempFiles().isEmpty, "\(fs.leftoverTempFiles())")
            fs.free()
            try store.write(manifest)
            #expect(try store.load("s1")?.status == .complete)
        }
    }

    @Test("kubeconfig: a full disk keeps the previous kubeconfig (0600), leaves no temp file; the next write converges")
    func kubeconfig() async throws {
        try await withTinyLab { fs, paths in
            try KubeconfigMerge.write("apiVersion: v1\nkind: Config\n# one\n", paths: paths)
            try fs.fill()
            await expectDiskFull({ try KubeconfigMerge.write("apiVersion: v1\nkind: Config\n# two\n", paths: paths) }, "kubeconfig write")
            #expect(try String(contentsOfFile: paths.kubeconfig, encoding: .utf8).contains("# one"))
            let mode = (try FileManager.default.attributesOfItem(atPath: paths.kubeconfig)[.posixPermissions] as? Int) ?? 0
            #expect(mode == 0o600)
            #expect(fs.leftoverTempFiles().isEmpty, "\(fs.leftoverTempFiles())")
            fs.free()
            try KubeconfigMerge.write("apiVersion: v1\nkind: Config\n# two\n", paths: paths)
            #expect(try String(contentsOfFile: paths.kubeconfig, encoding: .utf8).contains("# two"))
        }
    }

    @Test("CA keys: a root whose cert cannot be written leaves no lone key; intermediates keep the previous files; both converge")
    func caKeys() async throws {
        try await withTinyLab { fs, paths in
            let profile = CAProfile.seed2021.with(keyAlgorithm: .p256)
            let root = paths.pki + "/root-key.pem"
            try fs.fill()
            await expectDiskFull({ _ = try MeshCA.ensureRoot(in: paths, profile: profile) }, "root CA on a full disk")
            #expect(!FileManager.default.fileExists(atPath: root))
            // One free page: the key is written, its certificate is not; the key must go again.
            fs.release(bytes: 4096)
            await expectDiskFull({ _ = try MeshCA.ensureRoot(in: paths, profile: profile) }, "root CA cert after its key")
            #expect(!FileManager.default.fileExists(atPath: root), "a key without its cert would block every later run")
            #expect(fs.leftoverTempFiles().isEmpty, "\(fs.leftoverTempFiles())")
            fs.free()
            let ca = try MeshCA.ensureRoot(in: paths, profile: profile)
            let first = try ca.issueIntermediate(cluster: "cluster1")
            let certBefore = try String(contentsOfFile: first.files.caCert, encoding: .utf8)
            try fs.fill()
            await expectDiskFull({ _ = try ca.issueIntermediate(cluster: "cluster1") }, "intermediate CA")
            #expect(try String(contentsOfFile: first.files.caCert, encoding: .utf8) == certBefore)
            #expect(fs.leftoverTempFiles().isEmpty, "\(fs.leftoverTempFiles())")
            fs.free()
            let again = try ca.issueIntermediate(cluster: "cluster1")
            #expect(try String(contentsOfFile: again.files.caCert, encoding: .utf8) != certBefore)
            _ = try MeshCA.load(in: paths, profile: profile)
        }
    }

    @Test("lab SSH key: ssh-keygen on a full disk fails with the full-disk hint and leaves no half pair; converges")
    func sshKey() async throws {
        try await withTinyLab { fs, paths in
            try FileManager.default.createDirectory(atPath: paths.root, withIntermediateDirectories: true)
            try fs.fill()
            await expectDiskFull({ _ = try SSHKeys.ensureLabKey(paths: paths) }, "ssh-keygen")
            #expect(!FileManager.default.fileExists(atPath: paths.privateKey) && !FileManager.default.fileExists(atPath: paths.publicKey))
            fs.free()
            let key = try SSHKeys.ensureLabKey(paths: paths)
            try SSHKeys.checkUsable(key)
        }
    }

    @Test("stage logs: lines that cannot be written are reported once, never crash; logging resumes after freeing space")
    func stageLogs() async throws {
        try await withTinyLab { fs, paths in
            let failures = Box<[LabError]>([])
            let writer = StageLogWriter(paths: paths) { e in failures.mutate { $0.append(e) } }
            let id = StageInstanceID("node.clone", .node("n1"))
            writer.append(id, "before")
            writer.flush()
            try fs.fill()
            for i in 0..<50 { writer.append(id, "while full \(i) " + String(repeating: "x", count: 200)) }
            writer.flush()
            let seen = failures.value
            #expect(seen.count == 1, "\(seen)")
            #expect(seen.first?.isDiskFull == true && seen.first?.hint?.contains("free space") == true, "\(seen)")
            fs.free()
            writer.append(id, "after")
            writer.flush()
            let text = try String(contentsOfFile: paths.log(node: "n1"), encoding: .utf8)
            #expect(text.contains("node.clone: before") && text.hasSuffix("node.clone: after\n"), "\(text.suffix(300))")
        }
    }

    @Test("node log (SSH session): a failed write is thrown once before the next command, then logging goes on")
    func nodeLog() async throws {
        try await withTinyLab { fs, paths in
            let log = NodeLog(path: paths.log(node: "n1"))
            log.write("$ first\n")
            try log.reportFailure()
            try fs.fill()
            log.write("$ second " + String(repeating: "y", count: 5000) + "\n")
            await expectDiskFull({ try log.reportFailure() }, "node log")
            log.write("$ third\n")
            try log.reportFailure()  // reported once
            fs.free()
            log.write("$ fourth\n")
            try log.reportFailure()
            let text = try String(contentsOfFile: paths.log(node: "n1"), encoding: .utf8)
            #expect(text.hasPrefix("$ first\n") && text.hasSuffix("$ fourth\n"), "\(text.suffix(200))")
        }
    }

    @Test("a run whose disk fills mid-stage stops with the full-disk error; the journal stays readable; the next run converges")
    func engineRun() async throws {
        try await withTinyLab { fs, paths in
            let topology = LabTopology(clusters: [.init(name: "c1", nodes: ["n1"])])
            let filled = Box(false)
            let ran = Box<[String]>([])
            let stages = [
                Stage(id: "node.a", scope: .node, action: { ctx in ctx.log("a"); ran.mutate { $0.append("a") } }),
                Stage(id: "node.b", scope: .node, dependencies: [.init("node.a", .same)], action: { ctx in
                    ran.mutate { $0.append("b") }
                    // The disk fills while this stage works: its journal record is the write that fails.
                    if !filled.value { try fs.fill(); filled.mutate { $0 = true } }
                    ctx.log("b")
                }),
                Stage(id: "node.c", scope: .node, dependencies: [.init("node.b", .same)], action: { _ in ran.mutate { $0.append("c") } }),
            ]
            let events = Box<[EngineEvent]>([])
            let first = try await LabRun.run(stages: stages, topology: topology, paths: paths) { e in events.mutate { $0.append(e) } }
            #expect(first.outcome == .failed)
            let failure = try #require(first.failures.first)
            #expect(failure.instance.stage == "node.b" && failure.error.isDiskFull, "\(failure.error)")
            #expect(failure.error.hint?.contains("free space") == true)
            let journal = try Journal.load(path: paths.journal)
            #expect(journal.entries.map(\.stage) == ["node.a"], "the journal on disk is the one before the failed write")
            #expect(fs.leftoverTempFiles().isEmpty, "\(fs.leftoverTempFiles())")

            // Full at the start: the lock's record cannot be written; nothing runs, with the same advice.
            try fs.fill()
            await #expect(throws: LabError.self) {
                _ = try await LabRun.run(stages: stages, topology: topology, paths: paths) { _ in }
            }
            do { _ = try await LabRun.run(stages: stages, topology: topology, paths: paths) { _ in } } catch let e as LabError {
                #expect(e.hint?.contains("free space") == true, "\(e)")
            }
            #expect(ran.value == ["a", "b"])

            fs.free()
            let second = try await LabRun.run(stages: stages, topology: topology, paths: paths) { _ in }
            #expect(second.outcome == .succeeded)
            #expect(ran.value == ["a", "b", "b", "c"], "node.a, journaled before the disk filled, did not run again")
            #expect(Set(try Journal.load(path: paths.journal).entries.map(\.stage)) == ["node.a", "node.b", "node.c"])
        }
    }

    /// The lab file of `labctlOnAFullDisk`: one node in the testbed's range; `up` fails before any packet.
    static let labJSON = """
        {
          "apiVersion": "labctl.dev/v1", "name": "full", "profile": "seed-2021",
          "network": { "vmnet": "vmnet8", "subnet": "10.213.99.0/24", "gateway": "10.213.99.2", "hostAddress": "10.213.99.1",
                       "dns": ["10.213.99.2"], "dhcp": "10.213.99.128-10.213.99.254" },
          "base": { "name": "base", "vmx": "/nonexistent/base.vmx", "workerCheckpoint": "snapshot#1", "controlPlaneCheckpoint": "snapshot#2" },
          "ssh": { "user": "lab", "port": 22 },
          "vmware": { "product": "ws", "vmFolder": "vms", "cloneKind": "linked" },
          "mesh": { "id": "mesh1" },
          "clusters": [{ "name": "cluster1", "network": "network1", "metallb": ["10.213.99.81-10.213.99.99"],
            "nodes": [{ "name": "cluster1-ctrl-plane", "role": "control-plane", "address": "10.213.99.11", "cpus": 2, "memoryMiB": 4096 }] }]
        }
        """

    @Test("the labctl binary: `up` on a full state directory exits 7 naming the full disk; the journal is untouched",
          .enabled(if: FileManager.default.isExecutableFile(atPath: labctlPath), "needs .build/debug/labctl: run `swift build --build-tests` first"))
    func labctlOnAFullDisk() async throws {
        try await withTinyLab { fs, paths in
            let lab = fs.sub("lab.json")
            try Self.labJSON.write(toFile: lab, atomically: true, encoding: .utf8)
            let journal = #"{"entries":[],"nextSequence":1,"version":1}"# + "\n"
            try FileManager.default.createDirectory(atPath: paths.root, withIntermediateDirectories: true)
            try journal.write(toFile: paths.journal, atomically: true, encoding: .utf8)
            // vmrun is never reached: the first write (the lab's SSH key, then the lock record) fails.
            let runner = HostProcessRunner(environment: ["LABCTL_VMRUN": "/bin/false", "CI": "1"])
            let up = Command([Self.labctlPath, "up", "--skip-doctor", "--lab", lab], deadline: .seconds(120))
            try fs.fill()
            let keyRun = try await runner.run(up)
            #expect(keyRun.exitStatus == 7 && keyRun.stderrText.contains("SSH key") && keyRun.stderrText.contains("is full: free space on it"),
                    "\(keyRun.exitStatus): \(keyRun.stderrText)")
            fs.free()
            _ = try SSHKeys.ensureLabKey(paths: paths)
            try fs.fill()
            let lockRun = try await runner.run(up)
            #expect(lockRun.exitStatus == 7 && lockRun.stderrText.contains("free space"), "\(lockRun.exitStatus): \(lockRun.stderrText)")
            #expect(try String(contentsOfFile: paths.journal, encoding: .utf8) == journal)
            #expect(fs.leftoverTempFiles().isEmpty, "\(fs.leftoverTempFiles())")
        }
    }

    static var labctlPath: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent(".build/debug/labctl").path
    }
}

/// A value shared with `@Sendable` closures in these tests.
private final class Box<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: T
    init(_ value: T) { stored = value }
    var value: T { lock.withLock { stored } }
    func mutate(_ body: (inout T) -> Void) { lock.withLock { body(&stored) } }
}
