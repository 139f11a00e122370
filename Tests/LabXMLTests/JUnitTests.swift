// Foundation and the libxml2 module in one Swift module: builds only because the shim
// undefines LIBXML_ICU_ENABLED (docs/engine.md, "LabXML and Foundation's ICU"). This file is the standing check.
import CLibXML2
import Foundation
@testable import LabXML
import Testing

/// The XSD shipped with the tests (Schemas/junit.xsd, origin in its header comment).
private func junitXSD() throws -> String {
    let url = try #require(Bundle.module.url(forResource: "junit", withExtension: "xsd", subdirectory: "Schemas"))
    return try String(contentsOf: url, encoding: .utf8)
}

/// A report like `labctl verify --junit` writes: one case per direction, one failing.
private func sampleReport(hostile: String = "") -> JUnitReport {
    JUnitReport(name: "labctl verify", suites: [
        JUnitReport.Suite(name: "mesh", timestamp: "2026-11-27T10:56:11", hostname: "lab-host", cases: [
            JUnitReport.Case(name: "cluster1 -> helloworld", classname: "labctl.verify.cluster1", time: 2.5,
                             systemOut: "Hello version: v1, instance: helloworld-v1-abc\nHello version: v2, instance: helloworld-v2-def\n"),
            JUnitReport.Case(name: "cluster2 -> helloworld" + hostile, classname: "labctl.verify.cluster2", time: 30.25,
                             failure: JUnitReport.Failure(message: "only v2 answered after 10 tries" + hostile, type: "MeshVerification",
                                                          text: "tries: 10\nv1: 0, v2: 10" + hostile),
                             systemOut: "Hello version: v2" + hostile),
        ]),
    ])
}

@Suite("JUnit XML")
struct JUnitTests {
    @Test("the report validates against the JUnit XSD")
    func validates() throws {
        let xml = try JUnitXML.write(sampleReport())
        try XMLSchemaValidator.validate(xml, against: junitXSD())
        #expect(xml.hasPrefix("<?xml version=\"1.0\" encoding=\"UTF-8\"?>"))
        #expect(xml.contains("<testsuites name=\"labctl verify\" tests=\"2\" failures=\"1\" errors=\"0\" time=\"32.750\">"))
        #expect(xml.contains("<testcase name=\"cluster1 -&gt; helloworld\" classname=\"labctl.verify.cluster1\" time=\"2.500\">"))
    }

    @Test("the validator is live: it rejects reports that break the schema")
    func validatorRejects() throws {
        let xsd = try junitXSD()
        let missingClassname = """
        <testsuites><testsuite name="s" tests="1" failures="0" errors="0"><testcase name="x"/></testsuite></testsuites>
        """
        let e1 = #expect(throws: XMLError.self) { try XMLSchemaValidator.validate(missingClassname, against: xsd) }
        #expect(e1?.details.contains { $0.contains("classname") && $0.hasPrefix("line 1:") } == true, "\(String(describing: e1))")
        let badCount = """
        <testsuites><testsuite name="s" tests="two" failures="0" errors="0"/></testsuites>
        """
        #expect(throws: XMLError.self) { try XMLSchemaValidator.validate(badCount, against: xsd) }
        let notWellFormed = "<testsuites><testsuite></testsuites>"
        let e3 = #expect(throws: XMLError.self) { try XMLSchemaValidator.validate(notWellFormed, against: xsd) }
        #expect(e3?.message.contains("not well-formed") == true)
        #expect(throws: XMLError.self) { try XMLSchemaValidator.validate("<a/>", against: "<not-a-schema/>") }
    }

    @Test("markup in names, messages and output is escaped, ]]> included, and survives the round trip")
    func escaping() throws {
        let hostile = " <b>&amp;\"quoted\" 'single' ]]> </testcase>"
        let report = sampleReport(hostile: hostile)
        let xml = try JUnitXML.write(report)
        try XMLSchemaValidator.validate(xml, against: junitXSD())
        // nothing the hostile text contains became markup
        #expect(!xml.contains("<b>"))
        #expect(!xml.contains("]]>"))
        #expect(xml.components(separatedBy: "</testcase>").count - 1 == 2)
        #expect(xml.contains("&lt;b&gt;&amp;amp;&quot;quoted&quot;"))  // attribute form
        #expect(xml.contains("]]&gt;"))
        let back = try JUnitXML.read(xml)
        #expect(back == report)
    }

