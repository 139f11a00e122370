import Foundation
import LabKit

/// Where labctl runs and which VMware it drives, as a runtime value chosen once at startup.
///
/// Every host decision about paths and file formats reads this value instead of `#if os(...)`,
/// so the paths and files of every host are unit-tested on Linux (docs/hosts.md).
public struct HostPlatform: Sendable, Hashable {
    public enum Kind: String, Sendable, Hashable, CaseIterable, Codable {
        /// VMware Workstation on Linux.
        case linux
        /// VMware Fusion on macOS.
        case macos
        /// labctl inside WSL2 driving `vmrun.exe` of VMware Workstation on Windows through WSL interop.
        case wsl2
    }

    public var kind: Kind
    /// WSL's automount root (`/mnt/` unless `/etc/wsl.conf` [automount] root says otherwise).
    public var wslMountRoot: String

    public init(kind: Kind, wslMountRoot: String = "/mnt/") {
        self.kind = kind
        self.wslMountRoot = wslMountRoot.hasSuffix("/") ? wslMountRoot : wslMountRoot + "/"
    }

    public static let linux = HostPlatform(kind: .linux)
    public static let macos = HostPlatform(kind: .macos)
    public static let wsl2 = HostPlatform(kind: .wsl2)

    /// The platform of this process, detected once.
    public static let current: HostPlatform = detect()

    /// Detects the host. macOS is a compile-time fact (Foundation runs on Darwin only there); WSL is
    /// detected at runtime, because a WSL distribution runs a Linux kernel. No single sign is reliable
    /// (sindresorhus/is-wsl#13), so any one of these counts:
    /// - `WSL_DISTRO_NAME`, set by WSL's init (microsoft/WSL#4479); a sanitised environment (sudo) loses it,
    /// - `/proc/sys/fs/binfmt_misc/WSLInterop`, registered by WSL's /init (microsoft/WSL#423), named
    ///   `WSLInterop-late` when systemd is enabled (antonbabenko/pre-commit-terraform#871),
    /// - "microsoft" in the kernel release (microsoft/WSL#4071, microsoft/WSL#423); a custom kernel may lack it.
    /// WSL1 matches too and is treated like WSL2.
    public static func detect(environment: [String: String] = ProcessInfo.processInfo.environment,
                              isDarwin: Bool = HostPlatform.compiledForDarwin,
                              fileExists: (String) -> Bool = { FileManager.default.fileExists(atPath: $0) },
                              readFile: (String) -> String? = { try? String(contentsOfFile: $0, encoding: .utf8) }) -> HostPlatform {
        if isDarwin { return .macos }
        let marker = ["/proc/sys/fs/binfmt_misc/WSLInterop", "/proc/sys/fs/binfmt_misc/WSLInterop-late"].contains(where: fileExists)
        let kernel = (readFile("/proc/sys/kernel/osrelease") ?? readFile("/proc/version") ?? "").lowercased()
        guard environment["WSL_DISTRO_NAME"] != nil || marker || kernel.contains("microsoft") else { return .linux }
        return HostPlatform(kind: .wsl2, wslMountRoot: readFile("/etc/wsl.conf").flatMap(automountRoot) ?? "/mnt/")
    }

    public static var compiledForDarwin: Bool {
        #if os(macOS)
        return true
        #else
        return false
        #endif
    }

    /// `root = /x/` in the `[automount]` section of /etc/wsl.conf
    /// (https://learn.microsoft.com/windows/wsl/wsl-config#automount-settings).
    static func automountRoot(_ text: String) -> String? {
        var section = ""
        for raw in text.split(whereSeparator: \.isNewline) {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.hasPrefix("[") { section = line.lowercased(); continue }
            guard section == "[automount]", let eq = line.firstIndex(of: "=") else { continue }
            guard line[..<eq].trimmingCharacters(in: .whitespaces).lowercased() == "root" else { continue }
            let value = line[line.index(after: eq)...].trimmingCharacters(in: .whitespaces).trimmingCharacters(in: CharacterSet(charactersIn: "\"'"))
            return value.isEmpty ? nil : value
        }
        return nil
    }

    /// The OS whose VMware network files and commands apply (`labctl net show/apply`).
    public var networkOS: VMwareHostOS {
        switch kind {
        case .linux: return .linux
        case .macos: return .macos
        case .wsl2: return .windows
        }
    }

    public var displayName: String {
        switch kind {
        case .linux: return "Linux (VMware Workstation)"
        case .macos: return "macOS (VMware Fusion)"
        case .wsl2: return "WSL2 on Windows (VMware Workstation through vmrun.exe)"
        }
    }

    /// The product labctl expects on this host when lab.json does not say.
    public var defaultProduct: VMwareProduct { kind == .macos ? .fusion : .ws }

