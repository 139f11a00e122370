import Foundation
import LabKit
import Testing
@testable import LabStages

/// The release-asset catalog (Tests/Testbed/stubs/catalog.json, the curl stub's only URLs) against
/// what the profiles render, for both guest architectures; and the base-script defects of issue 13
/// (1, 3, 4, 5) and the architecture of issue 15.3, each on the rendered scripts.
@Suite struct DownloadCatalogTests {
    struct Entry: Decodable {
        var url: String
        var serve: String
        var provenance: String
        var arch: String?
        var checksum: Checksum?
        struct Checksum: Decodable { var url: String; var format: String; var provenance: String }
    }

    static func catalog() throws -> [Entry] {
        struct File: Decodable { var entries: [Entry] }
        let data = try Data(contentsOf: URL(fileURLWithPath: Fixture.repoRoot + "/Tests/Testbed/stubs/catalog.json"))
        return try JSONDecoder().decode(File.self, from: data).entries
    }

    static func catalogURLs() throws -> Set<String> {
        Set(try catalog().flatMap { [$0.url] + ($0.checksum.map { [$0.url] } ?? []) })
    }

    static func scripts(_ profile: String, _ arch: GuestArch) throws -> [RenderedScript] {
        var lab = try Fixture.lab(profile: profile)
        lab.base.arch = arch
        return try StageScripts(lab: lab, publicKey: Fixture.publicKey).renderAll()
    }

    static func script(_ name: String, _ profile: String, _ arch: GuestArch = .amd64) throws -> String {
        try #require(try scripts(profile, arch).first { $0.name == name }?.text, "no script \(name)")
    }

