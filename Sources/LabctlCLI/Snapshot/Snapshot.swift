import ArgumentParser
import Foundation
import LabKit
import LabStages

extension Labctl {
    /// `labctl snapshot`: lab-wide snapshots (docs/snapshots.md).
    struct Snapshot: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "snapshot",
            abstract: "Save, restore, list and delete lab-wide snapshots of every node at once.",
            discussion: """
                A lab snapshot is one VMware snapshot per node (recorded by uid) plus the stage journal's \
                position, kept as a manifest in the lab's state directory (.labctl/snapshots/). Without a \
                selection every node of the lab is included; VMs are worked on in parallel. The checkpoints \
                `labctl up` takes (lab.json `checkpoints`) are lab snapshots too. See docs/snapshots.md.

                EXAMPLES:
                  labctl snapshot save before-upgrade        Snapshot every node
                  labctl snapshot save                       The next free snapshot#N
                  labctl snapshot restore snapshot#2         Back to the nodes' checkpoint
                  labctl snapshot list --format json
                  labctl snapshot delete before-upgrade
                """,
            subcommands: [SnapshotSave.self, SnapshotRestore.self, SnapshotList.self, SnapshotDelete.self]
        )
    }
}

/// `--nodes a,b` or `--cluster C`.
struct NodeSelectionOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Only these nodes (comma-separated).", valueName: "a,b"))
    var nodes: String?

    @Option(name: .long, help: ArgumentHelp("Only the nodes of this cluster.", valueName: "cluster"))
    var cluster: String?

    func validate() throws {
        if nodes != nil && cluster != nil { throw ValidationError("use --nodes or --cluster, not both") }
    }

    var selection: NodeSelection {
        if let nodes {
            return .nodes(nodes.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty })
        }
        if let cluster { return .cluster(cluster) }
        return .all
    }
}

/// Shared by the snapshot, destroy and rebuild commands: the lab's services, progress lines, the lock.
enum LabCommandSupport {
    /// One line per node event: `  [node] message`.
    static let progress: @Sendable (String, String) -> Void = { node, line in
        FileHandle.standardOutput.write(Data("  [\(node)] \(line)\n".utf8))
    }

    /// Runs `body` under the lab lock, with Ctrl-C cancelling it (a second Ctrl-C exits at once).
    @discardableResult
    static func locked<T: Sendable>(_ paths: LabPaths, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        let task = Task {
            try await LabRun.withLock(paths: paths, onEvent: { event in
                if case .warning(let w) = event { FileHandle.standardError.write(Data("warning: \(w)\n".utf8)) }
            }) { try await body() }
        }
        let interrupts = InterruptHandler { task.cancel() }
        defer { interrupts.stop() }
        return try await task.value
    }

    /// Loads the lab and runs a lab-snapshot operation under its lock (node progress on stdout);
    /// returns the result and how long the operation took.
    static func withSnapshots<T: Sendable>(_ labOptions: LabOptions,
                                           _ body: @escaping @Sendable (LabSnapshots) async throws -> T) async throws -> (T, Duration) {
        let env = try LabEnvironment.make(try labOptions.load())
        let snapshots = env.services.snapshots(progress: progress)
        let started = ContinuousClock.now
        let out = try await locked(env.paths) { try await body(snapshots) }
        return (out, ContinuousClock.now - started)
    }

    static func time(_ date: Date) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime]
        return f.string(from: date)
    }
}
