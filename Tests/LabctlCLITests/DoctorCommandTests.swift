import ArgumentParser
import Foundation
import LabKit
import Testing
@testable import LabctlCLI

/// `labctl doctor` renders LabKit's report; the checks themselves are tested in VMwareDriverTests.DoctorTests.
@Suite struct DoctorCommandTests {
    static let report = DoctorReport(host: "WSL2 on Windows (VMware Workstation through vmrun.exe)", results: [
        DoctorResult(id: "vmrun", title: "vmrun", status: .pass, detail: "/mnt/c/Program Files/VMware/VMware Workstation/vmrun.exe, version 1.17.0 build-24995812"),
        DoctorResult(id: "reach", title: "Route to the lab subnet", status: .fail, detail: "WSL2 cannot reach 10.213.64.0/24",
                     hint: "put networkingMode=mirrored under [wsl2] in %UserProfile%\\.wslconfig"),
        DoctorResult(id: "memory", title: "Memory for the nodes", status: .unsupported, detail: "WSL2 sees only its own VM's memory", hint: "compare with Task Manager"),
    ])

    @Test func tableShowsEveryCheckAndTheHintsOfTheOnesThatDidNotPass() {
        #expect(Labctl.DoctorCommand.table(Self.report) == """
            Host: WSL2 on Windows (VMware Workstation through vmrun.exe)
            PASS        vmrun: /mnt/c/Program Files/VMware/VMware Workstation/vmrun.exe, version 1.17.0 build-24995812
            FAIL        Route to the lab subnet: WSL2 cannot reach 10.213.64.0/24
                        -> put networkingMode=mirrored under [wsl2] in %UserProfile%\\.wslconfig
            UNSUPPORTED Memory for the nodes: WSL2 sees only its own VM's memory
                        -> compare with Task Manager
            1 check failed.

            """)
    }

    @Test func jsonRoundTripsTheTypedResults() throws {
        let text = try Labctl.DoctorCommand.json(Self.report)
        let back = try JSONDecoder().decode(DoctorReport.self, from: Data(text.utf8))
        #expect(back == Self.report)
        #expect(text.contains("\"status\" : \"unsupported\""))
        #expect(!back.passed)
    }

    @Test func helpHasExamplesAndUpCanSkipIt() throws {
        let help = Labctl.DoctorCommand.helpMessage()
        #expect(help.contains("labctl doctor --format json"))
        #expect(help.contains("--skip-doctor"))
        let up = try Labctl.parseAsRoot(["up", "--skip-doctor"])
        #expect((up as? Labctl.Up)?.skipDoctor == true)
    }
}
