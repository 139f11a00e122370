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
            abstract: "Download the lab's release files, manifests and container images once per host, verified, and keep them.",
            discussion: """
                The cache lives in $XDG_CACHE_HOME/labctl (else ~/.cache/labctl; ~/Library/Caches/labctl on \
                macOS; LABCTL_CACHE_DIR overrides it). Its list of files is read off every script the \
                lab's profile renders: the base's release files, and the CNI and MetalLB manifests \
                up fetches. Its list of images is derived from the profile, the rendered manifests and the \
                cached files (kubeadm's images, the runtime's sandbox image, the CNI, MetalLB and Istio images). \
                base prepare, up and rebuild upload the files it holds instead of downloading them. See docs/cache.md.

                EXAMPLES:
                  labctl cache fill                      Download what the lab's profile needs
                  labctl cache fill --mirror http://127.0.0.1:8080 --registry-mirror http://127.0.0.1:5000
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
            abstract: "Download every release file and container image the lab's profile needs, verify it, and store it.",
            discussion: """
                Files come first (release files are checked against their published checksums), then the images \
                derived from the profile and those files, for the lab's base.arch (every manifest and blob checked \
                against its digest). What the cache holds is re-hashed and kept; a corrupt entry is reported, \
                removed and downloaded again. An interrupted fill resumes (HTTP Range) where it stopped. --mirror \
                (or LABCTL_CACHE_MIRROR) fetches https://HOST/PATH from MIRROR/HOST/PATH instead; --registry-mirror \
                (or LABCTL_REGISTRY_MIRROR) asks MIRROR/v2/REPOSITORY/…?ns=REGISTRY for every image (containerd's \
                mirror convention). --no-images fills the files only.
                """
        )

        @OptionGroup var labOptions: LabOptions
        @OptionGroup var output: CacheOutputOptions
        @Option(help: ArgumentHelp("Fetch from this mirror instead of the origins (MIRROR/HOST/PATH).", valueName: "url"))
        var mirror: String?
        @Option(help: ArgumentHelp("Pull images through this registry mirror (URL/v2/REPOSITORY/…?ns=REGISTRY).", valueName: "url"))
        var registryMirror: String?
        @Flag(help: "Fill the release files and manifests only, no container images.")
        var noImages = false

        func run() async throws {
            let loaded = try labOptions.load()
            let specs = try ReleaseDownloads.artifacts(for: loaded.lab)
            let environment = ProcessInfo.processInfo.environment
            let mirrorURL = mirror ?? environment["LABCTL_CACHE_MIRROR"].flatMap { $0.isEmpty ? nil : $0 }
            let registryURL = registryMirror ?? environment["LABCTL_REGISTRY_MIRROR"].flatMap { $0.isEmpty ? nil : $0 }
            let client = RegistryClient(mirror: try registryURL.map(RegistryMirror.init))
            let filler = CacheFiller(store: try output.store(), mirror: try mirrorURL.map(Mirror.init))
            let renderer = CacheProgress(live: output.format == .table && isatty(STDOUT_FILENO) == 1, quiet: output.format == .json)
            let files = try await filler.fill(specs, events: renderer.handle)
            var images = CacheFillSummary()
            var missing: [String] = []
            if !noImages {
                let required = try await ContainerImages.required(for: loaded.lab, scripts: try StageScripts(lab: loaded.lab), store: filler.store)
                missing = required.missing
                images = try await filler.fillImages(required.images, platform: ContainerImages.platform(for: loaded.lab), client: client,
                                                     events: renderer.handle)
            }
            renderer.finish()
            let text = output.format == .json
                ? CacheRendering.json(CacheRendering.FillReport(files, images: noImages ? nil : CacheRendering.FillReport(images), missing: missing))
                : CacheRendering.fillSummary(files, root: filler.store.root) + (noImages ? "" : CacheRendering.imageSummary(images, missing: missing))
            FileHandle.standardOutput.write(Data(text.utf8))
            var errors = (files.failed + images.failed).map(\.1)
            // A manifest that is not cached hides the images it names: the fill is incomplete.
            if !missing.isEmpty, files.failed.isEmpty {
                errors.append(LabError(.notFound, "the images named by \(missing.joined(separator: ", ")) are unknown: not in the cache",
                                       location: .file(filler.store.root), hint: "run labctl cache fill again"))
            }
            if errors.count == 1, let only = errors.first { throw only }
            if !errors.isEmpty { throw LabErrors(errors) }
        }
    }

    struct CacheList: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "list",
            abstract: "List the cached files and images: name, version, kind, size, sha256, source.",
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
            abstract: "Re-hash every cached file and image blob; remove (and report) any entry that no longer matches.",
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
