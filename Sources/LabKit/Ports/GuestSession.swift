import Foundation

/// Where a guest is reached, and as whom.
public struct GuestEndpoint: Sendable, Hashable {
    /// The node's name, for errors, logs and the known_hosts pin.
    public var node: String
    public var host: String
    public var port: Int
    public var user: String

    public init(node: String, host: String, port: Int = 22, user: String) {
        self.node = node
        self.host = host
        self.port = port
        self.user = user
    }
}

/// A live connection to one guest. Every command opens its own channel.
///
/// Implementations report a dropped connection (for example when `netplan apply`
/// moves the guest to a new address) as `LabError.Code.connection`, distinct from a
/// command that ran and failed (`commandFailed` is for callers to decide on exit codes).
public protocol GuestSession: CommandRunner {
    var endpoint: GuestEndpoint { get }
    /// Writes `data` to `path` atomically (temporary file, then rename) with `mode`.
    func upload(_ data: Data, to path: String, mode: Int32) async throws
    func download(_ path: String) async throws -> Data
    func close() async
}

/// A session that can tell which host key its connection was made with.
public protocol HostKeyReporting: Sendable {
    /// The SHA256 fingerprint (`SHA256:…`) of the connection's host key.
    var hostKeyFingerprint: String { get async }
}

/// Opens sessions. The engine asks for one session per node and reuses it.
public protocol GuestConnector: Sendable {
    func connect(_ endpoint: GuestEndpoint, deadline: Duration) async throws -> any GuestSession
}
