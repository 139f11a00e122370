import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import LabKit

/// The preflight checks of a lab on a VMware host (`labctl doctor`, and `up` before its first stage).
///
/// Everything host-specific comes from `platform` and the injected readers, so every host's checks
/// run in unit tests on Linux. A new check (for example the base's architecture, `uname -m`) is one
/// more `DoctorCheck` appended in `checks()`.
public struct VMwareDoctor: Sendable {
    public var lab: Lab
    public var platform: HostPlatform
    public var environment: [String: String]
    public var runner: any CommandRunner
    /// Prefix for the host's VMware files (tests point it at a fake host tree; "" on a real host).
    public var fileRoot: String
    /// The IPv4 addresses of this host's interfaces.
    public var localAddresses: @Sendable () -> [IPv4Address]
    /// The host's physical memory, or nil where labctl cannot see the memory the VMs use.
    public var hostMemory: UInt64?
    public var freeBytes: @Sendable (String) -> UInt64?

    public init(lab: Lab, platform: HostPlatform = .current, environment: [String: String] = ProcessInfo.processInfo.environment,
                runner: any CommandRunner = HostProcessRunner(), fileRoot: String = "",
                localAddresses: @escaping @Sendable () -> [IPv4Address] = LocalAddresses.ipv4,
                hostMemory: UInt64? = nil, freeBytes: @escaping @Sendable (String) -> UInt64? = HostChecks.freeBytes) {
        self.lab = lab
        self.platform = platform
        self.environment = environment
        self.runner = runner
        self.fileRoot = fileRoot
        self.localAddresses = localAddresses
        // WSL2 runs in its own VM: /proc/meminfo there is not the memory Windows gives VMware.
        self.hostMemory = hostMemory ?? (platform.kind == .wsl2 ? nil : ProcessInfo.processInfo.physicalMemory)
        self.freeBytes = freeBytes
    }

    /// Every check, in the order they are shown.
    public func checks(sshKeyPath: String) -> [DoctorCheck] {
        let nodes = lab.nodes
        return [
            vmrunCheck(), productCheck(), baseCheck(), networkFilesCheck(), reachabilityCheck(),
            HostChecks.freeDisk(folder: lab.vmware.vmFolder, required: diskEstimate(), why: diskReason, freeBytes: freeBytes),
            HostChecks.memory(requiredMiB: nodes.reduce(0) { $0 + $1.memoryMiB }, nodes: nodes.count, hostBytes: hostMemory,
                              unseenReason: "WSL2 sees only its own VM's memory, not what Windows has for VMware; compare the nodes' memoryMiB with Task Manager"),
            HostChecks.sshKey(path: sshKeyPath, labctlCreates: lab.ssh.privateKey == nil),
        ]
    }

    public func run(sshKeyPath: String) async -> DoctorReport {
        await Doctor.run(checks(sshKeyPath: sshKeyPath), host: platform.displayName)
    }

    // MARK: vmrun

    /// vmrun without arguments prints its usage with `vmrun version X.Y.Z build-N` and exits 255
    /// (GNS3 `gns3server/compute/vmware/__init__.py` check_vmrun_version parses the same line).
    func vmrunCheck() -> DoctorCheck {
        DoctorCheck(id: "vmrun", title: "vmrun", deadline: .seconds(30)) { [lab, platform, environment, runner] in
            let path: String
            do {
                path = try VmrunLocator.locate(override: lab.vmware.vmrun, product: lab.vmware.product, platform: platform, environment: environment)
            } catch let e as LabError {
                return DoctorFinding(.fail, e.message + (e.location.map { " (\($0))" } ?? ""), hint: e.hint)
            } catch {
                return DoctorFinding(.fail, "\(error)")
            }
            do {
                let result = try await runner.run(Command([path], deadline: .seconds(20)))
                let text = VmrunOutput(result.stdout).contentLines + VmrunOutput(result.stderr).contentLines
                guard let version = Self.version(text) else {
                    return DoctorFinding(.warn, "\(path) printed no \"vmrun version\" line", hint: "check that \(path) is VMware's vmrun")
                }
                return DoctorFinding(.pass, "\(path), version \(version)")
            } catch let e as LabError {
                return DoctorFinding(.fail, "\(path) did not run: \(e.message)", hint: e.hint ?? "reinstall VMware or fix vmware.vmrun in lab.json")
            } catch {
                return DoctorFinding(.fail, "\(path) did not run: \(error)")
            }
        }
    }

