import Foundation
import LabKit
import Testing
import VMwareDriver
@testable import LabctlCLI

/// Paths of the repository, found from this file (tests run from any directory).
enum Repo {
    static let testsDir = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    static let root = testsDir.deletingLastPathComponent().deletingLastPathComponent()
    static var labJSON: String { root.appendingPathComponent("lab.json").path }
    static var otherLab: String { testsDir.appendingPathComponent("Golden/net/other-lab.json").path }
}

/// Compares `actual` with `Golden/net/<name>`. `LABCTL_UPDATE_GOLDEN=1 swift test` rewrites
/// the golden file in the source tree instead (review the git diff afterwards).
func expectGolden(_ actual: String, _ name: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
    let source = Repo.testsDir.appendingPathComponent("Golden/net/\(name)")
    if ProcessInfo.processInfo.environment["LABCTL_UPDATE_GOLDEN"] == "1" {
        try Data(actual.utf8).write(to: source)
        return
    }
    let url = try #require(Bundle.module.resourceURL).appendingPathComponent("Golden/net/\(name)")
    let expected = String(decoding: try Data(contentsOf: url), as: UTF8.self)
    #expect(actual == expected, "golden file \(name) differs; run LABCTL_UPDATE_GOLDEN=1 swift test --filter NetShowGoldenTests and review", sourceLocation: sourceLocation)
}

@Suite struct NetShowGoldenTests {
    static let fixedDate = Date(timeIntervalSince1970: 1_767_323_045) // 2026-01-02 03:04:05 UTC

    /// Runs `labctl net show` through the real argument parser and renders its output.
    func show(_ args: [String]) throws -> String {
        let command = try #require(try Labctl.parseAsRoot(["net", "show"] + args) as? Labctl.NetShowCommand)
        let lab = try command.labOptions.load().lab
        return try Labctl.NetShowCommand.output(lab: lab, host: command.host, now: Self.fixedDate)
    }

    @Test(arguments: VMwareHostOS.allCases)
    func repositoryLab(host: VMwareHostOS) throws {
        try expectGolden(try show(["--lab", Repo.labJSON, "--host", host.rawValue]), "show-\(host.rawValue).txt")
    }

    @Test(arguments: VMwareHostOS.allCases)
    func otherSubnetLab(host: VMwareHostOS) throws {
        try expectGolden(try show(["--lab", Repo.otherLab, "--host", host.rawValue]), "show-other-\(host.rawValue).txt")
    }

    /// The golden files are VMware's formats: the rendered files parse back with the
    /// lab's values and every node's reservation (so a golden update cannot hide a regression).
    @Test func renderedFilesParseBackWithTheLabsValues() throws {
        let lab = try LabLoader.load(path: Repo.labJSON).lab
        let plan = try HostNetworkPlan(lab: lab)
        for os in [VMwareHostOS.linux, .macos] {
            let files = try HostNetworkRenderer.files(plan, os: os, writtenAt: Self.fixedDate)
            let byKind = Dictionary(uniqueKeysWithValues: files.map { ($0.kind, $0) })
            let networking = try NetworkingFile.parse(try #require(byKind[.networking]).content, file: "networking")
            #expect(networking.answer("VNET_8_HOSTONLY_SUBNET") == "194.89.64.0")
            #expect(networking.reservations(vnet: 8).map(\.address) == lab.nodes.map(\.address))
            let nat = try NATConf.parse(try #require(byKind[.natConf]).content, file: "nat.conf")
            #expect(nat.gateway == lab.network.gateway)
            let dhcp = try DHCPDConf.parse(try #require(byKind[.dhcpdConf]).content, file: "dhcpd.conf")
            #expect(dhcp.range == lab.network.dhcp)
            #expect(dhcp.hosts.filter { $0.name != "vmnet8" }.map(\.mac) == lab.nodes.map(\.mac))
            #expect(dhcp.hosts.filter { $0.name != "vmnet8" }.map(\.address) == lab.nodes.map(\.address))
        }
        let windows = try VnetlibScript(plan).render(plan)
        for node in lab.nodes {
            #expect(windows.contains("set dhcp vmnet8 addipmac \(node.address) \(node.mac.description.uppercased())"))
        }
    }
}
