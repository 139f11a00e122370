import Foundation

// Ports the stages use besides `Hypervisor` and `GuestConnector`. Adapters: `VMwareNodeConfigurator`
// (VMwareDriver), `SSHHostKeyPins` and `TCPPortProbe` (GuestSSH); doubles in Tests/LabTestSupport.

/// Applies a node's vmx-template to its (powered-off) VM and tells whether it is applied.
public protocol NodeVMConfigurator: Sendable {
    func applyTemplate(to vm: VMReference, node: NodeSpec) async throws
    /// The same for a VM that `Hypervisor.clone` has just made (powered off): the implementation may skip
    /// asking the hypervisor whether it runs.
    func applyTemplate(toNewClone vm: VMReference, node: NodeSpec) async throws
    /// True when every setting the template renders is present in the VM's configuration.
    func isConfigured(_ vm: VMReference, node: NodeSpec) async throws -> Bool
}

/// known_hosts pins of the lab's guests (GuestSSH's `SSHHostKeyPins` over `SSHConnector`).
public protocol HostKeyPinning: Sendable {
    /// Drops the pin for the endpoint and records the key it offers now; returns its fingerprint.
    @discardableResult
    func replacePin(for endpoint: GuestEndpoint, deadline: Duration) async throws -> String
    /// Drops the pin for the endpoint so that the next connection of the lab's connector records the key
    /// the node offers (trust on first use). Returns false when this pinning cannot do that on its own
    /// (then callers use `replacePin`).
    func forgetPin(for endpoint: GuestEndpoint) throws -> Bool
}

extension NodeVMConfigurator {
    public func applyTemplate(toNewClone vm: VMReference, node: NodeSpec) async throws {
        try await applyTemplate(to: vm, node: node)
    }
}

extension HostKeyPinning {
    public func forgetPin(for endpoint: GuestEndpoint) throws -> Bool { false }
}

/// Whether a TCP port answers, with a short deadline: `status`' "SSH reachable", the stages'
/// "has the node moved to its static address yet?". Never throws: unreachable is `false`.
public protocol PortProbe: Sendable {
    func isOpen(host: String, port: Int, timeout: Duration) async -> Bool
}
