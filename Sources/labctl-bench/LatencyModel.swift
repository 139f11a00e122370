import Foundation

/// The fake vmrun's latency model (Tests/Testbed/README.md, "Latency model"), read by the benchmark to
/// compute the ideal it prints next to what it measured. The fake validates the file itself on every call.
struct LatencyModel: Decodable {
    var commands: [String: Double] = [:]
    var defaultSeconds: Double = 0
    var bootSeconds: Double = 0
    /// Where it was read from (passed to the fake vmrun as LABCTL_FAKE_VMRUN_LATENCY).
    var path = ""

    enum CodingKeys: String, CodingKey { case commands, defaultSeconds, bootSeconds }

    init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        commands = try c.decodeIfPresent([String: Double].self, forKey: .commands) ?? [:]
        defaultSeconds = try c.decodeIfPresent(Double.self, forKey: .defaultSeconds) ?? 0
        bootSeconds = try c.decodeIfPresent(Double.self, forKey: .bootSeconds) ?? 0
    }

    struct Invalid: Error, CustomStringConvertible { var description: String }

    static func load(_ file: String) throws -> LatencyModel {
        let url = URL(fileURLWithPath: file).standardizedFileURL
        do {
            var model = try JSONDecoder().decode(LatencyModel.self, from: Data(contentsOf: url))
            model.path = url.path
            return model
        } catch {
            throw Invalid(description: "cannot read the latency model \(url.path): \(error)")
        }
    }

    /// The delay of one vmrun call (`clone.linked` / `clone.full` for clones).
    func delay(_ command: String) -> Double { commands[command] ?? defaultSeconds }

    /// What `up --to node.checkpoint` of `nodes` nodes from a DHCP base cannot go below under this model,
    /// counting only the vmrun calls labctl must make and the boot:
    /// base.check (`list`), then per node under base-vm `list` + linked `clone`, one after the other, then
    /// the last node's path: `start`, its boot (`getGuestIPAddress -wait` waits for it), and its checkpoint
    /// (`list` for the power state recorded in the manifest, `snapshot`). labctl's SSH work and the guests'
    /// own scripts are not in it: they are what the measured time adds.
    func idealUp(nodes: Int) -> Double {
        let clones = Double(nodes) * (delay("list") + delay("clone.linked"))
        let path = delay("start") + max(bootSeconds, delay("getGuestIPAddress")) + delay("list") + delay("snapshot")
        return delay("list") + clones + path
    }

    var summary: String {
        String(format: "boot %.1f s; list %.2f s, clone (linked) %.2f s, start %.2f s, getGuestIPAddress %.2f s, snapshot %.2f s, revertToSnapshot %.2f s",
               bootSeconds, delay("list"), delay("clone.linked"), delay("start"), delay("getGuestIPAddress"), delay("snapshot"),
               delay("revertToSnapshot"))
    }
}
