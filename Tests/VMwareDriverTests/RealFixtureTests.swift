import Foundation
import Testing
import LabKit
@testable import VMwareDriver

@Suite("Round trips of real VMware files")
struct RealFixtureRoundTripTests {
    @Test func everyKindHasFixtures() {
        #expect(RealFixtures.vmx.count >= 7)
        #expect(RealFixtures.networking.count >= 3)
        #expect(RealFixtures.natConf.count >= 3)
        #expect(RealFixtures.dhcpdConf.count >= 2)
    }

    @Test(arguments: RealFixtures.vmx)
    func vmxParseRenderAndWriteAreByteExact(name: String) throws {
        let path = try RealFixtures.path("vmx", name)
        let original = try RealFixtures.data("vmx", name)
        var doc = try VMXDocument.load(path: path)
        #expect(try doc.encoded(source: path) == original, "parse + render changed \(name)")
        // Edit nothing: set a key to the value it has, then write.
        let key = try #require(doc.entries.first { $0.key.lowercased() == "config.version" }).key
        doc.set(key, doc[key] ?? "")
        let tmp = try TempDir()
        defer { tmp.cleanup() }
        try doc.write(to: tmp.file(name))
        #expect(try Data(contentsOf: URL(fileURLWithPath: tmp.file(name))) == original, "parse + write changed \(name)")
    }

    @Test(arguments: RealFixtures.networking)
    func networkingParseRenderIsByteExact(name: String) throws {
        let text = try RealFixtures.text("net", name)
        let file = try NetworkingFile.parse(text, file: name)
        #expect(try file.render() == text)
        // Merging the values the file already has for vnet 8 changes nothing.
        let subnet = try #require(file.answer("VNET_8_HOSTONLY_SUBNET").flatMap(IPv4Address.init))
        let netmask = try #require(file.answer("VNET_8_HOSTONLY_NETMASK").flatMap(IPv4Address.init))
        guard file.answer("VNET_8_DHCP") == "yes", file.answer("VNET_8_NAT") == "yes", file.answer("VNET_8_VIRTUAL_ADAPTER") == "yes" else {
            Issue.record("\(name) is expected to hold VMware's default NAT vnet 8")
            return
        }
        let plan = try planMatching(gateway: subnet.advanced(by: 2), netmask: netmask, hostAddress: subnet.advanced(by: 1), vnet: 8)
        #expect(try file.merging(plan).render() == text, "merging the file's own values changed \(name)")
    }

