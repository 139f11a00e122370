import Testing
import GuestSSH
import LabXML

@Suite struct VersionTests {
    /// Both C libraries really link and report the version of the loaded library.
    @Test func cLibrariesReportVersions() {
        #expect(LibSSH2.runtimeVersion.hasPrefix("1."))
        #expect(LibXML2.runtimeVersion.hasPrefix("2."))
    }
}
