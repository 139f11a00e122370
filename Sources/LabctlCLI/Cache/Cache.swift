import ArgumentParser
import Foundation
import LabCache
import LabKit
import LabStages
import VMwareDriver

extension Labctl {
    /// `labctl cache`: the host-side artifact cache (docs/cache.md).
    struct Cache: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "cache",
            abstract: "Download the lab's release files and manifests once per host, verified, and keep them.",
            discussion: """
                The cache lives in $XDG_CACHE_HOME/labctl (else ~/.cache/labctl; ~/Library/Caches/labctl on \
                macOS; LABCTL_CACHE_DIR overrides it). Its list of files is read off every script the \
                lab's profile renders: the base's release files, and the CNI and MetalLB manifests \
                up fetches. base prepare, up and rebuild upload what it holds instead of downloading it; \
                container images are not cached yet. See docs/cache.md.

                EXAMPLES:
                  labctl cache fill                      Download what the lab's profile needs
                  labctl cache fill --mirror http://127.0.0.1:8080
                  labctl cache list --format json
                  labctl cache verify                    Re-hash every entry; drop corrupt ones
                """,
            subcommands: [CacheFill.self, CacheList.self, CacheVerify.self]
        )
    }

    enum CacheFormat: String, ExpressibleByArgument, CaseIterable { case table, json }

    /// `--format`, shared by the cache commands.
    struct CacheOutputOptions: ParsableArguments {
        @Option(help: "Output format: table or json.") var format: CacheFormat = .table

        func store() throws -> CacheStore {
            CacheStore(root: try CacheLocation.resolve(macOS: HostPlatform.current.kind == .macos))
        }
    }

    struct CacheFill: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "fill",
            abstract: "Download every release file the lab's profile needs, check it against its published checksum, and store it.",
            discussion: """
                Files already in the cache are re-hashed and kept; a corrupt one is reported, removed and \
                downloaded again. An interrupted fill resumes (HTTP Range) where it stopped. --mirror (or \
                LABCTL_CACHE_MIRROR) fetches https://HOST/PATH from MIRROR/HOST/PATH instead.
                """
        )

        @OptionGroup var labOptions: LabOptions
        @OptionGroup var output: CacheOutputOptions
        @Option(help: ArgumentHelp("Fetch from this mirror instead of the origins (MIRROR/HOST/PATH).", valueName: "url"))
        var mirror: String?

        func run() async throws {
            let loaded = try labOptions.load()
            let specs = try ReleaseDownloads.artifacts(for: loaded.lab)
            let mirrorURL = mirror ?? ProcessInfo.processInfo.environment["LABCTL_CACHE_MIRROR"].flatMap { $0.isEmpty ? nil : $0 }
            let filler = CacheFiller(store: try output.store(), mirror: try mirrorURL.map(Mirror.init))
            let renderer = CacheProgress(live: output.format == .table && isatty(STDOUT_FILENO) == 1, quiet: output.format == .json)
            let summary = try await filler.fill(specs, events: renderer.handle)
            renderer.finish()
            let text = output.format == .json
                ? CacheRendering.json(CacheRendering.FillReport(summary))
                : CacheRendering.fillSummary(summary, root: filler.store.root)
            FileHandle.standardOutput.write(Data(text.utf8))
            if !summary.failed.isEmpty {
                let errors = summary.failed.map(\.1)
                if errors.count == 1, let only = errors.first { throw only }
                throw LabErrors(errors)
            }
        }
    }

    struct CacheList: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "list",
            abstract: "List the cached artifacts: name, version, size, sha256, source.",
            discussion: "Reads the index only; `labctl cache verify` re-hashes the files.",
            aliases: ["ls"]
        )

        @OptionGroup var output: CacheOutputOptions

        func run() async throws {
            let entries = try output.store().entries()
            FileHandle.standardOutput.write(Data((output.format == .json ? CacheRendering.json(entries) : CacheRendering.table(entries)).utf8))
        }
    }

    struct CacheVerify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "verify",
            abstract: "Re-hash every cached file; remove (and report) any that no longer matches its sha256.",
            discussion: "A removed entry is downloaded again by the next `labctl cache fill`. Exits non-zero when one was corrupt or missing."
        )

        @OptionGroup var output: CacheOutputOptions

        func run() async throws {
            let store = try output.store()
            let results = try CacheFiller(store: store).verify()
            let text = output.format == .json ? CacheRendering.json(results.map(CacheRendering.VerifyRow.init)) : CacheRendering.verifyTable(results)
            FileHandle.standardOutput.write(Data(text.utf8))
            let bad = results.filter { $0.status != .ok }
            guard bad.isEmpty else {
                throw LabError(.commandFailed, "\(bad.count) cached file\(bad.count == 1 ? " was" : "s were") corrupt or missing and removed: "
                               + bad.map(\.entry.name).joined(separator: ", "),
                               location: .file(store.root), hint: "run labctl cache fill to download them again")
            }
        }
    }
}
