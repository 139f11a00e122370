import CLibXML2

/// JUnit XML through libxml2: `xmlTextWriter` to write (it escapes `<`, `&`, `"` in attributes
/// and `<`, `&`, `>` in text, so `]]>` cannot end anything), the tree API to read back, and
/// `xmlschemas` to validate.
public enum JUnitXML {
    /// The report as an XML document (UTF-8, two-space indent).
    public static func write(_ report: JUnitReport) throws -> String {
        guard let buf = xmlBufferCreate() else { throw XMLError("libxml2 could not allocate a buffer") }
        defer { xmlBufferFree(buf) }
        guard let w = xmlNewTextWriterMemory(buf, 0) else { throw XMLError("libxml2 could not create a text writer") }
        let writer = Writer(w: w)
        do {
            try writer.check(xmlTextWriterSetIndent(w, 1), "set indent")
            try writer.check(xmlTextWriterSetIndentString(w, "  "), "set indent string")
            try writer.check(xmlTextWriterStartDocument(w, "1.0", "UTF-8", nil), "start document")
            try writer.start("testsuites")
            try writer.attribute("name", report.name)
            try writer.attribute("tests", "\(report.tests)")
            try writer.attribute("failures", "\(report.failures)")
            try writer.attribute("errors", "0")
            try writer.attribute("time", junitTime(report.time))
            for (index, suite) in report.suites.enumerated() {
                try writer.start("testsuite")
                try writer.attribute("name", suite.name)
                try writer.attribute("tests", "\(suite.tests)")
                try writer.attribute("failures", "\(suite.failures)")
                try writer.attribute("errors", "0")
                try writer.attribute("skipped", "0")
                try writer.attribute("time", junitTime(suite.time))
                try writer.attribute("id", "\(index)")
                if let timestamp = suite.timestamp { try writer.attribute("timestamp", timestamp) }
                if let hostname = suite.hostname { try writer.attribute("hostname", hostname) }
                for c in suite.cases {
                    try writer.start("testcase")
                    try writer.attribute("name", c.name)
                    try writer.attribute("classname", c.classname)
                    try writer.attribute("time", junitTime(c.time))
                    if let failure = c.failure {
                        try writer.start("failure")
                        try writer.attribute("message", failure.message)
                        if let type = failure.type { try writer.attribute("type", type) }
                        try writer.text(failure.text)
                        try writer.end()
                    }
                    if let out = c.systemOut {
                        try writer.start("system-out")
                        try writer.text(out)
                        try writer.end()
                    }
                    try writer.end()
                }
                try writer.end()
            }
            try writer.end()
            try writer.check(xmlTextWriterEndDocument(w), "end document")
        } catch {
            xmlFreeTextWriter(w)
            throw error
        }
        // Freeing the writer flushes it into the buffer.
        xmlFreeTextWriter(w)
        guard let content = xmlBufferContent(buf) else { throw XMLError("libxml2 returned no document") }
        return String(cString: content)
    }

    /// Reads a report back, and checks that the `tests` and `failures` each element declares
    /// match the test cases it holds. Accepts a lone `<testsuite>` root as well.
    public static func read(_ xml: String) throws -> JUnitReport {
        let doc = try XMLDoc(parsing: xml, name: "junit.xml")
        guard let root = xmlDocGetRootElement(doc.doc) else { throw XMLError("the document has no root element") }
        var report = JUnitReport(name: "", suites: [])
        switch name(of: root) {
        case "testsuites":
            report.name = attribute(root, "name") ?? ""
            for node in elements(root) where name(of: node) == "testsuite" {
                report.suites.append(try readSuite(node))
            }
            try checkCounts(root, tests: report.tests, failures: report.failures, what: "testsuites")
        case "testsuite":
            let suite = try readSuite(root)
            report.name = suite.name
            report.suites = [suite]
        default:
            throw XMLError("the root element is <\(name(of: root))>, not <testsuites> or <testsuite>", details: ["line \(xmlGetLineNo(root))"])
        }
        return report
    }

    private static func readSuite(_ node: xmlNodePtr) throws -> JUnitReport.Suite {
        var suite = JUnitReport.Suite(name: attribute(node, "name") ?? "", timestamp: attribute(node, "timestamp"),
                                      hostname: attribute(node, "hostname"), cases: [])
        for c in elements(node) where name(of: c) == "testcase" {
            var tc = JUnitReport.Case(name: attribute(c, "name") ?? "", classname: attribute(c, "classname") ?? "",
                                      time: attribute(c, "time").flatMap { Double($0) } ?? 0)
            for child in elements(c) {
                switch name(of: child) {
                case "failure", "error":
                    tc.failure = JUnitReport.Failure(message: attribute(child, "message") ?? "", type: attribute(child, "type"),
                                                     text: content(child))
                case "system-out":
                    tc.systemOut = content(child)
                default:
                    break
                }
            }
            suite.cases.append(tc)
        }
        try checkCounts(node, tests: suite.tests, failures: suite.failures, what: "testsuite '\(suite.name)'")
        return suite
    }

    private static func checkCounts(_ node: xmlNodePtr, tests: Int, failures: Int, what: String) throws {
        var problems: [String] = []
        if let declared = attribute(node, "tests"), Int(declared) != tests {
            problems.append("line \(xmlGetLineNo(node)): \(what) declares tests=\"\(declared)\" but holds \(tests) test cases")
        }
        let declaredFailures = (Int(attribute(node, "failures") ?? "") ?? 0) + (Int(attribute(node, "errors") ?? "") ?? 0)
        if attribute(node, "failures") != nil, declaredFailures != failures {
            problems.append("line \(xmlGetLineNo(node)): \(what) declares \(declaredFailures) failures and errors but holds \(failures)")
        }
        if !problems.isEmpty { throw XMLError("the JUnit report contradicts itself", details: problems) }
    }

    // MARK: tree helpers

    static func name(of node: xmlNodePtr) -> String {
        node.pointee.name.map { String(cString: $0) } ?? ""
    }

    static func elements(_ node: xmlNodePtr) -> [xmlNodePtr] {
        var out: [xmlNodePtr] = []
        var child = node.pointee.children
        while let c = child {
            if c.pointee.type == XML_ELEMENT_NODE { out.append(c) }
            child = c.pointee.next
        }
        return out
    }

    static func attribute(_ node: xmlNodePtr, _ name: String) -> String? {
        guard let value = xmlGetProp(node, name) else { return nil }
        defer { cxml_free(value) }
        return String(cString: value)
    }

    static func content(_ node: xmlNodePtr) -> String {
        guard let value = xmlNodeGetContent(node) else { return "" }
        defer { cxml_free(value) }
        return String(cString: value)
    }
}

/// A checked sequence of xmlTextWriter calls: every call's status is looked at.
private struct Writer {
    let w: xmlTextWriterPtr

    func check(_ rc: Int32, _ what: String) throws {
        if rc < 0 { throw XMLError("libxml2 failed to \(what) while writing the JUnit report") }
    }
    func start(_ element: String) throws { try check(xmlTextWriterStartElement(w, element), "start <\(element)>") }
    func end() throws { try check(xmlTextWriterEndElement(w), "end an element") }
    func attribute(_ name: String, _ value: String) throws {
        try check(xmlTextWriterWriteAttribute(w, name, xmlSafe(value)), "write attribute \(name)")
    }
    func text(_ value: String) throws {
        guard !value.isEmpty else { return }
        try check(xmlTextWriterWriteString(w, xmlSafe(value)), "write text")
    }
}