    @Test(arguments: RealFixtures.natConf)
    func natConfEditWithItsOwnValuesIsByteExact(name: String) throws {
        let text = try RealFixtures.text("net", name)
        let conf = try NATConf.parse(text, file: name)
        let gateway = try #require(conf.gateway)
        let netmask = try #require(conf.value("host", "netmask").flatMap(IPv4Address.init) ?? conf.value("host", "ip").flatMap { ip in
            ip.split(separator: "/").last.flatMap { Int($0) }.map { IPv4Network(address: gateway, prefixLength: $0).netmask }
        })
        let host = conf.value("host", "hostIp").flatMap(IPv4Address.init) ?? gateway.advanced(by: -1)
        let device = conf.value("host", "device") ?? "vmnet8"
        let vnet = try #require(Int(device.drop { !$0.isNumber }))
        let plan = try planMatching(gateway: gateway, netmask: netmask, hostAddress: host, vnet: vnet)
        #expect(try NATConf.edit(text, plan: plan, os: .macos, file: name) == text)
        #expect(RawLines(text).text == text)
    }

    @Test(arguments: RealFixtures.dhcpdConf)
    func dhcpdConfEditWithItsOwnValuesIsByteExact(name: String) throws {
        let text = try RealFixtures.text("net", name)
        let conf = try DHCPDConf.parse(text, file: name)
        #expect(RawLines(text).text == text)
        guard let subnet = conf.subnet, let netmask = conf.netmask, let range = conf.range,
              let adapter = conf.hosts.first(where: { $0.name.hasPrefix("vmnet") }), let hostAddress = adapter.address else {
            // Only the part below VMware's section was published: nothing of the lab's to compare.
            #expect(conf.hosts.count >= 1)
            return
        }
        let gateway = try #require(conf.routers.flatMap(IPv4Address.init))
        let vnet = try #require(Int(adapter.name.dropFirst("vmnet".count)))
        var plan = try planMatching(gateway: gateway, netmask: netmask, hostAddress: hostAddress, vnet: vnet, dhcp: range)
        #expect(plan.subnet.network == subnet)
        plan.reservations = []
        #expect(try DHCPDConf.edit(text, plan: plan, writtenAt: Date(), file: name) == text)
    }

    /// A user's nat.conf with `hostIp` and their own comments: `hostIp` follows the lab, the comments stay.
    @Test func natConfSetsHostIpWhereVMwareWroteIt() throws {
        let text = try RealFixtures.text("net", "fusion-vmnet2-user-notes.nat.conf")
        let plan = try examplePlan(subnet: "10.213.7.0/24", reservations: [])
        let nat = try NATConf.edit(text, plan: plan, os: .macos, file: "nat.conf")
        #expect(nat == text.replacingOccurrences(of: "ip = 192.168.10.2", with: "ip = 10.213.7.2")
            .replacingOccurrences(of: "hostIp = 192.168.10.1", with: "hostIp = 10.213.7.1"))
    }
}

@Suite("VMX character sets")
struct VMXEncodingTests {
    /// Every declared name labctl accepts converts both ways on this platform (Foundation on Linux
    /// converts the Windows code pages through ICU).
    @Test func everyKnownEncodingConvertsBothWays() throws {
        for (name, encoding) in VMXEncoding.known {
            let e = VMXEncoding(name: name, encoding: encoding)
            let ascii = "displayName = \"node-1\""
            #expect(e.encode(ascii).flatMap(e.decode) == ascii, "\(name)")
        }
    }

    /// libvirt's windows-1252 test strings (libvirt `tests/vmxtest.c` `windows1252ToUTF8`), and text in
    /// each East Asian code page VMware writes, survive a parse and an edit of another key.
    @Test(arguments: [
        ("windows-1252", "A€Z Aä1ö2ü3ß4#5~6!7§8/9%Z hÀÁÂÃÄÅH"),
        ("Shift_JIS", "日本語ソ表"), ("GBK", "共享文件夹"), ("windows-949-2000", "한국어 가상 머신"), ("Big5", "繁體共享"),
    ])
    func nonASCIIValuesSurviveAnEdit(name: String, value: String) throws {
        let e = try #require(VMXEncoding.known[name.lowercased()].map { VMXEncoding(name: name, encoding: $0) })
        let original = try #require(e.encode(".encoding = \"\(name)\"\ndisplayName = \"\(value)\"\nmemsize = \"1024\"\n"))
        var doc = try VMXDocument.parse(original, source: "a.vmx")
        #expect(doc["displayName"] == value)
        doc.set("memsize", "2048")
        #expect(try doc.encoded(source: "a.vmx") == e.encode(".encoding = \"\(name)\"\ndisplayName = \"\(value)\"\nmemsize = \"2048\"\n"))
    }

    @Test func aNewValueTheCharacterSetCannotHoldIsRefused() throws {
        var doc = try VMXDocument.parse(Data(".encoding = \"windows-1252\"\ndisplayName = \"x\"\n".utf8), source: "a.vmx")
        doc.set("displayName", "共享")
        let e = #expect(throws: LabError.self) { try doc.encoded(source: "a.vmx") }
        #expect(e?.message.contains("windows-1252") == true)
        #expect(e?.location?.description == "a.vmx")
    }

