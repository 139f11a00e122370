import ArgumentParser
import LabKit

/// `--lab FILE`, shared by every command that works on a lab.
struct LabOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("The lab file.", valueName: "file"), completion: .file(extensions: ["json"]))
    var lab: String = "lab.json"

    func load() throws -> LoadedLab {
        try LabLoader.load(path: lab)
    }
}
