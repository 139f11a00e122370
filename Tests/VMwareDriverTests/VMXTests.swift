import Foundation
import Testing
import LabKit
@testable import VMwareDriver

@Suite("VMX document")
struct VMXTests {
    @Test func roundTripsByteForByte() throws {
        for name in ["node.vmx", "crlf.vmx", "no-final-newline.vmx"] {
            let path = try fixture(name)
            let original = try Data(contentsOf: URL(fileURLWithPath: path))
            let doc = try VMXDocument.load(path: path)
            #expect(try doc.encoded(source: path) == original, "\(name) changed on a round trip")
        }
    }

    @Test func readsOddQuotingEscapesAndCase() throws {
        let doc = try VMXDocument.load(path: try fixture("node.vmx"))
        #expect(doc[".encoding"] == "UTF-8")
        #expect(doc["displayname"] == "node \"one\" | test")
        #expect(doc["annotation"] == "line1\nline2")
        #expect(doc["rtc.diffFromUTC"] == "0")
        #expect(doc["scsi0:0.virtualSSD"] == "1")
        #expect(doc["memsize"] == "4096")
        #expect(doc["NUMVCPUS"] == "2")
        #expect(doc["scsi0:0.fileName"] == #"C:\VMs\x.vmdk"#)
        #expect(doc["empty.value"] == "")
        #expect(doc["pipe.literal"] == "a|zz")
        // Duplicates differing in case: the later line wins.
        #expect(doc["ethernet1.generatedAddress"] == "00:0c:29:00:00:02")
        #expect(doc["no.such.key"] == nil)
        #expect(doc.bool("ethernet0.present") == true)
        guard case .verbatim(let first) = doc.lines.first else { Issue.record("shebang not kept"); return }
        #expect(first == "#!/usr/bin/vmware")
    }

    @Test func editsKeepOrderCommentsAndUntouchedLines() throws {
        var doc = try VMXDocument.load(path: try fixture("node.vmx"))
        let before = doc.text.components(separatedBy: "\n")
        doc.set("MEMSIZE", "8192")                 // existing key, other case: keeps spelling and place
        doc.set("displayName", "a \"b\" |c|\t")    // escapes on write
        doc.set("ethernet1.generatedAddress", "x") // duplicates collapse into one line
        doc.remove("ethernet0.generatedAddress")
        doc.remove("ETHERNET0.GENERATEDADDRESSOFFSET")
        doc.set("uuid.action", "create")           // new key at the end
        let after = doc.text.components(separatedBy: "\n")
        #expect(after.contains(#"memsize = "8192""#))
        #expect(!after.contains(#"memsize="4096""#))
        #expect(after.contains(#"displayName = "a |22b|22 |7Cc|7C|09""#))
        #expect(after.filter { $0.lowercased().hasPrefix("ethernet1.generatedaddress") }.count == 1)
        #expect(!after.contains { $0.hasPrefix("ethernet0.generatedAddress") })
        #expect(after.dropLast().last == #"uuid.action = "create""#)
        // Untouched lines are unchanged and in the same order.
        let untouched = ["#!/usr/bin/vmware", ".encoding = \"UTF-8\"", "# A comment VMware keeps", "rtc.diffFromUTC = 0",
                         "  numvcpus   =   \"2\"  ", "annotation = \"line1|0Aline2\""]
        for line in untouched { #expect(after.contains(line), "lost \(line)") }
        #expect(after.firstIndex(of: "config.version = \"8\"") == before.firstIndex(of: "config.version = \"8\""))
        // The edit reads back.
        let reread = try VMXDocument.parse(doc.text, source: "edited")
        #expect(reread["displayName"] == "a \"b\" |c|\t")
        #expect(reread["memsize"] == "8192")
    }

    @Test func setWithSameValueChangesNothing() throws {
        var doc = try VMXDocument.load(path: try fixture("node.vmx"))
        let original = doc.text
        doc.set("numvcpus", "2")
        #expect(doc.text == original)
    }

    @Test func crlfIsKeptForNewLines() throws {
        var doc = try VMXDocument.load(path: try fixture("crlf.vmx"))
        doc.set("numvcpus", "4")
        #expect(doc.text == ".encoding = \"UTF-8\"\r\ndisplayName = \"win\"\r\nmemsize = \"2048\"\r\nnumvcpus = \"4\"\r\n")
    }

    @Test func atomicWriteReplacesTheFile() throws {
        let tmp = try TempDir()
        defer { tmp.cleanup() }
        try tmp.write("a.vmx", try fixtureText("node.vmx"))
        var doc = try VMXDocument.load(path: tmp.file("a.vmx"))
        doc.set("memsize", "2048")
        try doc.write(to: tmp.file("a.vmx"))
        #expect(try VMXDocument.load(path: tmp.file("a.vmx"))["memsize"] == "2048")
        #expect(try FileManager.default.contentsOfDirectory(atPath: tmp.path) == ["a.vmx"])
    }

    @Test(arguments: [
        ("not-a-vmx.vmx", ":1", "not a VMware configuration line"),
        ("binary.vmx", ":1", "binary data"),
        ("unterminated.vmx", ":2", "unterminated quoted value"),
    ])
    func badFilesGiveClearErrors(name: String, line: String, message: String) throws {
        let path = try fixture(name)
        let error = #expect(throws: LabError.self) { try VMXDocument.load(path: path) }
        #expect(error?.code == .invalidInput)
        #expect(error?.location?.description == path + line)
        #expect(error?.message.contains(message) == true, "\(error?.message ?? "")")
    }

    @Test func missingFileIsNotFound() {
        let error = #expect(throws: LabError.self) { try VMXDocument.load(path: "/nonexistent/vm/vm.vmx") }
        #expect(error?.code == .notFound)
        #expect(error?.location?.description == "/nonexistent/vm/vm.vmx")
    }

    @Test func escapeAndUnescapeAreInverse() {
        let s = "quote \" pipe | nl \n tab \t del \u{7f} ü"
        #expect(VMXDocument.unescape(VMXDocument.escape(s)) == s)
        #expect(!VMXDocument.escape(s).contains("\""))
        #expect(VMXDocument.escape("plain-name_1") == "plain-name_1")
    }
}
