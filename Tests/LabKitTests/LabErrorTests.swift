import Foundation
import Testing
import LabKit

/// LabError keeps what went wrong underneath typed, and says where as a typed Location.
@Suite struct LabErrorTests {
    struct Inner: Error, Equatable { var kind: Int }

    @Test func underlyingFindsATypedCauseThroughWrappedErrors() {
        let wrapped = LabError(.commandFailed, "outer", cause: LabError(.conflict, "middle", cause: Inner(kind: 7)))
        #expect(wrapped.underlying(Inner.self) == Inner(kind: 7))
        #expect(wrapped.underlying(LabError.self)?.message == "middle")
        #expect(LabError(.commandFailed, "no cause").underlying(Inner.self) == nil)
    }

    @Test func causeTextPrefersDetailThenDescribesTheCause() {
        let posix = LabError(.internalError, "cannot lock the lab", cause: POSIXError.current(EACCES))
        #expect(posix.causeText == String(cString: strerror(EACCES)))
        let both = LabError(.commandFailed, "vmrun failed", cause: Inner(kind: 1), detail: "Error: boom")
        #expect(both.causeText == "Error: boom")
        let nested = LabError(.commandFailed, "outer", cause: LabError(.timeout, "inner", detail: "after 2.0s"))
        #expect(nested.causeText == "inner: after 2.0s")
        #expect(nested.description == "outer: inner: after 2.0s")
    }

    @Test func redactionReachesMessageCommandDetailAndTypedCause() {
        struct Leaky: Error, CustomStringConvertible { var description: String { "token abc123 rejected" } }
        let e = LabError(.commandFailed, "join with abc123 failed", location: .command(["kubeadm", "join", "--token", "abc123"], node: "n1"),
                         hint: "retry abc123", cause: Leaky()).redacted { $0.replacingOccurrences(of: "abc123", with: "<redacted>") }
        #expect(e.message == "join with <redacted> failed")
        #expect(e.hint == "retry <redacted>")
        #expect(e.location == .command(["kubeadm", "join", "--token", "<redacted>"], node: "n1"))
        #expect(e.cause == nil)
        #expect(e.causeText == "token <redacted> rejected")
        #expect(!e.description.contains("abc123"))
    }

    @Test func locationsRenderAsBefore() {
        #expect(Location.lab("clusters[0].nodes[1].address", position: SourcePosition(line: 12, column: 45)).description
            == "lab.json: clusters[0].nodes[1].address (line 12, column 45)")
        #expect(Location.lab("vmware.vmrun").description == "lab.json: vmware.vmrun")
        #expect(Location.node("c1-cp", path: "/etc/kubernetes/admin.conf").description == "node c1-cp: /etc/kubernetes/admin.conf")
        #expect(Location.file("/etc/vmware/vmnet8/nat/nat.conf", line: 12).description == "/etc/vmware/vmnet8/nat/nat.conf:12")
        #expect(Location.command(["/usr/bin/vmrun", "-T", "ws", "start", "/vms/my vm/a.vmx", "nogui"]).description
            == "/usr/bin/vmrun -T ws start '/vms/my vm/a.vmx' nogui")
        #expect(Location.command(Command(["curl", "-H", "Authorization: s3cret"], secrets: ["s3cret"])).argv
            == ["curl", "-H", "Authorization: <redacted>"])
        #expect(Location.stage("node.start@c1-cp").description == "stage node.start@c1-cp")
    }
}
