import Foundation
import LabKit

/// The node stages of `labctl up` (seed 7.1-7.6): from the prepared base VM to running nodes with
/// their own identity and the `snapshot#2` checkpoint.
///
/// ```
/// base.check@lab ─▶ node.clone ─▶ node.start ─▶ node.identity ─▶ node.verify ─▶ node.checkpoint
///   (lab)           (base-vm)     (first-contact-address, static base only)
/// ```
///
/// Every action checks the real state first, so running it again after a kill never makes a
/// second VM or a second snapshot; nothing is deleted on failure.
public enum NodeStages {
    /// Stage ids; later groups depend on `checkpoint`.
    public enum ID {
        public static let baseCheck = "base.check"
        public static let clone = "node.clone"
        public static let start = "node.start"
        public static let identity = "node.identity"
        public static let verify = "node.verify"
        public static let checkpoint = "node.checkpoint"
    }

    /// Resources the engine serialises.
    public enum Resource {
        /// Clones are made one at a time from the base (no source says concurrent clones of one VM are safe, and a
        /// linked clone writes the base's .vmsd: docs/vmware-facts.md, "The .vmsd database and linked clones"). Only the vmrun `list` of the base, the `clone` and the VMX edit run under it.
        public static let baseVM = "base-vm"
        /// A base with a static address (seed 2.5) brings every clone up on that address: one at a time.
        public static let firstContactAddress = "first-contact-address"
    }

    public static func stages(_ s: LabServices) -> [Stage] {
        let ops = NodeOperations(services: s)
        let t = s.timeouts
        let staticBase = s.lab.base.address != nil
        let identityScript = StageScript.nodeIdentity.deadline
        return [
            Stage(id: ID.baseCheck, scope: .lab, deadline: t.vmrun * 2,
                  summary: "check the base VM: exists, powered off, checkpoints present once",
                  retry: RetryPolicy(attempts: 2),
                  probe: { ctx in await ops.baseCheckProbe(ctx) },
                  action: { ctx in try await ops.baseCheck(ctx) }),
            Stage(id: ID.clone, scope: .node, dependencies: [.init(ID.baseCheck, .lab)],
                  resources: [Resource.baseVM], deadline: t.vmrun * 3,
                  summary: "clone the node from the base checkpoint and apply its vmx-template",
                  retry: RetryPolicy(attempts: 2),
                  probe: { ctx in await ops.cloneProbe(ctx) },
                  action: { ctx in try await ops.clone(ctx) }),
            Stage(id: ID.start, scope: .node, dependencies: [.init(ID.clone)],
                  resources: staticBase ? [Resource.firstContactAddress] : [],
                  deadline: t.start + t.firstContact + (staticBase ? identityScript + t.firstContact : .zero),
                  summary: staticBase
                      ? "start the node and move it off the base's static address (one at a time)"
                      : "start the node and find it by its MAC (DHCP)",
                  retry: RetryPolicy(attempts: 2, retryOn: [.commandFailed]),
                  probe: { ctx in await ops.startProbe(ctx) },
                  action: { ctx in try await ops.start(ctx) }),
            Stage(id: ID.identity, scope: .node, dependencies: [.init(ID.start)],
                  deadline: identityScript + t.firstContact * 2,
                  summary: "hosts, hostname, machine-id, host keys, static address (seed 7.1-7.4)",
                  probe: { ctx in await ops.identityProbe(ctx) },
                  action: { ctx in try await ops.identity(ctx) }),
            Stage(id: ID.verify, scope: .node, dependencies: [.init(ID.identity)],
                  deadline: t.connect + .seconds(120),
                  summary: "check hostname, address, route, DNS, unique machine-id, new host key (seed 7.5)",
                  retry: RetryPolicy(attempts: 3, delay: .seconds(2), retryOn: [.connection]),
                  probe: { ctx in await ops.verifyProbe(ctx) },
                  action: { ctx in try await ops.verify(ctx) }),
            Stage(id: ID.checkpoint, scope: .node, dependencies: [.init(ID.verify)],
                  deadline: t.vmrun * 2,
                  summary: "take the \(s.lab.checkpoints.nodes) checkpoint (seed 7.6)",
                  retry: RetryPolicy(attempts: 2),
                  probe: { ctx in await ops.checkpointProbe(ctx) },
                  action: { ctx in try await ops.checkpoint(ctx) }),
        ]
    }
}
