import ArgumentParser
import Foundation
import LabKit
import VMwareDriver

extension Labctl {
    struct NetApplyCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "apply",
            abstract: "Write the lab's VMware network files on this host and restart VMware networking.",
            discussion: """
                Reads the current files, prints a diff against the lab's plan and asks before changing \
                anything (unless --yes). Each original is backed up next to it with a timestamp suffix \
                (for example networking.labctl-backup-20261127T105800Z); the new files are written \
                atomically with the same permissions, then VMware networking is restarted, which drops \
                the NAT connections of running VMs. Needs root. On any failure the previous files are \
                put back. On Windows it prints the vnetlib commands to run as Administrator.

                EXAMPLES:
                  sudo labctl net apply
                  sudo labctl net apply --yes
                  labctl net apply --root /tmp/fake-root --yes
                """
        )

        @OptionGroup var labOptions: LabOptions

        @Flag(name: .shortAndLong, help: "Apply without asking.")
        var yes = false

        @Option(help: ArgumentHelp("Directory the host's VMware paths are under (for tests and chroots).", valueName: "dir"),
                completion: .directory)
        var root = "/"

        @Option(help: ArgumentHelp("The host OS; the default is this host's.", valueName: "linux|macos|windows"))
        var host: VMwareHostOS = .current

        func run() async throws {
            try await perform(.live)
        }

        func perform(_ env: NetApplyEnvironment) async throws {
            let lab = try labOptions.load().lab
            let plan = try HostNetworkPlan(lab: lab)
            if host == .windows {
                env.print("""
                    labctl does not run these itself on Windows: vnetlib prints nothing and its exit codes cannot be
                    trusted (1 means success, 0 failure, and `set dhcp ... addipmac` always exits 0; VVD VNETLIB.md),
                    so labctl could not tell whether a step worked or undo a failed one. Run them in PowerShell as
                    Administrator, then check vmnet8 in Edit > Virtual Network Editor.

                    """)
                env.print(try VnetlibScript(plan).render(plan))
                return
            }
            let applier = try HostNetworkApplier(os: host, vmnet: plan.vmnet, root: root, runner: env.runner,
                                                 isPrivileged: env.isPrivileged, now: env.now, beforeWrite: env.beforeWrite)
            let changes = try applier.plan(plan)
            let changed = changes.filter(\.isChanged)
            guard !changed.isEmpty else {
                env.print("VMware's \(plan.vmnet) configuration already matches the lab; nothing to do.\n")
                return
            }
            for c in changed { env.print(c.diff) }
            if !yes {
                let question = "Write \(changed.count) file(s), back up the originals and restart VMware networking (running VMs lose their NAT connections)? [y/N] "
                guard let answer = env.confirm(question) else {
                    throw LabError(.invalidInput, "refusing to change VMware's network configuration without confirmation",
                                   hint: "standard input is not a terminal: run it in a terminal to confirm, or pass --yes")
                }
                guard answer else {
                    env.print("Nothing changed.\n")
                    return
                }
            }
            let report = try await applier.apply(changes)
            for b in report.backups { env.print("backed up \(b)\n") }
            for w in report.written { env.print("wrote     \(w)\n") }
            for c in report.commands { env.print("ran       \(c)\n") }
            env.print("VMware networking restarted with the lab's \(plan.vmnet) configuration. To undo, copy the *\(applier.backupSuffix) files back and restart networking (docs/network.md).\n")
        }
    }
}

/// What `net apply` needs from the outside world, so tests can replace it.
struct NetApplyEnvironment: Sendable {
    var runner: any CommandRunner
    var isPrivileged: Bool
    var now: Date
    /// Asks a yes/no question; nil when nobody can answer (standard input is not a terminal).
    var confirm: @Sendable (String) -> Bool?
    var print: @Sendable (String) -> Void
    var beforeWrite: @Sendable (String) throws -> Void = { _ in }

    static var live: NetApplyEnvironment {
        NetApplyEnvironment(
            runner: HostProcessRunner(), isPrivileged: geteuid() == 0, now: Date(),
            confirm: { question in
                guard isatty(STDIN_FILENO) == 1 else { return nil }
                FileHandle.standardOutput.write(Data(question.utf8))
                guard let line = readLine() else { return nil }
                return ["y", "yes"].contains(line.trimmingCharacters(in: .whitespaces).lowercased())
            },
            // Unbuffered, so the diff and the question appear in order.
            print: { FileHandle.standardOutput.write(Data($0.utf8)) })
    }
}