    /// `vmrun version 1.17.0 build-14665864` → `1.17.0 build-14665864`.
    static func version(_ lines: [String]) -> String? {
        lines.lazy.map { $0.trimmingCharacters(in: .whitespaces) }
            .first { $0.hasPrefix("vmrun version ") }
            .map { String($0.dropFirst("vmrun version ".count)) }
    }

    // MARK: product

    func productCheck() -> DoctorCheck {
        DoctorCheck(id: "product", title: "VMware product") { [lab, platform] in
            let product = lab.vmware.product
            switch (platform.kind, product) {
            case (.macos, .fusion), (.linux, .ws), (.wsl2, .ws):
                return DoctorFinding(.pass, "-T \(product.rawValue) on \(platform.displayName)")
            case (.macos, _):
                return DoctorFinding(.fail, "vmware.product is \(product.rawValue), but on macOS VMware is Fusion",
                                     hint: "set \"vmware\": {\"product\": \"fusion\"} in lab.json")
            case (_, .fusion):
                return DoctorFinding(.fail, "vmware.product is fusion, but Fusion runs only on macOS",
                                     hint: "set \"vmware\": {\"product\": \"ws\"} in lab.json")
            case (_, .player):
                return DoctorFinding(.warn, "VMware Player has no snapshots or linked clones (vmrun -T player)",
                                     hint: "use Workstation Pro (-T ws; free for personal use since 17.6.2) or vmware.cloneKind full")
            case (_, .ws):
                return DoctorFinding(.pass, "-T ws")
            }
        }
    }

    // MARK: base VM

    func baseCheck() -> DoctorCheck {
        DoctorCheck(id: "base", title: "Base VM and its checkpoints") { [lab, platform] in
            let vmx = lab.base.vmx
            guard FileManager.default.fileExists(atPath: vmx) else {
                return DoctorFinding(.fail, "\(vmx) does not exist (lab.json: base.vmx)",
                                     hint: "install the base VM as the guide's chapter 2 says, or fix base.vmx in lab.json")
            }
            if case .wsl2 = platform.kind, (try? platform.vmrunPath(vmx)) == nil {
                return DoctorFinding(.fail, "\(vmx) is not on a Windows drive, so VMware on Windows cannot open it",
                                     hint: "move the base VM under \(platform.wslMountRoot)c/ and update base.vmx")
            }
            let tree: SnapshotTree
            do {
                tree = try VMSD.load(forVMX: vmx).tree
            } catch {
                return DoctorFinding(.fail, "cannot read the snapshots of \(vmx): \(error)", hint: "open the VM in VMware once, or run labctl base prepare")
            }
            var missing: [String] = []
            var duplicate: [String] = []
            for name in [lab.base.workerCheckpoint, lab.base.controlPlaneCheckpoint] {
                switch tree.named(name).count {
                case 0: missing.append(name)
                case 1: break
                default: duplicate.append(name)
                }
            }
            if !missing.isEmpty {
                return DoctorFinding(.fail, "\(vmx) has no snapshot " + missing.joined(separator: ", "),
                                     hint: "run labctl base prepare (it takes \(lab.base.workerCheckpoint) and \(lab.base.controlPlaneCheckpoint))")
            }
            if !duplicate.isEmpty {
                return DoctorFinding(.fail, "\(vmx) has more than one snapshot named " + duplicate.joined(separator: ", "),
                                     hint: "rename or delete the duplicates in VMware's snapshot manager")
            }
            return DoctorFinding(.pass, "\(vmx) with \(lab.base.workerCheckpoint) and \(lab.base.controlPlaneCheckpoint)")
        }
    }