    @Test("control characters from command output (ANSI colour, NUL) do not break the XML")
    func controlCharacters() throws {
        let ansi = "\u{1B}[31mFAILED\u{1B}[0m\u{0}"
        var report = sampleReport()
        report.suites[0].cases[0].systemOut = ansi
        report.suites[0].cases[0].name = "bell\u{7}"
        let xml = try JUnitXML.write(report)
        try XMLSchemaValidator.validate(xml, against: junitXSD())
        let back = try JUnitXML.read(xml)
        #expect(back.suites[0].cases[0].systemOut == "\\u{1B}[31mFAILED\\u{1B}[0m\\u{0}")
        #expect(back.suites[0].cases[0].name == "bell\\u{7}")
        // tab, newline and non-ASCII text pass unchanged
        report.suites[0].cases[0].systemOut = "a\tb\nc – ü ✓ 🚀"
        #expect(try JUnitXML.read(JUnitXML.write(report)).suites[0].cases[0].systemOut == "a\tb\nc – ü ✓ 🚀")
    }

    @Test("counts and failures round-trip")
    func roundTrip() throws {
        let cases = (0..<7).map { i in
            JUnitReport.Case(name: "case \(i)", classname: "c", time: Double(i) / 3,
                             failure: i % 3 == 0 ? JUnitReport.Failure(message: "failed \(i)") : nil)
        }
        let report = JUnitReport(name: "r", suites: [JUnitReport.Suite(name: "a", cases: cases),
                                                      JUnitReport.Suite(name: "empty", cases: [])])
        let back = try JUnitXML.read(JUnitXML.write(report))
        #expect(back.tests == 7)
        #expect(back.failures == 3)
        #expect(back.suites.map(\.tests) == [7, 0])
        #expect(back.suites[0].cases.compactMap(\.failure?.message) == ["failed 0", "failed 3", "failed 6"])
        // times are written to the millisecond
        #expect(abs(back.suites[0].cases[1].time - 0.333) < 1e-9)
    }

    @Test("a report whose counts contradict its test cases is rejected by the reader")
    func contradictoryCounts() throws {
        let xml = """
        <?xml version="1.0"?>
        <testsuites tests="3" failures="0">
          <testsuite name="s" tests="2" failures="1" errors="0">
            <testcase name="a" classname="c"/>
            <testcase name="b" classname="c"><failure message="m">t</failure></testcase>
          </testsuite>
        </testsuites>
        """
        let error = #expect(throws: XMLError.self) { try JUnitXML.read(xml) }
        #expect(error?.details.count == 2, "\(String(describing: error))")
        #expect(error?.details.first?.hasPrefix("line 2:") == true)
    }

    @Test("a lone <testsuite> root is read too; other roots are not")
    func roots() throws {
        let single = #"<testsuite name="s" tests="1" failures="0" errors="0"><testcase name="a" classname="c" time="1.5"/></testsuite>"#
        let report = try JUnitXML.read(single)
        #expect(report.tests == 1 && report.suites[0].cases[0].time == 1.5)
        #expect(throws: XMLError.self) { try JUnitXML.read("<html/>") }
    }

    @Test("times are plain decimals", arguments: [(0.0, "0.000"), (1.0, "1.000"), (0.0004, "0.000"), (12.3456, "12.346"),
                                                  (-1.0, "0.000"), (Double.nan, "0.000"), (1e-7, "0.000"), (100.05, "100.050")])
    func times(seconds: Double, text: String) {
        #expect(junitTime(seconds) == text)
    }

    @Test func libxml2Version() {
        #expect(LibXML2.runtimeVersion.split(separator: ".").count == 3)
        #expect(LIBXML_VERSION >= 20900)
    }
}
