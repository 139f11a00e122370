import ArgumentParser
import Foundation
import GuestSSH
import LabKit

extension Labctl {
    struct SSHCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "ssh",
            abstract: "Open a shell, or run a command, on a lab node with the system's ssh.",
            discussion: """
                Runs the system's `ssh` with the lab's key, user, port and known_hosts
                (.labctl/known_hosts), so host keys stay pinned exactly as labctl pins them.
                Arguments after `--` are run on the node, each word quoted for the remote shell.

                EXAMPLES:
                  labctl ssh cluster1-ctrl-plane
                  labctl ssh cluster1-worker1 -- sudo systemctl status kubelet
                  labctl ssh --lab ~/labs/lab.json base -- cat /etc/os-release
                """
        )

        @OptionGroup var options: LabOptions

        @Argument(help: "The node's name, as in lab.json (or the base VM's name).")
        var node: String

        @Argument(parsing: .postTerminator, help: "The command to run instead of a shell.")
        var command: [String] = []

        func run() async throws {
            let loaded = try options.load()
            let endpoint = try LabSSHTargets(loaded: loaded).endpoint(named: node)
            let paths = loaded.paths
            let key = try SSHKeys.ensureLabKey(paths: paths, configured: loaded.lab.ssh.privateKey)
            guard let ssh = ExecSSH.find("ssh") else {
                throw LabError(.notFound, "the ssh client is not installed", hint: "install openssh-client")
            }
            let argv = OpenSSH.sshArguments(ssh: ssh, endpoint: endpoint, privateKey: key, knownHosts: paths.knownHosts, command: command)
            try ExecSSH.replaceProcess(argv)
        }
    }
}

/// Replaces labctl with `ssh`, so the terminal, signals and the exit status are ssh's own.
enum ExecSSH {
    static func find(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        return path.split(separator: ":").map { "\($0)/\(name)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    static func replaceProcess(_ argv: [String]) throws -> Never {
        var cArgs: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
        execv(argv[0], &cArgs)
        let why = String(cString: strerror(errno))
        for a in cArgs { free(a) }
        throw LabError(.commandFailed, "cannot run ssh", location: .command(argv), detail: why)
    }
}
