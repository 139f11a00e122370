import Foundation
import LabKit
@testable import LabctlCLI
import LabStages
import LabXML
import Testing

/// `labctl verify` rendering: the table, JSON and the JUnit report (checked against the XSD).
@Suite struct VerifyTests {
    static let results = [
        MeshVerifyResult.parse(cluster: "cluster1", stdout: "verify.cluster1.answered=v1,v2\nverify.cluster1.tries=2\nverify.cluster1.ok=true\n",
                               stderr: "labctl: calling helloworld\n", exitStatus: 0, expected: ["v1", "v2"], maxTries: 30, seconds: 2.5),
        MeshVerifyResult.parse(cluster: "cluster2", stdout: "verify.cluster2.answered=v2\nverify.cluster2.tries=30\nverify.cluster2.ok=false\n",
                               stderr: "error: from cluster2, v1 never answered in 30 tries <&>\n", exitStatus: 1,
                               expected: ["v1", "v2"], maxTries: 30, seconds: 61.25),
    ]

    static let xsd: String? = try? String(contentsOfFile: URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("LabXMLTests/Schemas/junit.xsd").path, encoding: .utf8)

    @Test func table() {
        #expect(Labctl.Verify.table(Self.results) == """
            FROM      ANSWERED  EXPECTED  TRIES  RESULT
            cluster1  v1,v2     v1,v2     2/30   ok
            cluster2  v2        v1,v2     30/30  FAILED: v1 never answered

            """)
    }

    @Test func json() throws {
        let rows = try JSONDecoder().decode([Labctl.Verify.JSONRow].self, from: Data(Labctl.Verify.json(Self.results).utf8))
        #expect(rows.map(\.from) == ["cluster1", "cluster2"])
        #expect(rows[0].ok && rows[0].answered == ["v1", "v2"] && rows[0].tries == 2 && rows[0].missing.isEmpty)
        #expect(!rows[1].ok && rows[1].missing == ["v1"] && rows[1].tries == 30 && rows[1].maxTries == 30 && rows[1].seconds == 61.25)
    }

    @Test func junitHasOneCasePerDirectionAndValidates() throws {
        let xsd = try #require(Self.xsd, "Tests/LabXMLTests/Schemas/junit.xsd")
        let started = Date(timeIntervalSince1970: 1_800_000_000)
        let report = Labctl.Verify.junitReport(Self.results, lab: "home", started: started)
        #expect(report.tests == 2 && report.failures == 1)
        let xml = try JUnitXML.write(report)
        try XMLSchemaValidator.validate(xml, against: xsd)
        let back = try JUnitXML.read(xml)
        let cases = back.suites.flatMap(\.cases)
        #expect(cases.map(\.name) == ["cluster1 -> helloworld", "cluster2 -> helloworld"])
        #expect(cases.map(\.classname) == ["labctl.verify.cluster1", "labctl.verify.cluster2"])
        #expect(cases[0].failure == nil)
        #expect(cases[1].failure?.message == "from cluster2, v1 never answered in 30 tries")
        #expect(cases[1].failure?.text.contains("answered: v2\nexpected: v1,v2\ntries: 30 of 30") == true)
        #expect(cases[1].systemOut?.contains("v1 never answered in 30 tries <&>") == true)
        #expect(back.suites.first?.timestamp == "2027-01-15T08:00:00")
    }

    @Test func junitFileIsWrittenAtomicallyIntoANewDirectory() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("verify-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("reports/mesh.xml").path
        try Labctl.Verify.writeJUnit(Self.results, to: path, lab: "home", started: Date())
        let text = try String(contentsOfFile: path, encoding: .utf8)
        try XMLSchemaValidator.validate(text, against: try #require(Self.xsd))
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir.appendingPathComponent("reports").path)
        #expect(leftovers == ["mesh.xml"], "no temporary file is left behind")
    }
}
