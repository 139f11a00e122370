import ArgumentParser

extension Labctl {
    /// `labctl base …`: the base VM the nodes are cloned from.
    struct BaseCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "base",
            abstract: "Prepare the base VM the nodes are cloned from (seed 2-6).",
            discussion: """
                EXAMPLES:
                  labctl base prepare                          Prepare ./lab.json's base VM (asks for the password once)
                  labctl base prepare --password-stdin < pw    The same, for automation
                """,
            subcommands: [BasePrepare.self]
        )
    }
}