    // MARK: network

    /// The host's DHCP and NAT files for the lab's vmnet, as paths labctl can read.
    public var networkFiles: (natConf: String, dhcpdConf: String)? {
        if let windows = platform.windowsNetworkFiles { return windows }
        guard let layout = HostNetworkLayout(os: platform.networkOS, vmnet: lab.network.vmnet),
              let nat = layout.path(.natConf), let dhcp = layout.path(.dhcpdConf) else { return nil }
        return (nat, dhcp)
    }

    func networkFilesCheck() -> DoctorCheck {
        DoctorCheck(id: "vmnet", title: "\(lab.network.vmnet) matches the lab's network") { [lab, platform, fileRoot, networkFiles] in
            let fix = platform.kind == .wsl2
                ? "compare with labctl net show; labctl net apply prints the vnetlib commands to run as Administrator"
                : "compare with labctl net show, then run labctl net apply as root"
            guard let files = networkFiles else { return DoctorFinding(.unsupported, "no VMware network files on this host") }
            let plan: HostNetworkPlan
            do { plan = try HostNetworkPlan(lab: lab) } catch {
                return DoctorFinding(.fail, "\(error)", hint: "fix network.vmnet in lab.json")
            }
            guard let dhcpText = try? String(contentsOfFile: fileRoot + files.dhcpdConf, encoding: .utf8) else {
                return DoctorFinding(.warn, "cannot read \(files.dhcpdConf); labctl cannot confirm the DHCP range and reservations",
                                     hint: "install VMware (it writes this file when its networking starts), then " + fix)
            }
            var problems: [String] = []
            do {
                let conf = try DHCPDConf.parse(dhcpText, file: files.dhcpdConf)
                problems += Self.compare(conf, plan)
            } catch {
                return DoctorFinding(.fail, "\(files.dhcpdConf) cannot be read as a dhcpd.conf: \(error)", hint: fix)
            }
            if let natText = try? String(contentsOfFile: fileRoot + files.natConf, encoding: .utf8),
               let nat = try? NATConf.parse(natText, file: files.natConf),
               let ip = nat.value("host", "ip") {
                // Some versions write `ip = x.x.x.2/24` (docs/hosts.md).
                let gateway = ip.split(separator: "/").first.map(String.init) ?? ip
                if gateway != plan.gateway.description { problems.append("\(files.natConf) has NAT gateway \(gateway), the lab wants \(plan.gateway)") }
            }
            return problems.isEmpty
                ? DoctorFinding(.pass, "\(files.dhcpdConf) serves \(plan.subnet) with the lab's range and \(plan.reservations.count) reservations")
                : DoctorFinding(.fail, problems.joined(separator: "; "), hint: fix)
        }
    }

    static func compare(_ conf: DHCPDConf, _ plan: HostNetworkPlan) -> [String] {
        var problems: [String] = []
        if conf.subnet != plan.subnet.network || conf.netmask != plan.subnet.netmask {
            problems.append("the DHCP subnet is \(conf.subnet.map(\.description) ?? "missing")/\(conf.netmask.map(\.description) ?? "?"), the lab wants \(plan.subnet)")
        }
        if conf.range != plan.dhcp {
            problems.append("the DHCP range is \(conf.range.map(\.description) ?? "missing"), the lab wants \(plan.dhcp)")
        }
        let reserved = Dictionary(conf.hosts.compactMap { h in h.mac.map { ($0, h.address) } }, uniquingKeysWith: { a, _ in a })
        let wrong = plan.reservations.filter { reserved[$0.mac] != .some($0.address) }.map(\.name)
        if !wrong.isEmpty { problems.append("no reservation for " + wrong.joined(separator: ", ")) }
        return problems
    }

