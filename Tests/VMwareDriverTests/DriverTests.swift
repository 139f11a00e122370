import Foundation
import Testing
import LabKit
@testable import VMwareDriver

@Suite("VMware driver against a scripted vmrun")
struct DriverTests {
    @Test func startPassesAnArgvWithTypeFirstAndAbsolutePath() async throws {
        let s = try ScriptedVmrun()
        defer { s.cleanup() }
        let vmx = try s.makeVM("node one")
        let hv = VMwareHypervisor(vmrun: s.vmrun())
        try await hv.start(VMReference(path: vmx))
        #expect(s.calls() == [["-T", "ws", "list"], ["-T", "ws", "start", vmx, "nogui"]])
        // Already running: not started again.
        try s.set("list.out", "Total running VMs: 1\n\(vmx)\n")
        try await hv.start(VMReference(path: vmx))
        #expect(s.commands() == ["list", "start", "list"])
    }

    @Test func aHangEndsWithinItsDeadline() async throws {
        let s = try ScriptedVmrun()
        defer { s.cleanup() }
        let vmx = try s.makeVM("a")
        try s.set("start.hang")
        let hv = VMwareHypervisor(vmrun: s.vmrun(timeouts: VMwareTimeouts(startSeconds: 1, softStopSeconds: 1, defaultSeconds: 1)))
        let clock = ContinuousClock()
        let t0 = clock.now
        let e = await #expect(throws: LabError.self) { try await hv.start(VMReference(path: vmx)) }
        let took = seconds(clock.now - t0)
        #expect(e?.code == .timeout)
        #expect(e?.location?.description.contains("start") == true && e?.location?.description.contains(vmx) == true)
        #expect(took < 2.5, "took \(took) s for a 1 s deadline")
        #expect(s.commands() == ["list", "start"]) // a timeout is not retried
    }

    @Test func transientFailuresAreRetriedThenSucceed() async throws {
        let s = try ScriptedVmrun()
        defer { s.cleanup() }
        let vmx = try s.makeVM("a")
        try s.set("checkToolsState.failcount", "2")
        // The one error a retry can fix: VMware still holds the VM's files (docs/vmware-driver.md).
        try s.set("checkToolsState.failmsg", "The file is already in use")
        try s.set("checkToolsState.out", "running\n")
        let hv = VMwareHypervisor(vmrun: s.vmrun())
        #expect(try await hv.toolsState(VMReference(path: vmx)) == .running)
        #expect(s.commands() == ["checkToolsState", "checkToolsState", "checkToolsState"])
    }

    @Test func retriesAreBounded() async throws {
        let s = try ScriptedVmrun()
        defer { s.cleanup() }
        let vmx = try s.makeVM("a")
        try s.set("readVariable.failcount", "5")
        try s.set("readVariable.failmsg", "The file is already in use")
        let hv = VMwareHypervisor(vmrun: s.vmrun())
        let e = await #expect(throws: LabError.self) { try await hv.readVariable(VMReference(path: vmx), scope: .guestVar, name: "x") }
        #expect(e?.code == .conflict)
        #expect(s.commands().count == 3)
    }

    @Test func nonIdempotentCommandsAreNotRetried() async throws {
        let s = try ScriptedVmrun()
        defer { s.cleanup() }
        let vmx = try s.makeVM("a")
        try s.set("reset.failcount", "1")
        try s.set("reset.failmsg", "Unknown error")
        let hv = VMwareHypervisor(vmrun: s.vmrun())
        let e = await #expect(throws: LabError.self) { try await hv.reset(VMReference(path: vmx)) }
        #expect(e?.code == .commandFailed)
        #expect(e?.hint?.contains("vmware.log") == true)
        #expect(s.commands() == ["reset"])
    }

