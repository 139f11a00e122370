import ArgumentParser
import Foundation
import GuestSSH
import LabKit
import LabStages
import VMwareDriver

extension Labctl {
    struct BasePrepare: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "prepare",
            abstract: "Install everything a node needs in the base VM and take its two checkpoints.",
            discussion: """
                On the base VM named by lab.json's base.vmx (a fresh Ubuntu install, seed 2.1), over SSH: \
                the lab's SSH key and a NOPASSWD sudo rule (seed 2.2/2.3; the password of ssh.user is \
                asked once when the key or sudo needs it, never stored or logged), swap off for good \
                (2.4), the base's netplan from lab.json (2.5), the container runtime with the systemd \
                cgroup driver (3), kernel modules and sysctls (4.1), kubeadm/kubelet/kubectl pinned \
                (4.2); then the base is shut down and base.workerCheckpoint (snapshot#1) taken; then \
                istioctl and k9s (5, 6) and base.controlPlaneCheckpoint (snapshot#2), powered off.

                With a filled host cache (labctl cache fill, docs/cache.md) the release files are \
                uploaded over SFTP instead of downloaded in the base; apt packages still come from the network.

                Safe to re-run: with both checkpoints present it does nothing; after a failure it \
                resumes where it stopped. --force re-creates both checkpoints, but only when no \
                linked clone depends on them (the error names the clones).

                EXAMPLES:
                  labctl base prepare
                  labctl base prepare --address 192.168.79.131     The base's current (DHCP) address
                  printf '%s\\n' "$PW" | labctl base prepare --password-stdin --progress plain
                  labctl base prepare --force                      Re-run every step, new checkpoints
                """
        )

        @OptionGroup var labOptions: LabOptions
        @OptionGroup var progressOptions: ProgressOptions

        @Flag(name: .long, help: "Read the password of ssh.user from the first line of standard input (no prompt).")
        var passwordStdin = false

        @Option(name: .long, help: ArgumentHelp("The base VM's current address, if labctl cannot find it.", valueName: "ip"))
        var address: String?

        @Flag(name: .long, help: "Re-create both checkpoints (refused while linked clones depend on them).")
        var force = false

        func run() async throws {
            let loaded = try labOptions.load()
            let lab = loaded.lab
            let passwordSource = PasswordSource(fromStdin: passwordStdin, user: lab.ssh.user)
            if passwordStdin { try await passwordSource.readStdinNow() }
            let options = try SSHOptions.lab(loaded.paths, ssh: lab.ssh)
            let hooks = BasePrepareHooks(
                password: { try await passwordSource.get() },
                installKey: { endpoint, password in
                    try await SSHSession.bootstrapWithPassword(endpoint, password: password, options: options, deadline: .seconds(60))
                },
                address: address)
            let env = try LabEnvironment.make(loaded, useCache: true)
            let services = env.services
            let selection: StageSelection
            switch try await BaseStages.start(services, force: force) {
            case .nothingToDo(let checkpoints):
                print("The base VM has \(checkpoints.joined(separator: " and ")) already: nothing to do (--force re-creates them).")
                return
            case .run(let s):
                selection = s
            }
            let stages = BaseStages.stages(services, hooks: hooks)
            let topology = env.topology
            let paths = env.paths
            let resume = labOptions.lab == "lab.json" ? "labctl base prepare" : "labctl base prepare --lab \(labOptions.lab)"
            _ = try await StageRunSupport.run(progress: progressOptions, sessions: services.sessions, resumeCommand: resume) { onEvent in
                try await LabRun.run(stages: stages, topology: topology, paths: paths, selection: selection, onEvent: onEvent)
            }
        }
    }
}

/// The lab user's password: from stdin (`--password-stdin`) or asked once on the terminal without
/// echo. Kept in memory only for this run; never logged.
actor PasswordSource {
    let fromStdin: Bool
    let user: String
    private var value: String?

    init(fromStdin: Bool, user: String) {
        self.fromStdin = fromStdin
        self.user = user
    }

    func readStdinNow() throws {
        guard let line = readLine(strippingNewline: true), !line.isEmpty else {
            throw LabError(.invalidInput, "--password-stdin: standard input has no password line",
                           hint: "pipe the password of \(user) in: printf '%s\\n' \"$PW\" | labctl base prepare --password-stdin")
        }
        value = line
    }

    func get() throws -> String {
        if let value { return value }
        if fromStdin { try readStdinNow(); return value ?? "" }
        let p = try Self.prompt("Password of \(user) on the base VM (asked once, not stored): ")
        value = p
        return p
    }

    /// Reads a line from /dev/tty with echo off (restored afterwards, also on error).
    static func prompt(_ text: String) throws -> String {
        let fd = open("/dev/tty", O_RDWR | O_NOCTTY)
        guard fd >= 0 else {
            throw LabError(.invalidInput, "the base VM needs the password of the lab user, and there is no terminal to ask on",
                           hint: "pass it on standard input: labctl base prepare --password-stdin")
        }
        defer { close(fd) }
        var old = termios()
        let haveTermios = tcgetattr(fd, &old) == 0
        if haveTermios {
            var quiet = old
            quiet.c_lflag &= ~tcflag_t(ECHO)
            quiet.c_lflag |= tcflag_t(ICANON)
            _ = tcsetattr(fd, TCSAFLUSH, &quiet)
        }
        defer { if haveTermios { var restore = old; _ = tcsetattr(fd, TCSAFLUSH, &restore) } }
        _ = text.withCString { write(fd, $0, strlen($0)) }
        var bytes: [UInt8] = []
        var c: UInt8 = 0
        while read(fd, &c, 1) == 1, c != UInt8(ascii: "\n"), bytes.count < 4096 { bytes.append(c) }
        _ = "\n".withCString { write(fd, $0, 1) }
        return String(decoding: bytes, as: UTF8.self)
    }
}
