import Foundation
import Testing
@testable import LabKit

@Suite struct LabLoaderTests {
    @Test func repositoryLabPassesWithOnlyThePublicSubnetWarning() throws {
        let loaded = try LabLoader.load(path: LabFixture.repoRoot.appendingPathComponent("lab.json").path)
        #expect(loaded.warnings.count == 1)
        let w = try #require(loaded.warnings.first)
        #expect(w.message.contains("194.89.64.0/24 is public address space"))
        #expect(w.location?.description.contains("network.subnet (line 8, column 15)") == true)
        let lab = loaded.lab
        #expect(lab.nodes.map(\.name) == ["cluster1-ctrl-plane", "cluster1-worker-node01", "cluster2-ctrl-plane", "cluster2-worker-node01"])
        #expect(lab.nodes.map(\.address.description) == ["194.89.64.11", "194.89.64.12", "194.89.64.13", "194.89.64.14"])
        #expect(lab.network.dns.map(\.description) == ["1.1.1.1", "8.8.8.8"])
        #expect(lab.network.dhcp.description == "194.89.64.128-194.89.64.254")
        #expect(lab.clusters.map { $0.metallb.map(\.description) } == [["194.89.64.81-194.89.64.100"], ["194.89.64.101-194.89.64.120"]])
        #expect(lab.base.address?.description == "194.89.64.10")
        #expect(lab.nodes.allSatisfy { $0.mac.isVMwareStatic })
    }

    @Test func defaultsAreFilledIn() throws {
        let lab = try LabLoader.decode(LabFixture.fixtureData(), source: "lab.json")
        let home = FileManager.default.homeDirectoryForCurrentUser.path
        #expect(lab.network.vmnet == "vmnet8")
        #expect(lab.network.gateway.description == "192.168.50.2")
        #expect(lab.network.hostAddress.description == "192.168.50.1")
        #expect(lab.network.dns.map(\.description) == ["192.168.50.2"])
        #expect(lab.network.dhcp.description == "192.168.50.128-192.168.50.254")
        #expect(lab.clusters.allSatisfy { $0.podSubnet.description == "10.32.0.0/12" && $0.serviceSubnet.description == "10.96.0.0/12" })
        let node = try #require(lab.node(named: "cluster1-worker-node01"))
        #expect(node.cpus == 2 && node.memoryMiB == 4096 && node.template == "worker")
        #expect(lab.node(named: "cluster1-ctrl-plane")?.template == "control-plane")
        #expect(node.mac == MACAddress.derived(lab: "test-lab", node: "cluster1-worker-node01"))
        #expect(lab.base.vmx == home + "/vmware/ubuntu-base/ubuntu-base.vmx")
        #expect(lab.base.interface == "ens33" && lab.base.workerCheckpoint == "snapshot#1" && lab.base.controlPlaneCheckpoint == "snapshot#2")
        #expect(lab.checkpoints == CheckpointSpec(nodes: "snapshot#2", kubernetes: "snapshot#3", kubeconfig: "snapshot#4", mesh: "snapshot#5"))
        #expect(lab.ssh.port == 22 && lab.ssh.privateKey == nil)
        #expect(lab.vmware.product == .ws && lab.vmware.cloneKind == .linked && lab.vmware.vmrun == nil)
        #expect(lab.vmware.vmFolder == home + "/vmware/labctl")
        #expect(lab.vmware.timeouts == VMwareTimeouts(startSeconds: 300, softStopSeconds: 30, defaultSeconds: 120))
        #expect(lab.versions.isEmpty)
    }

    @Test func currentProfileDefaultsToFlannelPodSubnet() throws {
        let lab = try LabLoader.decode(LabFixture.data([("profile", "current")]), source: "lab.json")
        #expect(lab.clusters.allSatisfy { $0.podSubnet.description == "10.244.0.0/16" })
    }

    @Test func explicitValuesWin() throws {
        let lab = try LabLoader.decode(LabFixture.data([
            ("clusters[0].nodes[0].mac", "00:50:56:3A:00:01"), ("clusters[0].nodes[0].cpus", 4),
            ("clusters[0].nodes[0].memoryMiB", 8192), ("clusters[0].nodes[0].template", "big"),
            ("ssh.privateKey", "~/.ssh/id_ed25519"), ("vmware.timeouts.startSeconds", 600), ("versions.kubernetes", "1.21.3"),
        ]), source: "lab.json")
        let n = try #require(lab.node(named: "cluster1-ctrl-plane"))
        #expect(n.mac.description == "00:50:56:3a:00:01" && n.cpus == 4 && n.memoryMiB == 8192 && n.template == "big")
        #expect(lab.ssh.privateKey == FileManager.default.homeDirectoryForCurrentUser.path + "/.ssh/id_ed25519")
        #expect(lab.vmware.timeouts.startSeconds == 600 && lab.vmware.timeouts.defaultSeconds == 120)
        #expect(lab.versions == ["kubernetes": "1.21.3"])
    }