    /// Every URL a rendered script downloads: quoted https literals, the per-binary URLs of a
    /// `url='BASE'/$binary` loop (and their `.sha256`), and runc's `$(dirname 'URL')/runc.sha256sum`.
    static func downloads(_ text: String) -> Set<String> {
        var urls = Set<String>()
        let quoted = /'(https:\/\/[^'\s]+)'/
        for line in text.split(separator: "\n") where !line.trimmingCharacters(in: .whitespaces).hasPrefix("#") {
            if line.contains("'/$binary"), let base = line.firstMatch(of: quoted)?.1 {
                for binary in ["kubeadm", "kubelet", "kubectl"] {
                    urls.insert("\(base)/\(binary)")
                    urls.insert("\(base)/\(binary).sha256")
                }
                continue  // the base itself is a directory, not a download
            }
            for match in line.matches(of: quoted) { urls.insert(String(match.1)) }
            if let m = line.firstMatch(of: /\$\(dirname '(https:\/\/[^']+)'\)\/([\w.]+)/) {
                urls.insert((String(m.1) as NSString).deletingLastPathComponent.replacingOccurrences(of: "https:/", with: "https://") + "/" + m.2)
            }
            if let m = line.firstMatch(of: /'(https:\/\/[^'\s]+)(\.sha256(sum)?)'/) { urls.insert(String(m.1) + m.2) }
            // apt sources: `deb [...] URL ...`
            if let m = line.firstMatch(of: /^deb \[[^\]]*\] (https:\/\/\S+)/) { urls.insert(String(m.1)) }
        }
        return urls.subtracting(urls.filter { $0.contains("{{") })
    }

    @Test(arguments: Fixture.profiles, GuestArch.allCases)
    func everyRenderedDownloadIsInTheCatalog(profile: String, arch: GuestArch) throws {
        let known = try Self.catalogURLs()
        let urls = try Self.scripts(profile, arch).reduce(into: Set<String>()) { $0.formUnion(Self.downloads($1.text)) }
        #expect(urls.count >= 8, "too few downloads found in \(profile)/\(arch): \(urls.sorted())")
        let unknown = urls.subtracting(known).sorted()
        #expect(unknown.isEmpty, "\(profile) (\(arch.rawValue)) renders downloads that are not in Tests/Testbed/stubs/catalog.json: \(unknown)")
    }

    @Test func everyCatalogEntryHasProvenanceAndAKnownChecksumFormat() throws {
        for entry in try Self.catalog() {
            #expect(!entry.provenance.isEmpty, "\(entry.url)")
            if let checksum = entry.checksum {
                #expect(["bare", "sha256sum", "sha256sum-single-space", "sha256sum-binary-slash", "sha256sum-list"].contains(checksum.format), "\(checksum.url)")
                #expect(!checksum.provenance.isEmpty, "\(checksum.url)")
            }
        }
    }

    /// The downloads the old renders named, which upstream never published: the catalog refuses them.
    @Test func oldRendersAreNotInTheCatalog() throws {
        let known = try Self.catalogURLs()
        #expect(!known.contains("https://github.com/derailed/k9s/releases/download/v0.24.15/k9s_v0.24.15_Linux_x86_64.tar.gz"))
        #expect(known.contains("https://github.com/derailed/k9s/releases/download/v0.24.15/k9s_Linux_x86_64.tar.gz"))
    }

    /// Defect 1: k9s 0.24.15 is published as k9s_Linux_x86_64.tar.gz (derailed/k9s@v0.24.15:.goreleaser.yml).
    @Test func seedK9sAssetNameIsGoreleasers() throws {
        let text = try Self.script("base-tools", "seed-2021")
        #expect(text.contains("https://github.com/derailed/k9s/releases/download/v0.24.15/k9s_Linux_x86_64.tar.gz"))
        #expect(!text.contains("k9s_v0.24.15_"))
        let arm = try Self.script("base-tools", "seed-2021", .arm64)
        #expect(arm.contains("/v0.24.15/k9s_Linux_arm64.tar.gz"))
    }

    /// Defect 4: k9s is verified against checksums.txt (0.24.x) or checksums.sha256 (0.50.x).
    @Test(arguments: [("seed-2021", "v0.24.15/checksums.txt"), ("current", "v0.50.16/checksums.sha256")])
    func k9sIsDownloadedWithItsChecksum(profile: String, checksums: String) throws {
        let text = try Self.script("base-tools", profile)
        let line = try #require(text.split(separator: "\n").first { $0.contains("derailed/k9s") && !$0.hasPrefix("#") })
        #expect(line.contains("fetch_verified "), "k9s is fetched without a checksum: \(line)")
        #expect(line.contains("/derailed/k9s/releases/download/\(checksums)'"), "\(line)")
    }

    /// Defect 3: every base script stands alone (`labctl up --only`, base prepare): an `apt-get install`
    /// comes after an `apt-get update` in the same script, and after the last sources.list.d write before it.
    @Test(arguments: Fixture.profiles)
    func everyBaseScriptUpdatesBeforeItInstalls(profile: String) throws {
        for script in try Self.scripts(profile, .amd64) where script.name.hasPrefix("base-") {
            var updatedSinceSources = false
            for line in script.text.split(separator: "\n").map({ $0.trimmingCharacters(in: .whitespaces) }) {
                if line.hasPrefix("#") { continue }
                if line.contains("/etc/apt/sources.list.d/") { updatedSinceSources = false }
                if line.hasPrefix("apt-get update") { updatedSinceSources = true }
                if line.hasPrefix("apt-get install") {
                    #expect(updatedSinceSources, "\(profile)/\(script.name): `\(line)` runs without an apt-get update before it")
                }
            }
        }
    }

    /// Defect 5: a script that imports PyYAML runs on nodes whose base installed python3-yaml.
    @Test(arguments: Fixture.profiles)
    func pyyamlIsInstalledWhereAScriptImportsIt(profile: String) throws {
        let scripts = try Self.scripts(profile, .amd64)
        let importers = scripts.filter { $0.text.contains("import sys, yaml") || $0.text.contains("import yaml") }
        let installs = scripts.filter { $0.name.hasPrefix("base-") }.contains { script in
            script.text.split(separator: "\n").contains { $0.hasPrefix("apt-get install") && $0.contains(" python3-yaml") }
        }
        if !importers.isEmpty {
            #expect(installs, "\(importers.map(\.name)) import yaml, but no base script installs python3-yaml")
        }
        #expect(profile != "seed-2021" || !importers.isEmpty, "the Weave step no longer needs PyYAML: update this test")
    }

    /// Issue 15.3: an arm64 lab renders no amd64/x86_64 download and an arm64 Docker apt source.
    @Test(arguments: Fixture.profiles)
    func arm64RendersArm64Downloads(profile: String) throws {
        let scripts = try Self.scripts(profile, .arm64)
        for script in scripts {
            for url in Self.downloads(script.text) {
                #expect(!url.contains("amd64") && !url.contains("x86_64"), "\(profile)/\(script.name) (arm64): \(url)")
            }
        }
        let runtime = try Self.script("base-runtime", profile, .arm64)
        if profile == "seed-2021" { #expect(runtime.contains("deb [arch=arm64 ")) }
        // The only amd64 left is the architecture check's advice (`die ...`), which names both.
        #expect(!runtime.split(separator: "\n").contains { $0.contains("amd64") && !$0.contains("die ") })
    }

    /// Issue 15.3: every base script that downloads release files checks the architecture first.
    @Test(arguments: Fixture.profiles)
    func everyDownloadingBaseScriptChecksTheArchitecture(profile: String) throws {
        for script in try Self.scripts(profile, .amd64) where script.name.hasPrefix("base-") {
            guard let firstFetch = script.text.firstMatch(of: #/^\s*(fetch|fetch_verified) '/#.anchorsMatchLineEndings()) else { continue }
            let check = try #require(script.text.range(of: "if [ \"$(uname -m)\" != \"x86_64\" ]"),
                                     "\(profile)/\(script.name) downloads without the architecture check")
            #expect(check.lowerBound < firstFetch.range.lowerBound, "\(profile)/\(script.name) checks the architecture after its first download")
        }
    }

    /// Issue 15.3: every base script stops on a guest whose `uname -m` is not lab.json's base.arch,
    /// naming the machine, what it found and what to do (run here with a fake uname and hostname).
    @Test(arguments: [(GuestArch.amd64, "aarch64", false), (.amd64, "x86_64", true), (.arm64, "x86_64", false), (.arm64, "aarch64", true)])
    func baseScriptsRefuseAnotherArchitecture(arch: GuestArch, machine: String, passes: Bool) throws {
        let text = try Self.script("base-kubernetes", "current", arch)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        let die = try #require(lines.first { $0.hasPrefix("die() ") })
        let start = try #require(lines.firstIndex { $0.contains("$(uname -m)") })
        let end = try #require(lines[start...].firstIndex { $0 == "fi" })
        let dir = try Fixture.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for (tool, out) in [("uname", machine), ("hostname", "ubuntu-base")] {
            try "#!/bin/sh\necho \(out)\n".write(toFile: dir + "/" + tool, atomically: true, encoding: .utf8)
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: dir + "/" + tool)
        }
        let snippet = ([die] + lines[start...end]).joined(separator: "\n") + "\necho passed\n"
        let r = try Fixture.run(["/bin/bash", "-c", snippet], environment: ["PATH": dir + ":/usr/bin:/bin"])
        #expect((r.status == 0) == passes, "\(r)")
        if !passes {
            #expect(r.stderr.contains("base.arch is \(arch.rawValue)") && r.stderr.contains("ubuntu-base runs \(machine)"), "\(r.stderr)")
            #expect(r.stderr.contains("set base.arch"), "\(r.stderr)")
        }
    }
}

