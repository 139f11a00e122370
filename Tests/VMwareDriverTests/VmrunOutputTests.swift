import Foundation
import Testing
import LabKit
@testable import VMwareDriver

@Suite("vmrun output and errors")
struct VmrunOutputTests {
    @Test func listWithCRLFAndSpaces() throws {
        let out = VmrunOutput(try fixtureText("list-crlf.txt"))
        #expect(try out.runningVMs(command: ["vmrun", "list"]) == [
            "/vms/a/a.vmx", "/Users/me/Documents/Virtual Machines.localized/GNS3 VM.vmwarevm/GNS3 VM.vmx"])
        #expect(try VmrunOutput("Total running VMs: 0\n").runningVMs(command: ["vmrun", "list"]).isEmpty)
        #expect(try VmrunOutput("noise\nTotal running VMs: 1\n/x.vmx\n").runningVMs(command: ["c"]) == ["/x.vmx"])
        #expect(throws: LabError.self) { try VmrunOutput("garbage\n").runningVMs(command: ["c"]) }
    }

    @Test func snapshotsWithCRLFAndTree() throws {
        let flat = try VmrunOutput(try fixtureText("snapshots-crlf.txt")).snapshotNames(command: ["c"])
        #expect(flat.map(\.name) == ["Clone", "Clone", "Clone"])
        let tree = try VmrunOutput("Total snapshots: 3\nsnapshot#1\n\tsnapshot#2\n\t\tsnap 3\n").snapshotNames(command: ["c"])
        #expect(tree.map(\.depth) == [0, 1, 2])
        #expect(tree.last?.name == "snap 3")
        #expect(try VmrunOutput("Total snapshots: 0\r\n").snapshotNames(command: ["c"]).isEmpty)
    }

    @Test func errorAfterLogNoise() throws {
        let out = VmrunOutput(try fixtureText("canceled-noise-crlf.txt"))
        #expect(out.errorMessage == "The operation was canceled")
        #expect(VmrunError.classify(try #require(out.errorMessage)) == .operationCancelled)
    }

    @Test func ipAndToolsState() {
        #expect(VmrunOutput("10.213.64.131\r\n").ipAddress == IPv4Address("10.213.64.131"))
        #expect(VmrunOutput("unknown\n").ipAddress == nil)
        #expect(VmrunOutput("running\n").toolsState == .running)
        #expect(VmrunOutput("installed").toolsState == .installed)
    }

    static let catalogue: [(String, VmrunError.Kind, LabError.Code)] = [
        ("The virtual machine is not powered on: /vms/a/a.vmx", .notPoweredOn, .conflict),
        ("The VMware Tools are not running in the virtual machine: /vms/a/a.vmx", .toolsNotRunning, .conflict),
        ("Cannot open VM: /vms/a/a.vmx, Cannot read the virtual machine configuration file", .cannotOpenVM, .commandFailed),
        ("Cannot open VM: /vms/a/a.vmx, The virtual machine cannot be found", .vmNotFound, .notFound),
        ("Cannot open VM: /vms/a/a.vmx, Incorrect password", .cannotOpenVM, .commandFailed),
        ("The file is already in use", .fileInUse, .conflict),
        ("One of the parameters was invalid", .invalidParameters, .commandFailed),
        ("The name does not uniquely identify one snapshot", .ambiguousSnapshotName, .conflict),
        ("Invalid snapshot name", .invalidSnapshotName, .notFound),
        ("The operation was canceled", .operationCancelled, .commandFailed),
        ("Invalid user name or password for the guest OS", .guestCredentials, .security),
        ("A file was not found", .fileNotFound, .notFound),
        ("The operation is not supported", .notSupported, .unsupported),
        ("The operation is not supported for the specified parameters", .notSupported, .unsupported),
        ("Unknown error", .unknown, .commandFailed),
        // checkToolsState printing only `unknown` with a non-zero exit (gns3-server#1901).
        ("unknown", .reportedUnknown, .commandFailed),
        ("Something new in WS 18", .unknown, .commandFailed),
    ]

    @Test func catalogueMapsToTypedErrors() {
        for (message, kind, code) in Self.catalogue {
            #expect(VmrunError.classify(message) == kind, "\(message)")
            let e = VmrunError(kind: kind, message: message, argv: ["vmrun", "-T", "ws", "x", "/vms/a/a.vmx"], exitStatus: 255, vmx: "/vms/a/a.vmx")
            #expect(e.labError.code == code, "\(message)")
            #expect(e.labError.location == .command(["vmrun", "-T", "ws", "x", "/vms/a/a.vmx"]))
            // The typed error stays reachable behind the user's message: callers decide on its kind.
            #expect(e.labError.underlying(VmrunError.self)?.kind == kind, "\(message)")
            #expect(e.labError.causeText == message)
            #expect(e.labError.hint != nil || kind == .guestCredentials || kind == .fileNotFound)
        }
    }

    @Test func cancelledPointsAtVmwareLogAndQuotesMsgPost() throws {
        let excerpt = VMwareLog.messagePostErrors(logPath: try fixture("vmware.log"))
        #expect(excerpt == [
            "[msg.disk.noBackEnd] Cannot open the disk '/vms/a/a-000001.vmdk' or one of the snapshot disks it depends on.",
            "[msg.disk.configureDiskError] Reason: The parent of this virtual disk could not be opened.",
        ])
        let e = VmrunError(kind: .operationCancelled, message: "The operation was canceled", argv: ["c"], exitStatus: 255,
                           vmx: "/vms/a/a.vmx", vmwareLogExcerpt: excerpt).labError
        #expect(e.hint?.contains("/vms/a/vmware.log") == true)
        #expect(e.causeText?.contains("parent of this virtual disk") == true)
    }

    @Test func workstationProviderErrorSuggestsPlayer() {
        let message = "Error opening host: VIX_SERVICEPROVIDER_VMWARE_WORKSTATION"
        let e = VmrunError(kind: VmrunError.classify(message), message: message, argv: ["c"], exitStatus: 255).labError
        #expect(e.hint?.contains("vmware.product") == true)
        #expect(e.code == .unsupported)
    }

    /// Only "file in use" is retried (docs/vmware-driver.md, "Errors").
    @Test func onlyFileInUseIsTransient() {
        for kind in VmrunError.Kind.allCases {
            #expect(VmrunError(kind: kind, message: "m", argv: ["c"], exitStatus: 255).isTransient == (kind == .fileInUse), "\(kind)")
        }
    }
}
