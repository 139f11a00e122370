import ArgumentParser
import GuestSSH
import LabXML

extension Labctl {
    struct VersionCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "version",
            abstract: "Show labctl's version.",
            discussion: """
                EXAMPLES:
                  labctl version --verbose
                """
        )

        @Flag(name: .shortAndLong, help: "Also show the versions of the C libraries labctl runs with.")
        var verbose = false

        func run() {
            print("labctl \(Labctl.version)")
            if verbose {
                print("libssh2 \(LibSSH2.runtimeVersion)")
                print("libxml2 \(LibXML2.runtimeVersion)")
            }
        }
    }
}
