import Foundation
import LabKit
import Testing
@testable import VMwareDriver

/// Inputs that crashed or hung a parser (docs/robustness.md, "Fuzzing"), each kept as a fixture
/// under Fixtures/fuzz/.
@Suite struct VMwareFuzzRegressionTests {
    /// `numCloneOf = "999999999999"` drove a loop of 10^12 dictionary look-ups: `labctl` hung on
    /// reading the .vmsd. Now only the cloneOfN keys present are read.
    @Test func aHugeNumCloneOfReadsOnlyTheKeysPresent() throws {
        let path = try fixture("numcloneof-huge.vmsd", in: "fuzz")
        let vmsd = try VMSD.parse(try VMXDocument.load(path: path), source: path)
        #expect(vmsd.cloneOf == ["/vms/base/base.vmx"])
    }

    @Test func cloneOfKeysAreReadInIndexOrderBelowTheCount() throws {
        let text = """
            numCloneOf = "3"
            cloneOf2 = "/vms/c.vmx"
            cloneOf0 = "/vms/a.vmx"
            cloneOf3 = "/vms/beyond-the-count.vmx"
            cloneOf-1 = "/vms/negative.vmx"
            cloneOf01 = "/vms/leading-zero.vmx"

            """
        let vmsd = try VMSD.parse(text, source: "clone.vmsd")
        #expect(vmsd.cloneOf == ["/vms/a.vmx", "/vms/c.vmx"])
    }
}
