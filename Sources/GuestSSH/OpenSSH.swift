import Foundation
import LabKit

/// How the system's OpenSSH client reaches a lab node with the lab's key and pins:
/// shared by `labctl ssh`, `labctl ssh-config` and the benchmark.
public enum OpenSSH {
    /// `-o` options for `ssh`/`scp`. `StrictHostKeyChecking=yes` once the node is pinned
    /// (a changed key is refused, as in GuestSSH), `accept-new` before the first contact.
    public static func options(privateKey: String, knownHosts: String, pinned: Bool) -> [String] {
        [
            "-i", privateKey,
            "-o", "IdentitiesOnly=yes",
            "-o", "UserKnownHostsFile=\(knownHosts)",
            "-o", "GlobalKnownHostsFile=/dev/null",
            // Plain names, so the file stays readable and `labctl ssh-config --forget` is obvious
            // (GuestSSH also understands hashed entries).
            "-o", "HashKnownHosts=no",
            "-o", "StrictHostKeyChecking=\(pinned ? "yes" : "accept-new")",
        ]
    }

    /// The argv of `ssh` for one node (`command` empty: an interactive shell).
    public static func sshArguments(ssh: String = "ssh", endpoint: GuestEndpoint, privateKey: String, knownHosts: String,
                                    command: [String]) -> [String] {
        let pinned = !KnownHosts(path: knownHosts).pins(host: endpoint.host, port: endpoint.port).isEmpty
        var args = [ssh] + options(privateKey: privateKey, knownHosts: knownHosts, pinned: pinned)
        args += ["-p", String(endpoint.port), "-l", endpoint.user, endpoint.host]
        if !command.isEmpty {
            // ssh joins its arguments with spaces for the remote shell: quote each word so
            // `labctl ssh node -- ls "a b"` means what it says.
            args += ["--"] + command.map(shellQuote)
        }
        return args
    }

    /// An OpenSSH `Host` block, for `Include` from `~/.ssh/config`.
    public static func configBlock(alias: String, endpoint: GuestEndpoint, privateKey: String, knownHosts: String) -> String {
        """
        Host \(alias)
          HostName \(endpoint.host)
          Port \(endpoint.port)
          User \(endpoint.user)
          IdentityFile \(quoteConfig(privateKey))
          IdentitiesOnly yes
          UserKnownHostsFile \(quoteConfig(knownHosts))
          GlobalKnownHostsFile /dev/null
          HashKnownHosts no
          StrictHostKeyChecking accept-new

        """
    }

    private static func quoteConfig(_ value: String) -> String {
        value.contains(" ") ? "\"\(value)\"" : value
    }
}