    /// labctl reaches the guests over the host's adapter on the lab subnet; without it no packet
    /// reaches them. Checked by looking at the interfaces only: nothing is sent.
    func reachabilityCheck() -> DoctorCheck {
        DoctorCheck(id: "reach", title: "Route to the lab subnet") { [lab, platform, localAddresses] in
            let net = lab.network
            let mine = localAddresses().filter { net.subnet.contains($0) }
            if mine.contains(net.hostAddress) {
                return DoctorFinding(.pass, "this host has \(net.hostAddress) on \(net.subnet)")
            }
            if let other = mine.first {
                return DoctorFinding(.warn, "this host has \(other) on \(net.subnet), not the lab's host address \(net.hostAddress)",
                                     hint: "set network.hostAddress in lab.json to \(other), or run labctl net apply")
            }
            switch platform.kind {
            case .wsl2:
                // WSL2's default NAT mode puts the distribution behind its own virtual switch; VMware's VMnet8
                // subnet is not routed there. Mirrored mode shows Windows' adapters (VMnet8 too) inside WSL
                // (https://learn.microsoft.com/windows/wsl/networking, MicrosoftDocs/WSL#1995; microsoft/WSL#11494
                // is the same problem with Hyper-V's switch).
                return DoctorFinding(.fail, "WSL2 cannot reach \(net.subnet): Windows' VMnet8 adapter (\(net.hostAddress)) is not visible here, so WSL2 runs in NAT networking mode",
                                     hint: "on Windows 11 22H2 or later put networkingMode=mirrored under [wsl2] in %UserProfile%\\.wslconfig, run wsl --shutdown and start WSL again")
            case .macos:
                return DoctorFinding(.fail, "no interface has \(net.hostAddress) (the host's vmnet8 address)",
                                     hint: "run labctl net apply with sudo, or start Fusion's networking: sudo \"/Applications/VMware Fusion.app/Contents/Library/vmnet-cli\" --start")
            case .linux:
                return DoctorFinding(.fail, "no interface has \(net.hostAddress) (the host's vmnet8 address)",
                                     hint: "run sudo labctl net apply, or start VMware's networking: sudo vmware-networks --start")
            }
        }
    }

    // MARK: disk

    /// Linked clones grow by what the node stages write (images, packages): 4 GiB each is a margin.
    /// Full clones copy the base's disks.
    func diskEstimate() -> UInt64 {
        let n = UInt64(lab.nodes.count)
        let gib: UInt64 = 1_073_741_824
        guard lab.vmware.cloneKind == .full else { return n * 4 * gib }
        return n * (baseDiskBytes() + gib)
    }

    var diskReason: String {
        lab.vmware.cloneKind == .full ? "\(lab.nodes.count) full clones of the base's disks" : "\(lab.nodes.count) linked clones, 4 GiB each"
    }

    func baseDiskBytes() -> UInt64 {
        let dir = (lab.base.vmx as NSString).deletingLastPathComponent
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
        return names.filter { $0.lowercased().hasSuffix(".vmdk") }.reduce(0) { sum, name in
            let size = (try? FileManager.default.attributesOfItem(atPath: (dir as NSString).appendingPathComponent(name)))?[.size] as? NSNumber
            return sum + (size?.uint64Value ?? 0)
        }
    }
}

/// The IPv4 addresses of this host's interfaces (getifaddrs).
public enum LocalAddresses {
    @Sendable public static func ipv4() -> [IPv4Address] {
        var head: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&head) == 0 else { return [] }
        defer { freeifaddrs(head) }
        var out: [IPv4Address] = []
        var cursor = head
        while let entry = cursor {
            if let sa = entry.pointee.ifa_addr, sa.pointee.sa_family == sa_family_t(AF_INET) {
                let raw = sa.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee.sin_addr.s_addr }
                out.append(IPv4Address(UInt32(bigEndian: raw)))
            }
            cursor = entry.pointee.ifa_next
        }
        return out
    }
}
