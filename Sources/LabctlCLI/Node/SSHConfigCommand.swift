import ArgumentParser
import Foundation
import GuestSSH
import LabKit

extension Labctl {
    struct SSHConfigCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "ssh-config",
            abstract: "Print an OpenSSH config block for every node, or reset a node's host-key pin.",
            discussion: """
                The blocks use the lab's key and the lab's own known_hosts (.labctl/known_hosts);
                ~/.ssh/known_hosts is never touched. Save the output and `Include` it from
                ~/.ssh/config to reach nodes as `ssh <node>`, `scp`, or from an editor.

                --forget NODE removes the node's pinned host key, for when you re-created the VM
                or regenerated its host keys yourself; the next connection records the new key.

                EXAMPLES:
                  labctl ssh-config > ~/.ssh/labctl.conf      (then add `Include labctl.conf` to ~/.ssh/config)
                  labctl ssh-config --forget cluster1-worker1
                """
        )

        @OptionGroup var options: LabOptions

        @Option(name: .long, help: ArgumentHelp("Remove the host-key pin of this node.", valueName: "node"))
        var forget: String?

        func run() async throws {
            let loaded = try options.load()
            let targets = LabSSHTargets(loaded: loaded)
            let paths = loaded.paths
            if let forget {
                let endpoint = try targets.endpoint(named: forget)
                let removed = try KnownHosts(path: paths.knownHosts).remove(host: endpoint.host, port: endpoint.port)
                print(removed == 0
                      ? "\(forget): no pinned host key in \(paths.knownHosts)"
                      : "\(forget): removed \(removed) pinned host key(s); the next connection records the new key")
                return
            }
            let key = try SSHKeys.ensureLabKey(paths: paths, configured: loaded.lab.ssh.privateKey)
            let absKey = URL(fileURLWithPath: key).standardizedFileURL.path
            let absKnown = URL(fileURLWithPath: paths.knownHosts).standardizedFileURL.path
            print("# labctl ssh-config for lab \(loaded.lab.name) (\(loaded.file))")
            for endpoint in targets.endpoints {
                print(OpenSSH.configBlock(alias: endpoint.node, endpoint: endpoint, privateKey: absKey, knownHosts: absKnown))
            }
        }
    }
}