    /// vmrun's default install locations, as paths labctl can execute.
    public var vmrunPaths: [String] {
        switch kind {
        case .linux:
            // Workstation on Linux: VVD hard-codes /usr/bin/vmrun.
            return ["/usr/bin/vmrun"]
        case .macos:
            // Fusion: VVD/PKR/GNS3 use Contents/Library; newer Fusion also has the Contents/Public symlink (GLF).
            return ["/Applications/VMware Fusion.app/Contents/Library/vmrun", "/Applications/VMware Fusion.app/Contents/Public/vmrun"]
        case .wsl2:
            // Workstation's installer uses Program Files (x86) up to 16.x and Program Files from 17 (Packer
            // driver_workstation_windows.go reads the install path from the registry; these are its defaults).
            return [#"C:\Program Files (x86)\VMware\VMware Workstation\vmrun.exe"#, #"C:\Program Files\VMware\VMware Workstation\vmrun.exe"#]
                .compactMap { try? linuxPath($0) }
        }
    }

    /// The NAT network's DHCP lease files, as paths labctl can read (Packer driver_workstation_unix.go, driver_fusion.go; docs/hosts.md).
    public func leaseFiles(vmnet: String = "vmnet8") -> [String] {
        switch kind {
        case .linux:
            // The Linux name has varied, so Packer probes several.
            return ["/etc/vmware/\(vmnet)/dhcpd/dhcpd.leases", "/etc/vmware/\(vmnet)/dhcpd/dhcp.leases",
                    "/var/lib/vmware/\(vmnet).leases", "/etc/vmware/\(vmnet).leases"]
        case .macos:
            // Fusion before 12 runs VMware's dhcpd; Fusion 12 on Big Sur uses Apple's bootpd (Packer driver_fusion.go; docs/vmware-driver.md).
            return ["/var/db/vmware/\(vmnet).leases", "/var/db/dhcpd_leases"]
        case .wsl2:
            // Windows keeps one ISC lease file for VMnet8 (Packer driver_workstation_windows.go, workstationDhcpLeasesPath).
            return [wslMountRoot + "c/ProgramData/VMware/vmnetdhcp.leases"]
        }
    }

    /// Windows VMware's NAT and DHCP configuration files (Packer driver_workstation_windows.go), readable from WSL.
    public var windowsNetworkFiles: (natConf: String, dhcpdConf: String)? {
        guard kind == .wsl2 else { return nil }
        let dir = wslMountRoot + "c/ProgramData/VMware/"
        return (dir + "vmnetnat.conf", dir + "vmnetdhcp.conf")
    }

    /// Paths compare case-insensitively on macOS's default filesystem (VVD read_state) and on NTFS.
    public func lockKey(_ path: String) -> String {
        kind == .linux ? path : path.lowercased()
    }

    /// The path vmrun is given for a file labctl names. On WSL2 the Windows vmrun.exe gets a Windows path;
    /// a path outside the Windows drives is refused: Windows VMware would have to open it through the
    /// `\\wsl$` share, which exists only while the distribution runs (docs/hosts.md; not verified against
    /// a real Workstation here).
    public func vmrunPath(_ path: String) throws -> String {
        guard kind == .wsl2 else { return path }
        guard let rest = path.hasPrefix(wslMountRoot) ? path.dropFirst(wslMountRoot.count) : nil,
              let drive = rest.first, drive.isASCII, drive.isLetter, rest.dropFirst().isEmpty || rest.dropFirst().hasPrefix("/") else {
            throw LabError(.invalidInput, "\(path) is not on a Windows drive, so VMware Workstation on Windows cannot use it",
                           location: .file(path),
                           hint: "keep VMs on a Windows drive: set vmware.vmFolder and base.vmx in lab.json to paths under \(wslMountRoot)c/ (for example \(wslMountRoot)c/Users/<you>/vmware/labctl)")
        }
        let tail = rest.dropFirst().drop { $0 == "/" }
        return "\(drive.uppercased()):\\" + tail.replacingOccurrences(of: "/", with: "\\")
    }

    /// The path labctl uses for a path vmrun printed (`vmrun list` on Windows prints `C:\...`);
    /// the rules of `wslpath -u` (https://learn.microsoft.com/windows/wsl/filesystems).
    public func localPath(_ path: String) throws -> String {
        guard kind == .wsl2 else { return path }
        return try linuxPath(path)
    }

    private func linuxPath(_ path: String) throws -> String {
        let chars = Array(path)
        guard chars.count >= 2, chars[0].isASCII, chars[0].isLetter, chars[1] == ":" else {
            throw LabError(.invalidInput, "\(path) is not a Windows drive path", location: .file(path),
                           hint: "VMware on Windows should print paths like C:\\Users\\...; keep VMs on a Windows drive")
        }
        let tail = String(chars.dropFirst(2)).replacingOccurrences(of: "\\", with: "/").drop { $0 == "/" }
        return wslMountRoot + chars[0].lowercased() + (tail.isEmpty ? "" : "/" + tail)
    }
}
