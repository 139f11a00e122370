import Foundation
import LabKit
import Testing
@testable import LabStages

@Suite struct ProfileTests {
    @Test func builtInProfilesLoadWithTheirPins() throws {
        #expect(Profile.builtInNames == ["current", "seed-2021"])
        let seed = try Profile.load(named: "seed-2021")
        #expect(seed.versions["kubernetes"] == "1.21.2")
        #expect(seed.versions["docker"] == "20.10.7")
        #expect(seed.versions["weave"] == "2.8.1")
        #expect(seed.versions["metallb"] == "0.10.2")
        #expect(seed.versions["istio"] == "1.10.1")
        #expect(seed.os.ubuntuVersion == "20.04")
        #expect(seed.runtime.kind == .docker && seed.runtime.criSocket == "/var/run/dockershim.sock")
        #expect(seed.kubernetes.install == .binaries)
        #expect(seed.kubernetes.binaryBaseURL == "https://dl.k8s.io/release/v1.21.2/bin/linux/amd64")
        #expect(seed.cni.manifestURL == "https://github.com/weaveworks/weave/releases/download/v2.8.1/weave-daemonset-k8s-1.11.yaml")
        #expect(seed.metallb.config == .configmap)
        #expect(seed.istio.remoteSecretCommand == ["x", "create-remote-secret"])
        let current = try Profile.load(named: "current")
        #expect(current.os.ubuntuVersion == "24.04")
        #expect(current.runtime.kind == .containerd)
        #expect(current.versions["containerd"]?.hasPrefix("2.") == true)
        #expect(current.kubernetes.version.hasPrefix("1.36."))
        #expect(current.kubernetes.aptRepository == "https://pkgs.k8s.io/core:/stable:/v1.36/deb/")
        #expect(current.cni.kind == .flannel)
        #expect(current.metallb.config == .crds && current.versions["metallb"]?.hasPrefix("0.16.") == true)
        #expect(current.istio.version.hasPrefix("1.30."))
        #expect(current.istio.eastWestGatewayFlags == .network)
    }

    @Test func everyURLIsExpanded() throws {
        for name in Profile.builtInNames {
            let json = String(decoding: try JSONEncoder().encode(try Profile.load(named: name)), as: UTF8.self)
            #expect(!json.contains("{{"), "profile \(name) has an unexpanded template")
        }
    }

    @Test func labVersionsOverrideSingleVersionsAndTheirURLs() throws {
        let seed = try Profile.load(named: "seed-2021", overrides: ["kubernetes": "1.21.14"])
        #expect(seed.kubernetes.version == "1.21.14")
        #expect(seed.kubernetes.binaryBaseURL == "https://dl.k8s.io/release/v1.21.14/bin/linux/amd64")
        #expect(seed.versions["istio"] == "1.10.1", "other versions stay")
        let current = try Profile.load(named: "current", overrides: ["kubernetes": "1.35.4"])
        #expect(current.kubernetes.aptRepository == "https://pkgs.k8s.io/core:/stable:/v1.35/deb/")
        #expect(current.kubernetes.packageVersion == "1.35.4-1.1")
        // Through lab.json and into the scripts.
        let lab = try Fixture.lab(profile: "current", versions: ["istio": "1.30.4"])
        let tools = try StageScripts(lab: lab).render(.baseTools).text
        #expect(tools.contains("https://github.com/istio/istio/releases/download/1.30.4/istio-1.30.4-linux-amd64.tar.gz"))
        #expect(tools.contains("ISTIO_DIR=/opt/istio-1.30.4"))
    }

    @Test func unknownOverrideKeyNamesTheKeyAndTheKnownOnes() throws {
        let error = try #require(throws: LabError.self) { try Profile.load(named: "seed-2021", overrides: ["kubernets": "1.21.3"]) }
        #expect(error.code == .invalidInput)
        #expect(error.location?.description == "lab.json: versions.kubernets")
        #expect(error.hint?.contains("kubernetes") == true && error.hint?.contains("weave") == true)
        // Both profiles have their own keys: weave is not a version of the current profile.
        let other = try #require(throws: LabError.self) { try Profile.load(named: "current", overrides: ["weave": "2.8.1"]) }
        #expect(other.location?.description == "lab.json: versions.weave")
        #expect(other.hint?.contains("flannel") == true)
        // Several at once are all reported.
        #expect(throws: LabErrors.self) { try Profile.load(named: "current", overrides: ["a": "1", "b": "2"]) }
        // Through a lab.
        let lab = try Fixture.lab(profile: "seed-2021", versions: ["kubernets": "1.21.3"])
        #expect(throws: LabError.self) { try StageScripts(lab: lab) }
    }

    @Test func overrideValuesMustBePlainVersions() throws {
        let error = try #require(throws: LabError.self) {
            try Profile.load(named: "seed-2021", overrides: ["istio": "1.10.1/../../evil"])
        }
        #expect(error.location?.description == "lab.json: versions.istio")
        #expect(throws: LabError.self) { try Profile.load(named: "current", overrides: ["k9s": "0.50.16; reboot"]) }
    }

    @Test func unknownProfileListsTheBuiltInOnes() throws {
        let error = try #require(throws: LabError.self) { try Profile.load(named: "seed-2020") }
        #expect(error.location?.description == "lab.json: profile")
        #expect(error.hint == "use one of: current, seed-2021")
    }
}
