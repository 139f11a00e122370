import Foundation
import GuestSSH
import LabKit
import Testing

/// Pure tests (no server): known_hosts format and the system-ssh command lines.
@Suite struct OpenSSHTests {
    func tempKnownHosts() -> KnownHosts {
        KnownHosts(path: FileManager.default.temporaryDirectory.appendingPathComponent("kh-\(UUID().uuidString)").path)
    }

    @Test func knownHostsUsesOpenSSHFormatAndBracketsNonDefaultPorts() throws {
        let kh = tempKnownHosts()
        defer { try? FileManager.default.removeItem(atPath: kh.path) }
        let key = Data([0, 0, 0, 11] + Array("ssh-ed25519".utf8) + [0, 0, 0, 32] + Array(repeating: 7, count: 32))
        try kh.add(host: "10.213.0.5", port: 2222, keyType: "ssh-ed25519", key: key, node: "w1")
        try kh.add(host: "10.213.0.6", port: 22, keyType: "ssh-ed25519", key: key, node: "w2")
        let text = try String(contentsOfFile: kh.path, encoding: .utf8)
        #expect(text.contains("[10.213.0.5]:2222 ssh-ed25519 \(key.base64EncodedString()) labctl:w1\n"))
        #expect(text.contains("10.213.0.6 ssh-ed25519 "))
        #expect(kh.check(host: "10.213.0.5", port: 2222, keyType: "ssh-ed25519", key: key) == .match)
        #expect(kh.check(host: "10.213.0.5", port: 22, keyType: "ssh-ed25519", key: key) == .notFound)
        var other = key
        other[other.count - 1] = 9
        guard case .mismatch(let pinned) = kh.check(host: "10.213.0.5", port: 2222, keyType: "ssh-ed25519", key: other) else {
            Issue.record("a different key must be a mismatch")
            return
        }
        #expect(pinned.first?.fingerprint.hasPrefix("SHA256:") == true)
        #expect(try kh.remove(host: "10.213.0.5", port: 2222) == 1)
        #expect(kh.pins(host: "10.213.0.6", port: 22).count == 1)
    }

    @Test func hashedEntriesFromTheSystemSSHAreUnderstood() throws {
        let kh = tempKnownHosts()
        defer { try? FileManager.default.removeItem(atPath: kh.path) }
        // Written by `ssh` with HashKnownHosts=yes for [127.0.0.9]:2399.
        let line = "|1|zjzubjmC3ZwIqvT2APCKe9nG8yQ=|k3YmN76KclZHSRGn/T+4rn6TxOc= ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILO/77LJRyiXRSnsgWL4sFVN9hSuczk/vXtT/Ge86p0D\n"
        try line.write(toFile: kh.path, atomically: true, encoding: .utf8)
        #expect(kh.pins(host: "127.0.0.9", port: 2399).count == 1)
        #expect(kh.pins(host: "127.0.0.9", port: 22).isEmpty)
        #expect(try kh.remove(host: "127.0.0.9", port: 2399) == 1)
    }

    @Test func sshArgumentsQuoteTheRemoteCommandAndPinKnownHosts() {
        let e = GuestEndpoint(node: "w1", host: "10.213.0.5", port: 2222, user: "hung")
        let args = OpenSSH.sshArguments(ssh: "/usr/bin/ssh", endpoint: e, privateKey: "/lab/.labctl/id_ed25519",
                                        knownHosts: "/nonexistent/known_hosts", command: ["ls", "a b"])
        #expect(args.first == "/usr/bin/ssh")
        #expect(args.contains("UserKnownHostsFile=/nonexistent/known_hosts"))
        #expect(args.contains("IdentitiesOnly=yes"))
        #expect(args.contains("StrictHostKeyChecking=accept-new"))   // nothing pinned yet
        #expect(Array(args.suffix(4)) == ["10.213.0.5", "--", "ls", "'a b'"])
        let block = OpenSSH.configBlock(alias: "w1", endpoint: e, privateKey: "/k", knownHosts: "/kh")
        #expect(block.contains("Host w1\n  HostName 10.213.0.5\n  Port 2222\n  User hung\n"))
    }

    @Test func sudoCommandLineIsNonInteractive() {
        #expect(SSHSession.commandLine(Command(["systemctl", "restart", "kubelet"], sudo: true)) == "sudo -n -- systemctl restart kubelet")
        #expect(SSHSession.commandLine(Command(["echo", "it's"])) == "echo 'it'\\''s'")
    }
}
