import ArgumentParser
import Foundation
import LabKit
import LabStages

extension Labctl {
    struct Up: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "up",
            abstract: "Bring the lab up: from the prepared base VM to two Kubernetes clusters in one verified Istio mesh.",
            discussion: """
                Runs every stage of the lab in dependency order, in parallel where it can. It starts \
                from the base VM that `labctl base prepare` made (seed 2-6: key, swap, runtime, \
                Kubernetes packages, snapshot#1, Istio and k9s, snapshot#2):

                  nodes       check the base, clone each node, start it, give it its identity (hosts, \
                              hostname, machine-id, host keys, static address), verify it and take \
                              the nodes' checkpoint (seed 7)
                  kubernetes  per cluster kubeadm init, the workers' join, the CNI, every node Ready, \
                              MetalLB and its address pool, the DNS check and the Kubernetes \
                              checkpoint (seed 8-10); then the merged kubeconfig and its checkpoint \
                              (seed 11), whose KUBECONFIG line is printed at the end
                  CA          the lab's Istio root CA and an intermediate per cluster, and the check \
                              that both clusters trust the same root (seed 12)
                  istio       Istio multi-primary in each cluster's own context, the east-west \
                              gateways and the remote secrets both ways (seed 13)
                  mesh        the helloworld sample, the cross-cluster check until every version \
                              answered from both sides, and the last checkpoint (seed 14)

                `labctl plan` lists the stages and what would run now; docs/up.md, docs/stages.md \
                and docs/mesh.md describe each one.

                With a filled host cache (labctl cache fill, docs/cache.md) the files the scripts \
                download (the CNI and MetalLB manifests) are uploaded over SFTP instead; container \
                images still come from their registries.

                Before the first stage, up runs the checks of `labctl doctor` and stops when one \
                fails, naming each problem and what to do; `--skip-doctor` starts anyway.

                Safe to re-run: stages that are done (journal and a probe of the real system agree) \
                are skipped, so after a failure or a Ctrl-C `labctl up` continues where it stopped. \
                Nothing is destroyed on failure. A second labctl on the same lab is refused.

                EXAMPLES:
                  labctl base prepare                          Prepare the base VM once (seed 2-6)
                  labctl up                                    Bring ./lab.json's lab up, base to verified mesh
                  labctl up --lab labs/home.json --progress plain
                  labctl up --to node.checkpoint               Stop at the nodes' checkpoint (seed 7.6)
                  labctl up --to lab.kubeconfig-checkpoint     Kubernetes only, no mesh (seed 8-11)
                  labctl up --from node.identity               Re-run identity and what follows
                  labctl up --from cluster.istio-install       Re-install Istio and everything after it
                  labctl up --only node.verify@cluster1-ctrl-plane
                  labctl up --only lab.mesh-verify             Check cross-cluster traffic again (or: labctl verify)
                  labctl up --progress json | jq -c .          Events for tools
                """
        )

        @OptionGroup var labOptions: LabOptions
        @OptionGroup var progressOptions: ProgressOptions

        @Option(name: .long, help: ArgumentHelp("Re-run this stage (optionally @SCOPE) and everything after it.", valueName: "stage"))
        var from: String?

        @Option(name: .long, help: ArgumentHelp("Run only this stage (optionally @SCOPE); its dependencies must be done.", valueName: "stage"))
        var only: String?

        @Option(name: .long, help: ArgumentHelp("Stop after this stage (optionally @SCOPE): run it and what it needs, nothing after it.", valueName: "stage"))
        var to: String?

        @Flag(name: .long, help: "Do not run the preflight checks of `labctl doctor` first.")
        var skipDoctor = false

        func run() async throws {
            let loaded = try labOptions.load()
            if !skipDoctor, let problem = try await DoctorCommand.report(loaded).error { throw problem }
            let env = try LabEnvironment.make(loaded, useCache: true)
            let stages = StageCatalog.stages(env.services)
            let topology = env.topology
            let selection = try StageSelectionParsing.selection(from: from, only: only, to: to, stages: stages, topology: topology)
            let paths = env.paths
            _ = try await StageRunSupport.run(progress: progressOptions, sessions: env.services.sessions,
                                              resumeCommand: LabEnvironment.resumeCommand(labFile: labOptions.lab)) { onEvent in
                try await LabRun.run(stages: stages, topology: topology, paths: paths, selection: selection, onEvent: onEvent)
            }
            // Seed 11: how to use the merged kubeconfig from this machine (lab.kubeconfig wrote it).
            if FileManager.default.fileExists(atPath: paths.kubeconfig) {
                let line = "To use both clusters from this machine: \(KubeconfigCommand.exportLine(KubeconfigCommand.absolute(paths.kubeconfig)))\n"
                let json = progressOptions.resolved() == .json
                (json ? FileHandle.standardError : FileHandle.standardOutput).write(Data(line.utf8))
            }
        }
    }
}
