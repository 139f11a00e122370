import Foundation
import LabKit

/// The character sets a VMX (or .vmsd) file may declare with `.encoding`.
///
/// VMware writes the host's code page there: `UTF-8` on current Linux and macOS hosts, and on
/// Windows the ANSI code page of the user's locale. The names below are the ones observed in
/// real files (libyal/libvmdk `documentation/VMWare Virtual Disk Format (VMDK).asciidoc`,
/// "Encodings": Big5, GBK, Shift_JIS, UTF-8, windows-949-2000, windows-1252, the same key
/// and values as in descriptor files) plus the other Windows ANSI code pages. libvirt decodes
/// `.encoding` with whatever converter libxml2 has and refuses the file otherwise
/// (libvirt `src/vmx/vmx.c` `virVMXConvertToUTF8`). Each name maps to the Windows code page
/// it stands for (libvmdk: "GBK assumed to be equivalent to Windows codepage 936", and so on).
public struct VMXEncoding: Sendable, Hashable {
    /// The name as the file wrote it (`windows-949-2000`).
    public var name: String
    public var encoding: String.Encoding

    /// CoreFoundation encoding numbers as `String.Encoding` raw values (CFStringConvertEncodingToNSStringEncoding
    /// sets the high bit); Foundation on Linux converts these through ICU.
    private static func cf(_ value: UInt) -> String.Encoding { String.Encoding(rawValue: 0x8000_0000 | value) }

    /// Lower-cased declared name -> encoding. Every entry is checked to convert on this platform by a test.
    static let known: [String: String.Encoding] = [
        "utf-8": .utf8, "utf8": .utf8,
        "windows-1252": .windowsCP1252, "cp1252": .windowsCP1252,
        "iso-8859-1": .isoLatin1, "latin1": .isoLatin1,
        "windows-1250": .windowsCP1250, "windows-1251": .windowsCP1251,
        "windows-1253": .windowsCP1253, "windows-1254": .windowsCP1254,
        "windows-1255": cf(0x0505), "windows-1256": cf(0x0506), "windows-1257": cf(0x0507), "windows-1258": cf(0x0508),
        // East Asian Windows code pages (kCFStringEncodingDOSJapanese/ChineseSimplif/Korean/ChineseTrad).
        "shift_jis": cf(0x0420), "windows-932": cf(0x0420),
        "gbk": cf(0x0421), "windows-936-2000": cf(0x0421), "windows-936": cf(0x0421),
        "windows-949-2000": cf(0x0422), "windows-949": cf(0x0422),
        "big5": cf(0x0423), "windows-950-2000": cf(0x0423), "windows-950": cf(0x0423),
        "windows-874-2000": cf(0x041D), "windows-874": cf(0x041D),
    ]

    /// The encoding a file declares, from `.encoding` on the first line (or the second after a
    /// `#!` line: GNS3 `parse_vmware_file`). No declaration means UTF-8, as libvirt assumes.
    /// Throws, naming the file, when the name is not one labctl can convert both ways.
    static func declared(in data: Data, source: String) throws -> VMXEncoding {
        let head = String(decoding: data.prefix(512), as: UTF8.self)
        for line in head.split(whereSeparator: \.isNewline).prefix(2) {
            let t = line.trimmingCharacters(in: .whitespaces)
            guard t.lowercased().hasPrefix(".encoding"), let eq = t.firstIndex(of: "=") else { continue }
            let name = t[t.index(after: eq)...].trimmingCharacters(in: CharacterSet(charactersIn: " \t\""))
            guard let encoding = known[name.lowercased()] else {
                throw LabError(.unsupported, "the VM configuration file declares the character set \"\(name)\", which labctl cannot read and write back",
                               location: .file(source),
                               hint: "labctl changed nothing. It handles " + supportedNames + "; convert the file to UTF-8 and set .encoding = \"UTF-8\" (VMware reads it), or edit the VM in VMware")
            }
            return VMXEncoding(name: name, encoding: encoding)
        }
        return VMXEncoding(name: "UTF-8", encoding: .utf8)
    }

    static let supportedNames = "UTF-8, windows-1250 to windows-1258, ISO-8859-1, Shift_JIS, GBK, windows-949-2000, Big5 and windows-874"

    func decode(_ bytes: Data) -> String? { String(data: bytes, encoding: encoding) }

    func encode(_ text: String) -> Data? {
        text.data(using: encoding, allowLossyConversion: false)
    }
}