    @Test func bytesThatAreNotTheDeclaredCharacterSetAreRefusedWithTheLine() throws {
        let data = Data(".encoding = \"UTF-8\"\ndisplayName = \"".utf8) + Data([0xB9, 0xB2]) + Data("\"\n".utf8)
        let e = #expect(throws: LabError.self) { try VMXDocument.parse(data, source: "a.vmx") }
        #expect(e?.location?.description == "a.vmx:2")
        #expect(e?.message.contains("UTF-8") == true)
    }
}

@Suite("Real lease files")
struct RealLeaseTests {
    /// Packer's ISC example: one MAC leased twice at one address and once at another; one address
    /// leased to two MACs. The newest lease wins; the other MAC keeps its own.
    @Test func iscRepeatedLeases() throws {
        let file = LeaseFile.parse(try RealFixtures.text("leases", "packer-dhcpd-example.leases"), source: "dhcpd.leases")
        #expect(file.problems.isEmpty)
        #expect(file.leases.count == 4)
        let at = utc("2020/05/28 11:40:00")
        #expect(file.lookup(try mac("0d:ea:d0:66:77:88"), at: at) == .found(file.leases[2]))
        #expect(file.lookup(try mac("0d:ea:d0:99:aa:bb"), at: utc("2020/08/20 20:40:00")).address == (try ip("127.0.0.19")))
        // After every lease ended, the newest (by start, not by file order) is reported as expired, not as an answer.
        #expect(file.lookup(try mac("0d:ea:d0:66:77:88"), at: utc("2021/01/01 00:00:00")) == .expired(file.leases[1]))
    }

    @Test func appleLeasesWithoutFinalNewline() throws {
        let file = LeaseFile.parse(try RealFixtures.text("leases", "packer-apple-dhcpd-example.leases"), source: "dhcpd_leases")
        #expect(file.leases.map(\.address.description) == ["127.0.0.17", "127.0.0.17", "127.0.0.19", "127.0.0.19", "127.0.0.20"])
        #expect(file.problems.isEmpty)
        // The entry without `lease=` has no expiry; the others carry theirs.
        #expect(file.leases.map { $0.ends == nil } == [false, false, false, false, true])
    }
}

extension LeaseLookup {
    var address: IPv4Address? {
        if case .found(let lease) = self { return lease.address }
        return nil
    }
}

@Suite("net apply on files it cannot keep byte for byte")
struct HostFileEncodingTests {
    /// A nat.conf with a Latin-1 comment (a user's edit on another system) is refused, not rewritten.
    @Test func nonUTF8HostFileIsRefusedBeforeAnythingIsWritten() throws {
        let tmp = try TempDir()
        defer { tmp.cleanup() }
        try tmp.write("etc/vmware/networking", try RealFixtures.text("net", "packer-networking-example.networking"))
        let nat = Data("[host]\n# passerelle du r".utf8) + Data([0xE9]) + Data("seau\nip = 172.16.41.2\nnetmask = 255.255.255.0\n".utf8)
        try FileManager.default.createDirectory(atPath: tmp.file("etc/vmware/vmnet8/nat"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: tmp.file("etc/vmware/vmnet8/dhcpd"), withIntermediateDirectories: true)
        try nat.write(to: URL(fileURLWithPath: tmp.file("etc/vmware/vmnet8/nat/nat.conf")))
        let applier = try HostNetworkApplier(os: .linux, vmnet: "vmnet8", root: tmp.path, runner: HostProcessRunner(), isPrivileged: true)
        let e = #expect(throws: LabError.self) { _ = try applier.plan(try examplePlan(subnet: "172.16.41.0/24")) }
        #expect(e?.location?.description == applier.full("/etc/vmware/vmnet8/nat/nat.conf"))
        #expect(e?.message.contains("not UTF-8") == true)
        #expect(try Data(contentsOf: URL(fileURLWithPath: tmp.file("etc/vmware/vmnet8/nat/nat.conf"))) == nat)
    }
}
