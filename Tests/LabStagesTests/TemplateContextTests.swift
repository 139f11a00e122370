import Foundation
import LabKit
import Testing
@testable import LabStages

/// The typed template context and the strict render: a name the context lacks fails the render
/// (swift-mustache alone would render it as empty text).
@Suite struct TemplateContextTests {
    func check(_ template: String, _ script: StageScript, profile: String = "current", cluster: String? = nil, node: String? = nil) throws {
        let scripts = try Fixture.scripts(profile: profile)
        let (c, n) = try scripts.resolve(script, cluster: cluster, node: node)
        let value = try TemplateValue(encoding: scripts.context(script: script, cluster: c, node: n))
        try Templates.shared.get().check(Tag.parse(template), [value], in: "scripts/test")
    }

    func missing(_ template: String, _ script: StageScript, cluster: String? = nil, node: String? = nil) -> LabError? {
        do {
            try check(template, script, cluster: cluster, node: node)
            return nil
        } catch let error as LabError {
            return error
        } catch {
            return nil
        }
    }

    @Test func knownNamesPass() throws {
        try check("{{cluster.name}} {{profile.kubernetes.version}} {{#hosts}}{{address}} {{name}} {{lab.user}}{{/hosts}}", .kubeadmInit, cluster: "cluster1")
        // A Docker-only field under a section that is false for this profile is never rendered, so never checked.
        try check("{{#flags.docker}}{{profile.runtime.dockerAptRepository}}{{/flags.docker}}", .baseRuntime)
        // Optional values are present as null: sections may test them.
        try check("{{#profile.kubernetes.dnsImageRepository}}x{{/profile.kubernetes.dnsImageRepository}}{{^base.address}}y{{/base.address}}", .baseNetwork)
    }

    @Test func aTypoFailsTheRenderWithTheTemplateAndTheName() throws {
        let error = try #require(missing("kubeadm init --node-name {{cluster.nam}}", .kubeadmInit, cluster: "cluster1"))
        #expect(error.code == .internalError)
        #expect(error.message.contains("{{cluster.nam}}") && error.message.contains("scripts/test"))
        #expect(missing("{{#flags.dockr}}docker{{/flags.dockr}}", .baseRuntime) != nil, "a misspelt section does not vanish silently")
        #expect(missing("{{^flags.dockr}}docker{{/flags.dockr}}", .baseRuntime) != nil)
        #expect(missing("{{{manifests.kubeadmConfg}}}", .kubeadmInit, cluster: "cluster1") != nil)
        #expect(missing("{{#hosts}}{{adress}}{{/hosts}}", .nodeIdentity, node: "cluster1-ctrl-plane") != nil)
    }

    @Test func partsOfOtherTargetsAreAbsent() {
        // A lab script has no cluster and no node; a cluster script no host.
        #expect(missing("{{cluster.name}}", .meshKubeconfig) != nil)
        #expect(missing("{{node.name}}", .istioRootCheck) != nil)
        #expect(missing("{{host.name}}", .cni, cluster: "cluster1") != nil)
        #expect(missing("{{waitNodes}}", .nodeVerify, node: "cluster1-ctrl-plane") != nil)
    }

    @Test func aPartialIsCheckedWithTheIncludingContext() throws {
        try check("{{> _header}}", .cni, cluster: "cluster1")
        #expect(missing("{{> _nosuchpartial}}", .cni, cluster: "cluster1") != nil)
    }

    @Test func theParserReadsEveryTagKindAndRefusesBrokenNesting() throws {
        let tags = try Tag.parse("a {{x}} {{{y.z}}} {{&w}} {{! note}} {{#s}}{{^t}}{{.}}{{/t}}{{/s}} {{> p}}")
        #expect(tags == [.variable("x"), .variable("y.z"), .variable("w"),
                         .section("s", inverted: false, [.section("t", inverted: true, [.variable(".")])]), .partial("p")])
        #expect(throws: LabError.self) { try Tag.parse("{{#a}}{{/b}}") }
        #expect(throws: LabError.self) { try Tag.parse("{{#a}}") }
        #expect(throws: LabError.self) { try Tag.parse("{{=<% %>=}}") }
    }

    @Test func everyEmbeddedTemplateIsParsedOnce() throws {
        let templates = try Templates.shared.get()
        let scripts = Set(StageScript.allCases.map { "scripts/\($0.declaration.template)" })
        let manifests = Set(StageManifest.allCases.map { "manifests/\($0.templateName)" })
        #expect(Set(templates.tags.keys) == scripts.union(manifests).union(Templates.partials))
    }

    /// lab.json's reader (LabKit, which cannot see LabStages' resources) and its schema name the same
    /// profiles as the files in Resources/profiles.
    @Test func theProfileListsMatchTheResources() throws {
        #expect(Set(LabDefaults.profiles) == Set(Profile.builtInNames))
        let schema = try #require(try JSONSerialization.jsonObject(with: Data(LabSchema.json.utf8)) as? [String: Any])
        let properties = try #require(schema["properties"] as? [String: Any])
        let profile = try #require(properties["profile"] as? [String: Any])
        #expect(Set(profile["enum"] as? [String] ?? []) == Set(Profile.builtInNames))
        #expect(Profile.builtInNames.count >= 2)
    }
}
