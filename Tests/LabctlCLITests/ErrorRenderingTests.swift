import Foundation
import Testing
import LabKit
@testable import LabctlCLI

/// Errors as users read them: what failed, where (the typed Location), why, what next.
@Suite struct ErrorRenderingTests {
    static let vmrunFailure = LabError(
        .conflict, "the VM is not powered on", location: .command(["/usr/bin/vmrun", "-T", "ws", "reset", "/vms/my vm/a.vmx", "hard"]),
        hint: "start it first", cause: POSIXError.current(EPERM), detail: "The virtual machine is not powered on: /vms/my vm/a.vmx")

    @Test func textNamesWhereAsAPasteableCommand() {
        #expect(Labctl.render(Self.vmrunFailure) == """
            error: the VM is not powered on
              at: /usr/bin/vmrun -T ws reset '/vms/my vm/a.vmx' hard
              cause: The virtual machine is not powered on: /vms/my vm/a.vmx
              hint: start it first
            """)
        #expect(Labctl.render(LabError(.invalidInput, "bad", location: .lab("network.subnet")), kind: "warning")
            == "warning: bad\n  at: lab.json: network.subnet")
    }

    @Test func jsonKeepsLocationTextAndAddsArgvAndNode() throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let json = String(decoding: try encoder.encode(JSONProgressRenderer.errorObject(Self.vmrunFailure)), as: UTF8.self)
        #expect(json == #"{"cause":"The virtual machine is not powered on: \/vms\/my vm\/a.vmx","code":"conflict","#
            + #""command":["\/usr\/bin\/vmrun","-T","ws","reset","\/vms\/my vm\/a.vmx","hard"],"hint":"start it first","#
            + #""location":"\/usr\/bin\/vmrun -T ws reset '\/vms\/my vm\/a.vmx' hard","message":"the VM is not powered on"}"#)
        let onNode = LabError(.timeout, "slow", location: .node("c1-cp", path: "/etc/hosts"))
        let node = String(decoding: try encoder.encode(JSONProgressRenderer.errorObject(onNode)), as: UTF8.self)
        #expect(node == #"{"code":"timeout","location":"node c1-cp: \/etc\/hosts","message":"slow","node":"c1-cp"}"#)
    }
}