/// The curl stub's side of the catalog (run on the host, nothing recorded): checksum files in each
/// project's format verify the files it serves, and any other URL is a 404 as curl reports it.
@Suite struct CurlStubCatalogTests {
    static let stubs = Fixture.repoRoot + "/Tests/Testbed/stubs"

    static func artifact(_ url: String) throws -> Data {
        let r = try Fixture.run(["python3", stubs + "/labctl-stub", "--artifact", url])
        #expect(r.status == 0, "\(url): \(r.stderr)")
        return Data(r.stdout.utf8)
    }

    @Test func everyChecksumFileVerifiesItsAssetInItsFormat() throws {
        for entry in try DownloadCatalogTests.catalog() {
            guard let checksum = entry.checksum else { continue }
            let asset = try Fixture.run(["sh", "-c", "python3 \"$0\" --artifact \"$1\" | sha256sum", Self.stubs + "/labctl-stub", entry.url])
            let digest = String(asset.stdout.prefix(64))
            let text = String(decoding: try Self.artifact(checksum.url), as: UTF8.self)
            let name = (entry.url as NSString).lastPathComponent
            let expected: String = switch checksum.format {
            case "bare": digest
            case "sha256sum-single-space": "\(digest) \(name)"
            case "sha256sum-binary-slash": "\(digest) */\(name)"
            default: "\(digest)  \(name)"
            }
            let lines = text.split(separator: "\n").map(String.init)
            #expect(lines.contains(expected), "\(checksum.url) (\(checksum.format)) lacks '\(expected)': \(text)")
            if checksum.format != "sha256sum-list" { #expect(lines.count == 1, "\(checksum.url): \(text)") }
        }
    }

    @Test func unknownURLsAreNotServed() throws {
        let r = try Fixture.run(["python3", Self.stubs + "/labctl-stub", "--artifact",
                                 "https://github.com/derailed/k9s/releases/download/v0.24.15/k9s_v0.24.15_Linux_x86_64.tar.gz"])
        #expect(r.status != 0)
    }

    /// curl -f on a 404: exit 22 and "curl: (22) The requested URL returned error: 404" unless -s without -S.
    @Test(arguments: [(["-fsSL"], 22, true), (["-fsL"], 22, false), (["--fail"], 22, true), (["-sSL"], 0, false)])
    func notFoundIsReportedAsCurlDoes(flags: [String], code: Int, message: Bool) throws {
        let program = "import sys; sys.path.insert(0, sys.argv[1]); import catalog; "
            + "body, code = catalog.not_found('https://example.invalid/x', sys.argv[2:]); print(code)"
        let r = try Fixture.run(["python3", "-c", program, Self.stubs] + flags)
        #expect(r.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "\(code)")
        #expect(r.stderr.contains("curl: (22) The requested URL returned error: 404") == message, "\(r.stderr)")
    }
}