    @Test func derivedMACsAreStableAndInVMwaresStaticRange() {
        for i in 0..<500 {
            let mac = MACAddress.derived(lab: "lab", node: "node\(i)")
            #expect(mac.isVMwareStatic, "\(mac)")
            #expect(mac == MACAddress.derived(lab: "lab", node: "node\(i)"))
        }
        #expect(MACAddress.derived(lab: "a", node: "n") != MACAddress.derived(lab: "b", node: "n"))
    }

    // MARK: files

    @Test func missingFileIsNotFound() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("labctl-missing-\(UUID().uuidString).json").path
        let error = try #require(throws: LabError.self) { try LabLoader.load(path: path) }
        #expect(error.code == .notFound && error.exitCode == 3)
        #expect(error.message == "the lab file does not exist")
        #expect(error.location?.description == path)
    }

    @Test func directoryIsRejected() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("labctl-dir-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let error = try #require(throws: LabError.self) { try LabLoader.load(path: dir.path) }
        #expect(error.code == .invalidInput && error.exitCode == 2)
        #expect(error.message == "the lab file is a directory, not a file")
        #expect(error.hint?.contains(dir.appendingPathComponent("lab.json").path) == true)
    }

    @Test(.enabled(if: getuid() != 0, "root can read a file without read permission"))
    func unreadableFileIsReported() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("labctl-unreadable-\(UUID().uuidString).json")
        try LabFixture.fixtureData().write(to: url)
        defer { try? FileManager.default.removeItem(at: url) }
        try FileManager.default.setAttributes([.posixPermissions: 0o000], ofItemAtPath: url.path)
        let error = try #require(throws: LabError.self) { try LabLoader.load(path: url.path) }
        #expect(error.message == "cannot read the lab file")
        #expect(error.hint?.contains("permissions") == true)
    }

    @Test func loadUsesTheGivenNameInLocations() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("labctl-loc-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("my-lab.json")
        // Edit the fixture's text, so line and column are those of the file as written.
        let text = String(decoding: try LabFixture.fixtureData(), as: UTF8.self)
        try Data(text.replacingOccurrences(of: "192.168.50.13", with: "192.168.50.200").utf8).write(to: file)
        let errors = try #require(throws: LabErrors.self) { try LabLoader.load(path: file.path) }
        #expect(errors.errors.map(\.location) == [.lab("clusters[1].nodes[0].address", file: file.path, position: SourcePosition(line: 30, column: 78))])
        #expect(errors.errors.first?.location?.description == "\(file.path): clusters[1].nodes[0].address (line 30, column 78)")
    }

    // MARK: malformed JSON

    @Test(arguments: [
        ("{\n  \"name\": \"x\",\n}", 3, 1, "expected a key after ',', found '}'"),
        ("{\n  \"name\" \"x\"\n}", 2, 10, "expected ':' after the key \"name\", found '\"'"),
        ("{\n  \"name\": \"x\n}", 2, 13, "expected '\"' to close the string, found a line break"),
        ("", 1, 1, "expected a JSON value, found an empty file"),
        ("{\"a\": [1, 2}", 1, 12, "expected ',' or ']' after an array element, found '}'"),
        ("{\"a\": tru}", 1, 10, "expected 'true', found '}'"),
        ("{\"a\": 1} x", 1, 10, "expected the end of the file after the top-level value, found 'x'"),
        ("{\"a\": 1, \"a\": 2}", 1, 10, "duplicate key \"a\" (first at line 1, column 2)"),
        ("{\"é\": 01}", 1, 8, "expected '.', 'e' or the end of the number after a leading 0, found '1'"),
    ])
    func malformedJSONGivesLineAndColumn(text: String, line: Int, column: Int, message: String) throws {
        let error = try #require(throws: LabError.self) { try LabLoader.decode(Data(text.utf8), source: "lab.json") }
        #expect(error.code == .invalidInput)
        #expect(error.location?.description == "lab.json:\(line):\(column)")
        #expect(error.message.hasPrefix("malformed JSON: \(message)"))
    }

    @Test func invalidUTF8IsReported() throws {
        let data = Data("{\"name\": \"a".utf8) + Data([0xff]) + Data("\"}".utf8)
        let error = try #require(throws: LabError.self) { try LabLoader.decode(data, source: "lab.json") }
        #expect(error.location?.description == "lab.json:1:12")
        #expect(error.message.contains("not valid UTF-8"))
    }

    @Test func parserRecordsPositionsAndDecodesEscapes() throws {
        let node = try PositionedJSONParser.parse(Data("{\n  \"k\": [\"a\\u00e9\\ud83d\\ude00\\n\", -1.5e3, true, null]\n}".utf8))
        guard case .object(let members) = node.value, case .array(let items) = members[0].value.value else {
            Issue.record("expected an object with an array")
            return
        }
        #expect(members[0].keyPosition == SourcePosition(line: 2, column: 3))
        #expect(items.map(\.position.column) == [9, 34, 42, 48])
        #expect(items[0].value == .string("aé😀\n"))
        #expect(items[1].value == .number("-1.5e3"))
    }

    // MARK: decoding

    @Test func unknownKeyNamesPathAndSuggestsClosestKey() throws {
        let errors = try LabFixture.errors([("clusters[0].nodes[1].address", nil), ("clusters[0].nodes[1].adress", "192.168.50.12")])
        let e = try #require(errors.first { $0.message == "unknown key \"adress\"" })
        #expect(e.location?.description.hasPrefix("lab.json: clusters[0].nodes[1].adress (line ") == true)
        #expect(e.hint?.hasPrefix("did you mean \"address\"?") == true)
        // The unknown key and the missing required key, both reported.
        #expect(errors.contains { $0.message == "missing required key \"address\" in clusters[0].nodes[1]" })
    }

    @Test func unknownTopLevelKeyWithoutCloseMatchListsKnownKeys() throws {
        let errors = try LabFixture.errors([("colour", "blue")])
        #expect(errors.count == 1)
        let e = try #require(errors.first)
        #expect(e.message == "unknown key \"colour\"")
        #expect(e.location?.description.hasPrefix("lab.json: colour (line") == true)
        #expect(e.hint?.hasPrefix("keys allowed in the top level: $schema, apiVersion") == true)
        #expect(LabDecoder.suggestion(for: "clusterz", among: LabDecoder.knownKeys["lab"] ?? []) == "clusters")
        #expect(LabDecoder.suggestion(for: "MemoryMib", among: LabDecoder.knownKeys["node"] ?? []) == "memoryMiB")
    }

    @Test func unknownKeyStillLetsTheNetworkPlanBeChecked() throws {
        let errors = try LabFixture.errors([("mesh.ID", "x"), ("clusters[0].nodes[1].address", "192.168.50.11")])
        #expect(errors.map(\.message).contains("unknown key \"ID\""))
        #expect(errors.contains { $0.message.contains("already used by node cluster1-ctrl-plane") })
    }

    /// Values are JSON text, so the arguments stay Sendable.
    @Test(arguments: [
        ("clusters[0].nodes[0].cpus", #""2""#, "clusters[0].nodes[0].cpus", "expected an integer, found a string"),
        ("clusters[0].nodes[0].memoryMiB", "4096.5", "clusters[0].nodes[0].memoryMiB", "expected an integer, found 4096.5"),
        ("clusters", #"{"name": "c"}"#, "clusters", "expected an array, found an object"),
        ("network", #""192.168.50.0/24""#, "network", "expected an object, found a string"),
        ("network.dns", #""1.1.1.1""#, "network.dns", "expected an array, found a string"),
        ("ssh.user", "7", "ssh.user", "expected a string, found a number"),
        ("clusters[0].nodes[0].role", #""master""#, "clusters[0].nodes[0].role", #"expected one of "control-plane", "worker", found "master""#),
        ("vmware.product", #""workstation""#, "vmware.product", #"expected one of "ws", "fusion", "player", found "workstation""#),
        ("versions", #"{"kubernetes": 1.21}"#, "versions.kubernetes", "expected a string, found a number"),
        ("clusters[0].nodes[1].mac", "null", "clusters[0].nodes[1].mac", "expected a string, found null"),
    ])
    func wrongTypeNamesPathAndExpectedType(path: String, json: String, errorPath: String, message: String) throws {
        let errors = try LabFixture.errors([(path, LabFixture.value(json))])
        #expect(errors.count == 1)
        let e = try #require(errors.first)
        #expect(e.message == message)
        #expect(e.location?.description.hasPrefix("lab.json: \(errorPath) (line ") == true, "\(String(describing: e.location))")
    }

    @Test func missingRequiredKey() throws {
        let errors = try LabFixture.errors([("network.subnet", nil)])
        #expect(errors.map(\.message) == ["missing required key \"subnet\" in network"])
        #expect(errors.first?.location?.description.hasPrefix("lab.json: network.subnet (line ") == true)
    }

    @Test func unsupportedAPIVersionNamesSupportedVersions() throws {
        let errors = try LabFixture.errors([("apiVersion", "labctl.dev/v2")])
        #expect(errors.map(\.message) == ["unsupported apiVersion \"labctl.dev/v2\"; supported: \"labctl.dev/v1\""])
        #expect(errors.first?.location?.description.hasPrefix("lab.json: apiVersion (line") == true)
    }

    @Test func everyProblemIsReportedAtOnce() throws {
        let errors = try LabFixture.errors([
            ("clusters[0].nodes[0].cpus", "two"), ("clusters[1].nodes[1].rol", "worker"),
            ("network.gateway", "192.168.50.300"), ("base.vmx", 3),
        ])
        let paths = errors.compactMap { e -> String? in
            guard case let .lab(key, file, position) = e.location, file == "lab.json", position != nil else { return nil }
            return key
        }
        #expect(Set(paths) == ["clusters[0].nodes[0].cpus", "clusters[1].nodes[1].rol", "network.gateway", "base.vmx"])
        // Validation errors alongside each other, with an unknown key.
        let plan = try LabFixture.errors([("clusters[0].nodes[0].address", "192.168.50.200"), ("clusters[1].metallb", ["192.168.50.90-192.168.50.95"]),
                                          ("clusters[0].nodes[1].cpu", 2)])
        #expect(plan.count == 3)
    }
}