    @Test func everyCatalogueErrorIsTyped() async throws {
        let s = try ScriptedVmrun()
        defer { s.cleanup() }
        let vmx = try s.makeVM("a")
        try s.set("crlf")
        try s.set("reset.noise", "2015-08-31T17:57:29.547| ServiceImpl_Opener: PID 5033")
        let vmrun = s.vmrun(tries: 1)
        for (message, kind, code) in VmrunOutputTests.catalogue {
            let text = message.replacingOccurrences(of: "/vms/a/a.vmx", with: vmx)
            try s.set("reset.error", text)
            do {
                try await vmrun.run("reset", vmx: vmx, ["hard"], idempotent: false)
                Issue.record("\(message): no error")
            } catch let e as VmrunError {
                #expect(e.kind == kind, "\(message)")
                #expect(e.message == text)
                #expect(e.exitStatus == 255)
                #expect(e.labError.code == code)
                #expect(e.labError.location?.description == "\(s.script) -T ws reset '\(vmx)' hard" || e.labError.location?.description.contains(vmx) == true)
            }
        }
    }

    @Test func errorWithExitZeroIsStillAnError() async throws {
        let s = try ScriptedVmrun()
        defer { s.cleanup() }
        let vmx = try s.makeVM("a")
        try s.set("reset.out", "Error: The file is already in use\n")
        let e = await #expect(throws: VmrunError.self) { try await s.vmrun().run("reset", vmx: vmx, ["hard"], idempotent: false) }
        #expect(e?.kind == .fileInUse)
    }

    @Test func cancelledOperationQuotesVmwareLog() async throws {
        let s = try ScriptedVmrun()
        defer { s.cleanup() }
        let vmx = try s.makeVM("a")
        try s.dir.write("vms/a/vmware.log", try fixtureText("vmware.log"))
        try s.set("start.noise", "2015-08-31T17:57:29.547| ServiceImpl_Opener: PID 5033")
        try s.set("start.error", "The operation was canceled")
        let hv = VMwareHypervisor(vmrun: s.vmrun())
        let e = await #expect(throws: LabError.self) { try await hv.start(VMReference(path: vmx)) }
        #expect(e?.hint?.contains(s.dir.file("vms/a/vmware.log")) == true)
        #expect(e?.causeText?.contains("[msg.disk.configureDiskError] Reason: The parent of this virtual disk could not be opened.") == true)
        #expect(s.commands() == ["list", "start"]) // not retried, as in Vagrant
    }

    @Test func cancellationKillsVmrun() async throws {
        let s = try ScriptedVmrun()
        defer { s.cleanup() }
        let vmx = try s.makeVM("a")
        try s.set("start.hang")
        let hv = VMwareHypervisor(vmrun: s.vmrun(timeouts: VMwareTimeouts(startSeconds: 60)))
        let task = Task { try await hv.start(VMReference(path: vmx)) }
        try await Task.sleep(for: .milliseconds(300))
        let clock = ContinuousClock()
        let t0 = clock.now
        task.cancel()
        let result = await task.result
        #expect(seconds(clock.now - t0) < 2)
        guard case .failure(let error) = result else { Issue.record("expected failure"); return }
        #expect((error as? LabError)?.code == .cancelled)
    }

