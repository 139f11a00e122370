import Foundation
import LabKit

/// Where VMware keeps the NAT network's files on a host, and how networking is restarted.
public struct HostNetworkLayout: Sendable, Hashable {
    public enum FileKind: String, Sendable, Hashable {
        case networking, natConf = "nat.conf", dhcpdConf = "dhcpd.conf"
    }
    public struct File: Sendable, Hashable {
        public var kind: FileKind
        /// Absolute path on the host (joined to `--root` by the applier).
        public var path: String
    }

    public var os: VMwareHostOS
    public var files: [File]
    /// The commands that restart VMware networking after the files changed, in order.
    public var restart: [[String]]

    public init?(os: VMwareHostOS, vmnet: String) {
        self.os = os
        switch os {
        case .linux:
            // Paths: Vagrant `vmware_paths_linux.go`, Packer `driver_workstation_unix.go`.
            files = [
                File(kind: .networking, path: "/etc/vmware/networking"),
                File(kind: .natConf, path: "/etc/vmware/\(vmnet)/nat/nat.conf"),
                File(kind: .dhcpdConf, path: "/etc/vmware/\(vmnet)/dhcpd/dhcpd.conf"),
            ]
            // `vmware-networks --stop` / `--start` (Vagrant `vmnet_cli.go`). Not `--migrate-network-settings`:
            // it regenerates nat.conf and dhcpd.conf from `networking`, and whether it keeps reservations
            // on Linux is unverified (DHCP_CFG_HASH; docs/vmware-driver.md, "Host network files"); labctl writes all three files itself.
            restart = [["/usr/bin/vmware-networks", "--stop"], ["/usr/bin/vmware-networks", "--start"]]
        case .macos:
            // Paths: Vagrant `vmware_paths_darwin.go`, Packer `driver_fusion.go`.
            let prefs = "/Library/Preferences/VMware Fusion"
            files = [
                File(kind: .networking, path: "\(prefs)/networking"),
                File(kind: .natConf, path: "\(prefs)/\(vmnet)/nat.conf"),
                File(kind: .dhcpdConf, path: "\(prefs)/\(vmnet)/dhcpd.conf"),
            ]
            // `vmnet-cli --stop` then `--start`, as the vWLC how-to does after editing dhcpd.conf (docs/vmware-driver.md, "Host network files").
            // Not `--configure`: it regenerates both files from `networking` (VVD vmnet_cli.go).
            let cli = "/Applications/VMware Fusion.app/Contents/Library/vmnet-cli"
            restart = [[cli, "--stop"], [cli, "--start"]]
        case .windows:
            return nil
        }
    }

    public func path(_ kind: FileKind) -> String? { files.first { $0.kind == kind }?.path }
}

/// One host file as the lab wants it.
public struct RenderedHostFile: Sendable, Hashable {
    public var kind: HostNetworkLayout.FileKind
    public var path: String
    public var content: String
}

public enum HostNetworkRenderer {
    /// The files the lab needs on `os` (Linux or macOS). With the current files'
    /// text (keyed by kind), each is edited in place: only the lab's settings change.
    public static func files(_ plan: HostNetworkPlan, os: VMwareHostOS, current: [HostNetworkLayout.FileKind: (path: String, text: String)] = [:],
                             writtenAt: Date) throws -> [RenderedHostFile] {
        guard let layout = HostNetworkLayout(os: os, vmnet: plan.vmnet) else {
            throw LabError(.unsupported, "VMware on \(os.displayName) is configured with commands, not files", hint: "run labctl net show --host windows")
        }
        var out: [RenderedHostFile] = []
        for file in layout.files {
            let cur = current[file.kind]
            let content: String
            switch file.kind {
            case .networking:
                let base = try cur.map { try NetworkingFile.parse($0.text, file: $0.path) }
                content = try (base?.merging(plan) ?? NetworkingFile.fresh(plan)).render()
            case .natConf:
                // An existing file is edited in place (HostFileEdits.swift); a missing one is rendered.
                content = try cur.map { try NATConf.edit($0.text, plan: plan, os: os, file: $0.path) } ?? NATConf.render(plan, os: os)
            case .dhcpdConf:
                content = try cur.map { try DHCPDConf.edit($0.text, plan: plan, writtenAt: writtenAt, file: $0.path) }
                    ?? DHCPDConf.render(plan, writtenAt: writtenAt)
            }
            out.append(RenderedHostFile(kind: file.kind, path: file.path, content: content))
        }
        return out
    }
}
