import ArgumentParser
import LabKit
import LabPKI

extension Labctl {
    /// `labctl ca …`: the lab's Istio CA (docs/pki.md).
    struct CA: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "ca",
            abstract: "Show or replace the lab's Istio CA (one root, an intermediate per cluster).",
            discussion: """
                The CA lives in .labctl/pki next to lab.json; see docs/pki.md.

                EXAMPLES:
                  labctl ca show                    The root, the intermediates, and their trust
                  labctl ca replace-root            Say what replacing the root would break
                  labctl ca replace-root --yes      Replace it and re-issue every intermediate
                """,
            subcommands: [CAShow.self, CAReplaceRoot.self]
        )
    }
}

extension LoadedLab {
    /// The CA profile lab.json asks for (profile, and an `istio` version override).
    func caProfile() throws -> CAProfile {
        try CAProfile.named(lab.profile, istioVersion: lab.versions["istio"])
    }
}
