import ArgumentParser
import Foundation
import GuestSSH
import LabKit
import LabStages

extension Labctl {
    struct Destroy: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "destroy",
            abstract: "Stop and delete the lab's VMs (all, one cluster or one node) and forget their state.",
            discussion: """
                Deletes only the lab's node VMs (under vmware.vmFolder, at <vmFolder>/<node>/<node>.vmx), \
                never the base VM or anything else. Also forgets the nodes' host-key pins, their stage \
                journal entries and their place in lab snapshots (their snapshots go with their VMs). The \
                mesh CA in .labctl/pki is kept. Without --yes it lists what will go and asks; without a \
                terminal it refuses. Re-running an interrupted destroy completes it.

                EXAMPLES:
                  labctl destroy cluster2                    Ask, then delete cluster2's VMs
                  labctl destroy cluster1-worker-node01 --yes
                  labctl destroy --yes                       The whole lab (the base VM stays)
                """
        )

        @Argument(help: ArgumentHelp("A node or cluster (default: the whole lab).", valueName: "node|cluster"))
        var target: String?

        @Flag(name: .long, help: "Do not ask.")
        var yes = false

        @OptionGroup var labOptions: LabOptions

        func run() async throws {
            let env = try LabEnvironment.make(try labOptions.load())
            let destroy = Self.destroyer(env)
            let scope = try env.services.machines.scope(named: target)
            let plan = try await destroy.plan(scope)
            guard yes || Self.confirm(plan) else {
                throw LabError(.cancelled, "nothing was destroyed", hint: "pass --yes to destroy without asking")
            }
            try await LabCommandSupport.locked(env.paths) { try await destroy.run(scope) }
            print("destroyed \(plan.items.count) VM(s) of \(scope.kind == .lab ? "the lab" : scope.name); "
                  + "forgot \(plan.journalEntries) journal entr\(plan.journalEntries == 1 ? "y" : "ies") and their host-key pins")
        }

        static func destroyer(_ env: LabEnvironment) -> LabDestroy {
            let knownHosts = KnownHosts(path: env.paths.knownHosts)
            return LabDestroy(hypervisor: env.services.hypervisor, machines: env.services.machines, paths: env.paths,
                              forgetPin: { endpoint in try knownHosts.remove(host: endpoint.host, port: endpoint.port) },
                              limits: env.services.snapshotLimits, progress: LabCommandSupport.progress)
        }

        static func describe(_ plan: DestroyPlan) -> String {
            var lines = ["This deletes:"]
            for i in plan.items {
                lines.append("  \(i.node) (\(i.cluster))  \(i.vm)\(i.exists ? "" : "  [already gone]")")
            }
            lines.append("and forgets \(plan.journalEntries) journal entries and the nodes' host-key pins.")
            if !plan.snapshots.isEmpty {
                lines.append("Lab snapshots that lose these nodes: \(plan.snapshots.joined(separator: ", ")).")
            }
            return lines.joined(separator: "\n")
        }

        /// Lists what goes and asks; refuses (false) without a terminal on stdin.
        static func confirm(_ plan: DestroyPlan) -> Bool {
            print(describe(plan))
            guard isatty(STDIN_FILENO) == 1 else {
                FileHandle.standardError.write(Data("error: not a terminal, so labctl cannot ask; nothing was destroyed (pass --yes)\n".utf8))
                return false
            }
            FileHandle.standardOutput.write(Data("Type yes to destroy: ".utf8))
            return readLine()?.trimmingCharacters(in: .whitespaces).lowercased() == "yes"
        }
    }
}