    @Test func playerReportsUnsupportedWithWhatToChange() async throws {
        let s = try ScriptedVmrun()
        defer { s.cleanup() }
        let vmx = try s.makeVM("a")
        let hv = VMwareHypervisor(vmrun: s.vmrun(product: .player))
        let e1 = await #expect(throws: LabError.self) {
            try await hv.clone(VMReference(path: vmx), to: VMReference(path: s.dir.file("vms/b/b.vmx")), kind: .linked, snapshot: "s", name: nil)
        }
        #expect(e1?.code == .unsupported)
        #expect(e1?.hint?.contains("vmware.product") == true)
        let e2 = await #expect(throws: LabError.self) { try await hv.createSnapshot(VMReference(path: vmx), name: "s") }
        #expect(e2?.code == .unsupported)
        let e3 = await #expect(throws: LabError.self) { try await hv.revert(VMReference(path: vmx), to: .name("s")) }
        #expect(e3?.code == .unsupported)
        let e4 = await #expect(throws: LabError.self) { try await hv.deleteSnapshot(VMReference(path: vmx), .name("s")) }
        #expect(e4?.code == .unsupported)
        #expect(s.calls().isEmpty)
    }

    @Test func softStopFallsBackToHardAndChecksList() async throws {
        let s = try ScriptedVmrun()
        defer { s.cleanup() }
        let vmx = try s.makeVM("a")
        try s.set("list.out", "Total running VMs: 1\n\(vmx)\n")
        // Soft hangs (ignoring SIGTERM); hard powers off.
        try s.set("stop.hook", """
        if [ "$2" = soft ]; then trap '' TERM; while :; do sleep 0.1; done; fi
        printf 'Total running VMs: 0\\n' > '\(s.ctl)/list.out'
        """)
        let hv = VMwareHypervisor(vmrun: s.vmrun())
        let clock = ContinuousClock()
        let t0 = clock.now
        try await hv.stop(VMReference(path: vmx), mode: .soft)
        #expect(seconds(clock.now - t0) < 3.5)
        #expect(s.commands() == ["stop", "list", "stop", "list"])
        #expect(s.calls().map { $0.last ?? "" }.filter { $0 == "soft" || $0 == "hard" } == ["soft", "hard"])
    }

    @Test func hardStopOfAStoppedVMIsFine() async throws {
        let s = try ScriptedVmrun()
        defer { s.cleanup() }
        let vmx = try s.makeVM("a")
        try s.set("stop.error", "The virtual machine is not powered on: \(vmx)")
        try await VMwareHypervisor(vmrun: s.vmrun()).stop(VMReference(path: vmx), mode: .hard)
        #expect(s.commands() == ["stop", "list"])
    }

    @Test func guestIPFiltersDotOneAndFallsBackToLeases() async throws {
        let s = try ScriptedVmrun()
        defer { s.cleanup() }
        let vmx = try s.makeVM("a", vmx: ".encoding = \"UTF-8\"\nethernet0.addressType = \"static\"\nethernet0.address = \"00:50:56:3a:00:01\"\n")
        try s.dir.write("dhcpd.leases", "lease 10.213.64.140 {\n  starts 4 2030/05/14 12:00:00;\n  ends 4 2030/05/14 12:30:00;\n  hardware ethernet 00:50:56:3a:00:01;\n}\n")
        let subnet = try #require(IPv4Network("10.213.64.0/24"))
        let hv = VMwareHypervisor(vmrun: s.vmrun(), leaseFiles: [s.dir.file("dhcpd.leases")], now: { utc("2030/05/14 12:10:00") })
        let ref = VMReference(path: vmx)

        try s.set("getGuestIPAddress.out", "10.213.64.131\r\n")
        #expect(try await hv.guestIPAddress(ref, wait: true, subnet: subnet) == IPv4Address("10.213.64.131"))
        #expect(s.calls().last?.last == "-wait")

        // docker0-style .1 and an address outside the lab subnet are rejected (open-vm-tools#93).
        for wrong in ["172.17.0.1", "10.213.64.1", "192.168.122.55"] {
            try s.set("getGuestIPAddress.out", wrong + "\n")
            #expect(try await hv.guestIPAddress(ref, wait: false, subnet: subnet) == IPv4Address("10.213.64.140"), "\(wrong)")
        }
        try s.set("getGuestIPAddress.out", "unknown\n")
        #expect(try await hv.guestIPAddress(ref, wait: false, subnet: subnet) == IPv4Address("10.213.64.140"))

        // Tools not running: leases still answer; with no lease, nil.
        s.clear("getGuestIPAddress.out")
        try s.set("getGuestIPAddress.error", "The VMware Tools are not running in the virtual machine: \(vmx)")
        #expect(try await hv.guestIPAddress(ref, wait: false, subnet: subnet) == IPv4Address("10.213.64.140"))
        let noLeases = VMwareHypervisor(vmrun: s.vmrun(), leaseFiles: [], now: { utc("2030/05/14 12:10:00") })
        #expect(try await noLeases.guestIPAddress(ref, wait: false, subnet: subnet) == nil)

        // Conflicting leases are an error, not a guess.
        try s.dir.write("dhcpd.leases", "lease 10.213.64.140 {\n  starts 4 2030/05/14 12:00:00;\n  ends 4 2030/05/14 12:30:00;\n  hardware ethernet 00:50:56:3a:00:01;\n  client-hostname \"a\";\n}\nlease 10.213.64.141 {\n  starts 4 2030/05/14 12:01:00;\n  ends 4 2030/05/14 12:31:00;\n  hardware ethernet 00:50:56:3a:00:01;\n  client-hostname \"b\";\n}\n")
        let e = await #expect(throws: LabError.self) { try await hv.guestIPAddress(ref, wait: false, subnet: subnet) }
        #expect(e?.code == .conflict)
        #expect(e?.message.contains("10.213.64.141") == true)
    }

    @Test func configureEditsAClosedVMAtomically() async throws {
        let s = try ScriptedVmrun()
        defer { s.cleanup() }
        let original = "#!/usr/bin/vmware\n.encoding = \"UTF-8\"\n# keep me\ndisplayName = \"base\"\nmemsize = \"1024\"\nethernet0.generatedAddress = \"00:0c:29:00:00:01\"\nrtc.diffFromUTC = 0\n"
        let vmx = try s.makeVM("a", vmx: original)
        let hv = VMwareHypervisor(vmrun: s.vmrun())
        try await hv.configure(VMReference(path: vmx), settings: [("displayName", "node1"), ("uuid.action", "create")],
                               removing: ["ethernet0.generatedAddress"])
        let text = try String(contentsOfFile: vmx, encoding: .utf8)
        #expect(text == "#!/usr/bin/vmware\n.encoding = \"UTF-8\"\n# keep me\ndisplayName = \"node1\"\nmemsize = \"1024\"\nrtc.diffFromUTC = 0\nuuid.action = \"create\"\n")
        #expect(s.commands() == ["list"])
    }

    @Test func configureRefusesARunningOrLockedVM() async throws {
        let s = try ScriptedVmrun()
        defer { s.cleanup() }
        let vmx = try s.makeVM("a")
        let before = try String(contentsOfFile: vmx, encoding: .utf8)
        let hv = VMwareHypervisor(vmrun: s.vmrun())
        let ref = VMReference(path: vmx)

        try s.set("list.out", "Total running VMs: 1\r\n\(vmx)\r\n")
        let running = await #expect(throws: LabError.self) { try await hv.configure(ref, settings: [("memsize", "8")]) }
        #expect(running?.code == .conflict)
        #expect(running?.message.contains("running") == true)

        s.clear("list.out")
        try s.dir.write("vms/a/a.vmx.lck/M1.lck", "host 999999-1 x")
        let stale = await #expect(throws: LabError.self) { try await hv.configure(ref, settings: [("memsize", "8")]) }
        #expect(stale?.code == .conflict)
        #expect(stale?.message.contains("stale") == true)
        #expect(FileManager.default.fileExists(atPath: s.dir.file("vms/a/a.vmx.lck/M1.lck")))

        try s.dir.write("vms/a/a.vmx.lck/M1.lck", "host \(ProcessInfo.processInfo.processIdentifier)-1 x")
        let live = await #expect(throws: LabError.self) { try await hv.configure(ref, settings: [("memsize", "8")]) }
        #expect(live?.message.contains("open in VMware") == true)
        #expect(try String(contentsOfFile: vmx, encoding: .utf8) == before)
    }

    static let twoSnapshots = """
    .encoding = "UTF-8"
    snapshot.lastUID = "2"
    snapshot.current = "2"
    snapshot.numSnapshots = "2"
    snapshot0.uid = "1"
    snapshot0.displayName = "snapshot#1"
    snapshot0.numClones = "1"
    snapshot0.clone0 = "CLONE"
    snapshot1.uid = "2"
    snapshot1.parent = "1"
    snapshot1.displayName = "snapshot#2"

    """

    @Test func createSnapshotReturnsTheNewUIDAndRefusesDuplicates() async throws {
        let s = try ScriptedVmrun()
        defer { s.cleanup() }
        let vmx = try s.makeVM("a", vmsd: Self.twoSnapshots)
        let vmsd = s.dir.file("vms/a/a.vmsd")
        // vmrun snapshot appends a snapshot with the next uid, as VMware does.
        try s.set("snapshot.hook", """
        cat >> '\(vmsd)' <<EOT
        snapshot2.uid = "3"
        snapshot2.parent = "2"
        snapshot2.displayName = "$2"
        EOT
        sed -i 's/snapshot.numSnapshots = "2"/snapshot.numSnapshots = "3"/; s/snapshot.current = "2"/snapshot.current = "3"/' '\(vmsd)'
        """)
        let hv = VMwareHypervisor(vmrun: s.vmrun())
        let ref = VMReference(path: vmx)
        let dup = await #expect(throws: LabError.self) { try await hv.createSnapshot(ref, name: "snapshot#2") }
        #expect(dup?.code == .conflict)
        #expect(s.commands().isEmpty)

        let created = try await hv.createSnapshot(ref, name: "snapshot#3")
        #expect(created.uid == 3)
        #expect(created.parentUID == 2)
        #expect(s.calls().last == ["-T", "ws", "snapshot", vmx, "snapshot#3"])
        #expect(try await hv.snapshots(ref).currentUID == 3)
    }

    @Test func deletingASnapshotThatClonesUseIsRefused() async throws {
        let s = try ScriptedVmrun()
        defer { s.cleanup() }
        let clone = try s.makeVM("clone1")
        let vmx = try s.makeVM("base", vmsd: Self.twoSnapshots.replacingOccurrences(of: "CLONE", with: clone))
        let hv = VMwareHypervisor(vmrun: s.vmrun())
        let e = await #expect(throws: LabError.self) { try await hv.deleteSnapshot(VMReference(path: vmx), .name("snapshot#1")) }
        #expect(e?.code == .conflict)
        #expect(e?.message.contains(clone) == true)
        #expect(s.commands().isEmpty)

        try await hv.deleteSnapshot(VMReference(path: vmx), .uid(2))
        #expect(s.calls().last == ["-T", "ws", "deleteSnapshot", vmx, "snapshot#2"])

        // A clone of a child snapshot also protects its ancestors.
        let base2 = try s.makeVM("base2", vmsd: Self.twoSnapshots
            .replacingOccurrences(of: "snapshot0.numClones = \"1\"\nsnapshot0.clone0 = \"CLONE\"\n", with: "")
            + "snapshot1.numClones = \"1\"\nsnapshot1.clone0 = \"\(clone)\"\n")
        let e2 = await #expect(throws: LabError.self) { try await hv.deleteSnapshot(VMReference(path: base2), .uid(1)) }
        #expect(e2?.message.contains(clone) == true)
        #expect(try await hv.snapshots(VMReference(path: base2)).clones[1] == nil)
    }

    @Test func revertByUIDDisambiguatesDuplicateNames() async throws {
        let s = try ScriptedVmrun()
        defer { s.cleanup() }
        let vmx = try s.makeVM("a", vmsd: try fixtureText("base.vmsd"))
        let hv = VMwareHypervisor(vmrun: s.vmrun())
        let ref = VMReference(path: vmx)
        let e = await #expect(throws: LabError.self) { try await hv.revert(ref, to: .name("Clone")) }
        #expect(e?.code == .conflict)
        try await hv.revert(ref, to: .uid(4))
        #expect(s.calls().last == ["-T", "ws", "revertToSnapshot", vmx, "snapshot#1/snapshot#2/Clone"])
        // vmrun's own "not unique" error still maps to a typed error.
        try s.set("revertToSnapshot.error", "The name does not uniquely identify one snapshot")
        let e2 = await #expect(throws: LabError.self) { try await hv.revert(ref, to: .uid(3)) }
        #expect(e2?.code == .conflict)
    }

    @Test func linkedCloneArgvAndChecks() async throws {
        let s = try ScriptedVmrun()
        defer { s.cleanup() }
        let base = try s.makeVM("base", vmsd: try fixtureText("base.vmsd"))
        let dst = s.dir.file("vms/node1/node1.vmx")
        // The "clone" creates the VM, with a copied lock VVD would delete.
        try s.set("clone.hook", """
        mkdir -p "$(dirname "$2")/$(basename "$2").lck"; printf '.encoding = "UTF-8"\\n' > "$2"
        """)
        let hv = VMwareHypervisor(vmrun: s.vmrun())
        try await hv.clone(VMReference(path: base), to: VMReference(path: dst), kind: .linked, snapshot: "snapshot#2", name: "node1")
        #expect(s.calls().last == ["-T", "ws", "clone", base, dst, "linked", "-snapshot=snapshot#2", "-cloneName=node1"])
        #expect(!FileManager.default.fileExists(atPath: dst + ".lck"))

        // Destination exists: refused before vmrun runs.
        let n = s.calls().count
        let exists = await #expect(throws: LabError.self) {
            try await hv.clone(VMReference(path: base), to: VMReference(path: dst), kind: .linked, snapshot: "snapshot#2", name: nil)
        }
        #expect(exists?.code == .conflict)
        // Ambiguous snapshot name: refused.
        let other = s.dir.file("vms/node2/node2.vmx")
        let ambiguous = await #expect(throws: LabError.self) {
            try await hv.clone(VMReference(path: base), to: VMReference(path: other), kind: .linked, snapshot: "Clone", name: nil)
        }
        #expect(ambiguous?.code == .conflict)
        // Source running: refused.
        try s.set("list.out", "Total running VMs: 1\n\(base)\n")
        let running = await #expect(throws: LabError.self) {
            try await hv.clone(VMReference(path: base), to: VMReference(path: other), kind: .full, snapshot: nil, name: nil)
        }
        #expect(running?.code == .conflict)
        #expect(!s.commands().dropFirst(n).contains("clone"))
    }

    @Test func oneVmrunPerVMAtATime() async throws {
        let s = try ScriptedVmrun()
        defer { s.cleanup() }
        let a = try s.makeVM("a")
        let b = try s.makeVM("b")
        // Detects two calls running at once.
        try s.set("readVariable.hook", """
        mkdir '\(s.ctl)/busy' 2>/dev/null || touch '\(s.ctl)/overlap'
        sleep 0.3
        rmdir '\(s.ctl)/busy' 2>/dev/null
        true
        """)
        let hv = VMwareHypervisor(vmrun: s.vmrun())
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<3 { group.addTask { _ = try await hv.readVariable(VMReference(path: a), scope: .guestVar, name: "x") } }
            try await group.waitForAll()
        }
        #expect(!FileManager.default.fileExists(atPath: s.ctl + "/overlap"))
        // Different VMs may run at once (shows the detector works).
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { _ = try await hv.readVariable(VMReference(path: a), scope: .guestVar, name: "x") }
            group.addTask { _ = try await hv.readVariable(VMReference(path: b), scope: .guestVar, name: "x") }
            try await group.waitForAll()
        }
        #expect(FileManager.default.fileExists(atPath: s.ctl + "/overlap"))
    }

    @Test func listParsingThroughTheDriver() async throws {
        let s = try ScriptedVmrun()
        defer { s.cleanup() }
        let vmx = try s.makeVM("a")
        try s.set("crlf")
        try s.set("list.noise", "2026-11-27T10:00:00.000| vmrun| noise")
        try s.set("list.out", "Total running VMs: 1\r\n\(vmx)\r\n")
        let hv = VMwareHypervisor(vmrun: s.vmrun())
        #expect(try await hv.runningVMs() == [VMReference(path: vmx)])
        #expect(try await hv.powerState(VMReference(path: vmx)) == .on)
        s.clear("list.out")
        try s.dir.write("vms/a/a.vmss", "")
        #expect(try await hv.powerState(VMReference(path: vmx)) == .suspended)
    }

    @Test func writeVariableRejectsWhatVIXRejects() async throws {
        let s = try ScriptedVmrun()
        defer { s.cleanup() }
        let vmx = try s.makeVM("a")
        let hv = VMwareHypervisor(vmrun: s.vmrun())
        let e = await #expect(throws: LabError.self) { try await hv.writeVariable(VMReference(path: vmx), scope: .guestVar, name: "k", value: "YQ==") }
        #expect(e?.code == .invalidInput)
        try await hv.writeVariable(VMReference(path: vmx), scope: .guestVar, name: "labctl.node", value: "n1")
        #expect(s.calls().last == ["-T", "ws", "writeVariable", vmx, "guestVar", "labctl.node", "n1"])
    }

    @Test func locatorOrder() throws {
        let s = try ScriptedVmrun()
        defer { s.cleanup() }
        #expect(try VmrunLocator.locate(override: s.script, product: .ws, environment: [:]) == s.script)
        #expect(try VmrunLocator.locate(override: nil, product: .ws, environment: ["LABCTL_VMRUN": s.script]) == s.script)
        let e1 = #expect(throws: LabError.self) { try VmrunLocator.locate(override: "/nonexistent/vmrun", product: .ws, environment: [:]) }
        #expect(e1?.location?.description == "lab.json: vmware.vmrun")
        let e2 = #expect(throws: LabError.self) {
            try VmrunLocator.locate(override: nil, product: .ws, environment: ["PATH": "/nonexistent"], isExecutable: { _ in false })
        }
        #expect(e2?.code == .notFound)
        #expect(try VmrunLocator.locate(override: nil, product: .ws, environment: ["PATH": "/x:\(s.dir.file("bin"))"],
                                        isExecutable: { $0.hasPrefix(s.dir.path) && FileManager.default.isExecutableFile(atPath: $0) }) == s.script)
    }

    @Test func applyTemplateWritesTheNodeIntoTheVMX() async throws {
        let s = try ScriptedVmrun()
        defer { s.cleanup() }
        let vmx = try s.makeVM("node1", vmx: "#!/usr/bin/vmware\n.encoding = \"UTF-8\"\ndisplayName = \"base\"\nmemsize = \"1024\"\nethernet0.present = \"TRUE\"\nethernet0.generatedAddress = \"00:0c:29:00:00:01\"\nethernet0.generatedAddressOffset = \"0\"\nscsi0:0.fileName = \"base-cl1.vmdk\"\n")
        let lab = try VMXTemplateTests().lab()
        let node = try #require(lab.node(named: "cluster1-ctrl-plane"))
        try await VMwareHypervisor(vmrun: s.vmrun()).applyTemplate(to: VMReference(path: vmx), node: node, lab: lab, labDirectory: nil)
        let doc = try VMXDocument.load(path: vmx)
        #expect(doc["displayName"] == "cluster1-ctrl-plane")
        #expect(doc["memsize"] == "4096")
        #expect(doc["ethernet0.address"] == "00:50:56:3a:00:01")
        #expect(doc["ethernet0.generatedAddress"] == nil && doc["ethernet0.generatedAddressOffset"] == nil)
        #expect(doc["uuid.action"] == "create")
        #expect(doc["guestinfo.labctl.cluster"] == "cluster1")
        #expect(doc["scsi0:0.fileName"] == "base-cl1.vmdk")
        let text = try String(contentsOfFile: vmx, encoding: .utf8)
        #expect(text.hasPrefix("#!/usr/bin/vmware\n.encoding = \"UTF-8\"\ndisplayName = \"cluster1-ctrl-plane\"\nmemsize = \"4096\"\n"))
    }

    @Test func guestIPWaitTimeoutFallsBackToLeases() async throws {
        let s = try ScriptedVmrun()
        defer { s.cleanup() }
        let vmx = try s.makeVM("a", vmx: ".encoding = \"UTF-8\"\nethernet0.address = \"00:50:56:3a:00:01\"\n")
        try s.dir.write("dhcpd.leases", "lease 10.213.64.140 {\n  starts 4 2030/05/14 12:00:00;\n  ends 4 2030/05/14 12:30:00;\n  hardware ethernet 00:50:56:3a:00:01;\n}\n")
        try s.set("getGuestIPAddress.hang")
        let timeouts = VMwareTimeouts(startSeconds: 1, softStopSeconds: 1, defaultSeconds: 1)
        let subnet = try #require(IPv4Network("10.213.64.0/24"))
        let hv = VMwareHypervisor(vmrun: s.vmrun(timeouts: timeouts), leaseFiles: [s.dir.file("dhcpd.leases")], now: { utc("2030/05/14 12:10:00") })
        #expect(try await hv.guestIPAddress(VMReference(path: vmx), wait: true, subnet: subnet) == IPv4Address("10.213.64.140"))
        let none = VMwareHypervisor(vmrun: s.vmrun(timeouts: timeouts), leaseFiles: [], now: { utc("2030/05/14 12:10:00") })
        let e = await #expect(throws: LabError.self) { try await none.guestIPAddress(VMReference(path: vmx), wait: true, subnet: subnet) }
        #expect(e?.code == .timeout)
    }
}
