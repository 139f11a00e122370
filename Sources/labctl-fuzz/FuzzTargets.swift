import Foundation
import GuestSSH
import LabKit
import LabStages
import VMwareDriver

/// One fuzz target: a parser of input labctl reads from outside (a user's file, VMware's files,
/// vmrun's output, a guest's kubeconfig, labctl's own state files after a crash or a hand edit).
/// `run` feeds it one input the way labctl reads that input, and then uses what came out the way
/// labctl does, so a crash, hang or unbounded allocation anywhere on that path is found.
/// A thrown error is a correct answer to bad input; only crashes, hangs and memory count.
struct FuzzTarget: Sendable {
    var name: String
    /// What labctl reads this from, for `labctl-fuzz --list` and docs/robustness.md.
    var input: String
    var run: @Sendable (Data) -> Void
}

enum FuzzTargets {
    static let all: [FuzzTarget] = [
        FuzzTarget(name: "lab-json", input: "lab.json (LabLoader.check: JSON, decoding, validation)") { data in
            _ = try? LabLoader.check(data, source: "lab.json")
        },
        FuzzTarget(name: "vmx", input: "a .vmx file (VMXDocument, in its declared character set)") { data in
            guard let doc = try? VMXDocument.parse(data, source: "fuzz.vmx") else { return }
            _ = doc.keys(withPrefix: "ethernet0")
            _ = doc.bool("uuid.action")
            _ = try? doc.encoded(source: "fuzz.vmx")
        },
        FuzzTarget(name: "vmsd", input: "a .vmsd snapshot database (VMSD over VMXDocument)") { data in
            guard let doc = try? VMXDocument.parse(data, source: "fuzz.vmsd"),
                  let vmsd = try? VMSD.parse(doc, source: "fuzz.vmsd") else { return }
            for snapshot in vmsd.tree.snapshots {
                _ = vmsd.tree.path(to: snapshot.uid)
                _ = try? vmsd.tree.vmrunName(for: snapshot, vm: "fuzz.vmx")
            }
        },
        FuzzTarget(name: "leases", input: "DHCP leases: ISC dhcpd.leases (Linux, Windows) or macOS bootpd") { data in
            let file = LeaseFile.parse(String(decoding: data, as: UTF8.self), source: "fuzz.leases")
            for lease in file.leases { _ = file.lookup(lease.mac, at: Date(timeIntervalSince1970: 1_700_000_000)) }
        },
        FuzzTarget(name: "nat-conf", input: "VMware's nat.conf (vmnet8/nat.conf, vmnetnat.conf)") { data in
            guard let conf = try? NATConf.parse(String(decoding: data, as: UTF8.self), file: "nat.conf") else { return }
            _ = conf.value("host", "ip")
            _ = conf.portForwards("incomingtcp")
            _ = conf.portForwards("incomingudp")
        },
        FuzzTarget(name: "dhcpd-conf", input: "VMware's dhcpd.conf (vmnet8/dhcpd/dhcpd.conf, vmnetdhcp.conf)") { data in
            _ = try? DHCPDConf.parse(String(decoding: data, as: UTF8.self), file: "dhcpd.conf")
        },
        FuzzTarget(name: "networking", input: "VMware's networking file (/etc/vmware/networking, Fusion's)") { data in
            guard let file = try? NetworkingFile.parse(String(decoding: data, as: UTF8.self), file: "networking") else { return }
            _ = file.answer("VNET_8_HOSTONLY_SUBNET")
            _ = file.reservations(vnet: 8)
            _ = try? file.render()
        },
        FuzzTarget(name: "vmrun-output", input: "vmrun's stdout and error text (list, listSnapshots, Error: lines)") { data in
            let output = VmrunOutput(data)
            _ = try? output.runningVMs(command: ["vmrun", "list"])
            _ = try? output.snapshotNames(command: ["vmrun", "listSnapshots"])
            _ = output.contentLines
            if let message = output.errorMessage { _ = VmrunError.classify(message) }
        },
        FuzzTarget(name: "vmware-log", input: "the tail of vmware.log (Msg_Post errors for a cancelled operation)") { data in
            _ = VMwareLog.messagePostErrors(text: String(decoding: data.suffix(1 << 20), as: UTF8.self))
        },
        FuzzTarget(name: "known-hosts", input: "the lab's known_hosts (plain and hashed host names)") { data in
            guard let text = String(data: data, encoding: .utf8) else { return }
            for line in text.split(separator: "\n") {
                guard let entry = KnownHosts.parse(String(line)) else { continue }
                _ = entry.matches("[10.213.0.10]:22")
                _ = entry.fingerprint
            }
        },
        FuzzTarget(name: "kubeconfig", input: "a cluster's admin.conf, the kubeconfig merge's input (YAML)") { data in
            _ = try? KubeconfigMerge.merge(entries: [
                KubeconfigMerge.Entry(cluster: "cluster1", adminConf: String(decoding: data, as: UTF8.self), server: "https://10.213.0.10:6443"),
            ])
        },
        FuzzTarget(name: "journal", input: "the stage journal (.labctl/journal.json)") { data in
            guard let journal = try? JournalState.decode(data, path: "journal.json") else { return }
            _ = journal.position
        },
        FuzzTarget(name: "snapshot-manifest", input: "a lab snapshot manifest (.labctl/snapshots/NAME.json)") { data in
            guard let manifest = try? LabSnapshotManifest.decode(data, path: "snapshot.json") else { return }
            for node in manifest.nodes { _ = manifest.node(node.node) }
        },
    ]

    static func named(_ name: String) -> FuzzTarget? { all.first { $0.name == name } }
}
