import Foundation
import Testing
import LabKit
@testable import VMwareDriver

@Suite("vmx-templates")
struct VMXTemplateTests {
    static let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    func lab(vmnet: String = "vmnet8", nodeName: String = "cluster1-ctrl-plane", memory: Int = 4096) throws -> Lab {
        let subnet = try #require(IPv4Network("10.213.64.0/24"))
        let node = NodeSpec(name: nodeName, role: .controlPlane, address: try #require(IPv4Address("10.213.64.11")), cpus: 2,
                            memoryMiB: memory, mac: try #require(MACAddress("00:50:56:3a:00:01")), template: "control-plane")
        let worker = NodeSpec(name: "cluster1-worker-node01", role: .worker, address: try #require(IPv4Address("10.213.64.12")),
                              cpus: 4, memoryMiB: 8192, mac: try #require(MACAddress("00:50:56:3a:00:02")), template: "worker")
        return Lab(name: "lab1", profile: "current",
                   network: NetworkSpec(vmnet: vmnet, subnet: subnet, gateway: subnet.host(2), hostAddress: subnet.host(1),
                                        dns: [subnet.host(2)], dhcp: IPv4Range(subnet.host(128), subnet.host(254))),
                   base: BaseSpec(name: "base", vmx: "/vms/base/base.vmx", address: nil), mesh: MeshSpec(id: "mesh1"),
                   clusters: [ClusterSpec(name: "cluster1", network: "network1", podSubnet: try #require(IPv4Network("10.32.0.0/12")),
                                          serviceSubnet: try #require(IPv4Network("10.96.0.0/12")), metallb: [], nodes: [node, worker])],
                   ssh: SSHSpec(user: "hung"))
    }

    @Test func embeddedCopiesEqualTheFiles() throws {
        let dir = Self.repoRoot.appendingPathComponent("vmx-templates")
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".vmx.mustache") }
        #expect(Set(files.map { String($0.dropLast(".vmx.mustache".count)) }) == Set(EmbeddedVMXTemplates.all.keys),
                "run scripts/embed-vmx-templates")
        for file in files {
            let text = try String(contentsOf: dir.appendingPathComponent(file), encoding: .utf8)
            #expect(EmbeddedVMXTemplates.all[String(file.dropLast(".vmx.mustache".count))] == text,
                    "\(file) differs from its embedded copy: run scripts/embed-vmx-templates")
        }
    }

    @Test func controlPlaneTemplateRendersTheNodeSettings() throws {
        let lab = try lab()
        let node = try #require(lab.node(named: "cluster1-ctrl-plane"))
        let s = try VMXTemplates.builtIn.render(node: node, lab: lab)
        #expect(s.value("displayName") == "cluster1-ctrl-plane")
        #expect(s.value("numvcpus") == "2")
        #expect(s.value("cpuid.coresPerSocket") == "2")
        #expect(s.value("memsize") == "4096")
        #expect(s.value("ethernet0.connectionType") == "nat")
        #expect(s.value("ethernet0.vnet") == nil)
        #expect(s.value("ethernet0.virtualDev") == "vmxnet3")
        #expect(s.value("ethernet0.addressType") == "static")
        #expect(s.value("ethernet0.address") == "00:50:56:3a:00:01")
        #expect(s.value("uuid.action") == "create")
        #expect(s.value("msg.autoAnswer") == "TRUE")
        #expect(s.value("hints.hideAll") == "TRUE")
        #expect(s.value("msg.noOk") == "TRUE")
        #expect(s.value("guestinfo.labctl.node") == "cluster1-ctrl-plane")
        #expect(s.value("guestinfo.labctl.cluster") == "cluster1")
        #expect(s.value("guestinfo.labctl.role") == "control-plane")
        #expect(s.value("guestinfo.labctl.address") == "10.213.64.11")
        #expect(s.value("guestinfo.labctl.lab") == "lab1")
        #expect(s.remove == ["ethernet0.generatedAddress", "ethernet0.generatedAddressOffset"])
        // Order follows the template.
        #expect(s.set.first?.key == "displayName")
    }

    @Test func workerTemplateAndCustomVmnet() throws {
        let lab = try lab(vmnet: "vmnet3")
        let node = try #require(lab.node(named: "cluster1-worker-node01"))
        let s = try VMXTemplates.builtIn.render(node: node, lab: lab)
        #expect(s.value("guestinfo.labctl.role") == "worker")
        #expect(s.value("numvcpus") == "4")
        #expect(s.value("ethernet0.connectionType") == "custom")
        #expect(s.value("ethernet0.vnet") == "vmnet3")
    }

    @Test func valuesAreVMXEscapedNotHTMLEscaped() throws {
        let lab = try lab(nodeName: "odd \"name\" & <x> |y")
        let node = try #require(lab.nodes.first)
        let s = try VMXTemplates.builtIn.render(node: node, lab: lab)
        #expect(s.value("displayName") == "odd \"name\" & <x> |y")
    }

    @Test func labFolderOverridesATemplate() throws {
        let tmp = try TempDir()
        defer { tmp.cleanup() }
        try tmp.write("vmx-templates/worker.vmx.mustache", "{{% CONTENT_TYPE: TEXT}}\n{{> common}}\nvhv.enable = \"TRUE\"\n# labctl:remove sound.present\n")
        let templates = try VMXTemplates.load(labDirectory: tmp.path)
        let lab = try lab()
        let worker = try #require(lab.node(named: "cluster1-worker-node01"))
        let s = try templates.render(node: worker, lab: lab)
        #expect(s.value("vhv.enable") == "TRUE")
        #expect(s.value("uuid.action") == "create") // the built-in partial still applies
        #expect(s.remove.contains("sound.present"))
        // The control plane still uses the built-in template.
        let cp = try templates.render(node: try #require(lab.node(named: "cluster1-ctrl-plane")), lab: lab)
        #expect(cp.value("vhv.enable") == nil)
    }

    @Test func unknownTemplateAndBadInputAreClearErrors() throws {
        var lab = try lab()
        lab.clusters[0].nodes[0].template = "gpu"
        let e = #expect(throws: LabError.self) { try VMXTemplates.builtIn.render(node: lab.clusters[0].nodes[0], lab: lab) }
        #expect(e?.code == .invalidInput)
        #expect(e?.hint?.contains("control-plane") == true)
        let odd = try self.lab(memory: 4095)
        #expect(throws: LabError.self) { try VMXTemplates.builtIn.render(node: odd.clusters[0].nodes[0], lab: odd) }

        let tmp = try TempDir()
        defer { tmp.cleanup() }
        try tmp.write("vmx-templates/worker.vmx.mustache", "this is not = a \"vmx\n")
        let broken = try VMXTemplates.load(labDirectory: tmp.path)
        let e2 = #expect(throws: LabError.self) { try broken.render(node: lab.clusters[0].nodes[1], lab: lab) }
        #expect(e2?.location?.description.contains("worker.vmx.mustache") == true)
    }
}
