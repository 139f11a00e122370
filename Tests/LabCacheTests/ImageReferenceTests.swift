import Foundation
import LabKit
import Testing
@testable import LabCache

/// The reference grammar and normalisation, on distribution/reference's own test strings.
@Suite struct ImageReferenceTests {
    // distribution/reference@v0.6.0:normalize_test.go, TestValidateReferenceName (validRepoNames).
    static let validRepoNames = [
        "docker/docker", "library/debian", "debian", "localhost/library/debian", "localhost/debian",
        "LOCALDOMAIN/library/debian", "LOCALDOMAIN/debian", "docker.io/docker/docker", "docker.io/library/debian",
        "docker.io/debian", "index.docker.io/docker/docker", "index.docker.io/library/debian", "index.docker.io/debian",
        "127.0.0.1:5000/docker/docker", "127.0.0.1:5000/library/debian", "127.0.0.1:5000/debian", "192.168.0.1",
        "192.168.0.1:80", "192.168.0.1:8/debian", "192.168.0.2:25000/debian",
        "thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev", "[fc00::1]:5000/docker",
        "[fc00::1]:5000/docker/docker", "[fc00:1:2:3:4:5:6:7]:5000/library/debian",
        "docker.io/1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a", "Docker/docker", "DOCKER/docker",
    ]
    // Same file and test (invalidRepoNames).
    static let invalidRepoNames = [
        "https://github.com/docker/docker", "docker/Docker", "-docker", "-docker/docker", "-docker.io/docker/docker",
        "docker///docker", "docker.io/docker/Docker", "docker.io/docker///docker", "[fc00::1]", "[fc00::1]:5000",
        "fc00::1:5000/debian", "[fe80::1%eth0]:5000/debian", "[2001:db8:3:4::192.0.2.33]:5000/debian",
        "1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a",
    ]
    // Same file, TestValidateRemoteName.
    static let validRemoteNames = [
        "docker/docker", "thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev", "docker-rules/docker",
        "docker---rules/docker", "doc/docker", "d/docker", "jess/t", "dock__er/docker",
    ]
    static let invalidRemoteNames = [
        "docker/Docker", "docker///docker", "1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a",
        "-docker/docker", "docker-/docker", "-docker-/docker", "____/____", "_docker/_docker", "dock..er/docker",
        "dock_.er/docker", "dock-.er/docker", "docker/",
        "this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255_this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255_this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255_this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255/docker",
    ]

    @Test(arguments: validRepoNames + validRemoteNames)
    func acceptsWhatUpstreamAccepts(_ text: String) throws {
        _ = try ImageReference(parsing: text)
    }

    @Test(arguments: invalidRepoNames + invalidRemoteNames)
    func refusesWhatUpstreamRefuses(_ text: String) {
        #expect(throws: LabError.self) { try ImageReference(parsing: text) }
    }

    // distribution/reference@v0.6.0:normalize_test.go, TestParseRepositoryInfo: (familiar, full, ambiguous) names of
    // each case, and the expected full name, domain and remote name.
    static let repositoryInfo: [(inputs: [String], full: String, domain: String, remote: String)] = [
        (["localhost/fooo"], "localhost/fooo", "localhost", "fooo"),
        (["localhost/fooo/bar"], "localhost/fooo/bar", "localhost", "fooo/bar"),
        (["LOCALDOMAIN/fooo"], "LOCALDOMAIN/fooo", "LOCALDOMAIN", "fooo"),
        (["LOCALDOMAIN/fooo/bar"], "LOCALDOMAIN/fooo/bar", "LOCALDOMAIN", "fooo/bar"),
        (["fooo/bar", "docker.io/fooo/bar", "index.docker.io/fooo/bar"], "docker.io/fooo/bar", "docker.io", "fooo/bar"),
        (["ubuntu", "docker.io/library/ubuntu", "library/ubuntu"], "docker.io/library/ubuntu", "docker.io", "library/ubuntu"),
        (["nonlibrary/ubuntu", "docker.io/nonlibrary/ubuntu"], "docker.io/nonlibrary/ubuntu", "docker.io", "nonlibrary/ubuntu"),
        (["other/library", "docker.io/other/library"], "docker.io/other/library", "docker.io", "other/library"),
        (["127.0.0.1:8000/private/moonbase"], "127.0.0.1:8000/private/moonbase", "127.0.0.1:8000", "private/moonbase"),
        (["127.0.0.1:8000/privatebase"], "127.0.0.1:8000/privatebase", "127.0.0.1:8000", "privatebase"),
        (["example.com/private/moonbase"], "example.com/private/moonbase", "example.com", "private/moonbase"),
        (["example.com/privatebase"], "example.com/privatebase", "example.com", "privatebase"),
        (["example.com:8000/private/moonbase"], "example.com:8000/private/moonbase", "example.com:8000", "private/moonbase"),
        (["example.com:8000/privatebasee"], "example.com:8000/privatebasee", "example.com:8000", "privatebasee"),
        (["ubuntu-12.04-base", "docker.io/library/ubuntu-12.04-base", "index.docker.io/library/ubuntu-12.04-base"],
         "docker.io/library/ubuntu-12.04-base", "docker.io", "library/ubuntu-12.04-base"),
        (["foo", "docker.io/library/foo", "docker.io/foo"], "docker.io/library/foo", "docker.io", "library/foo"),
        (["library/foo/bar", "docker.io/library/foo/bar"], "docker.io/library/foo/bar", "docker.io", "library/foo/bar"),
        (["store/foo/bar", "docker.io/store/foo/bar"], "docker.io/store/foo/bar", "docker.io", "store/foo/bar"),
        (["Foo/bar"], "Foo/bar", "Foo", "bar"),
        (["FOO/bar"], "FOO/bar", "FOO", "bar"),
    ]

    @Test func normalisesAsUpstream() throws {
        for info in Self.repositoryInfo {
            for input in info.inputs {
                let ref = try ImageReference(parsing: input)
                #expect(ref.name == info.full, "\(input)")
                #expect(ref.registry == info.domain, "\(input)")
                #expect(ref.repository == info.remote, "\(input)")
                #expect(ref.tag == "latest" && ref.digest == nil, "\(input)")
            }
        }
    }

    // distribution/reference@v0.6.0:normalize_test.go, TestParseDockerRef: input and expected canonical string.
    static let dockerRefs = [
        ("busybox", "docker.io/library/busybox:latest"),
        ("busybox:latest", "docker.io/library/busybox:latest"),
        ("busybox@sha256:e6693c20186f837fc393390135d8a598a96a833917917789d63766cab6c59582",
         "docker.io/library/busybox@sha256:e6693c20186f837fc393390135d8a598a96a833917917789d63766cab6c59582"),
        ("library/busybox", "docker.io/library/busybox:latest"),
        ("docker.io/busybox", "docker.io/library/busybox:latest"),
        ("docker.io/library/busybox", "docker.io/library/busybox:latest"),
        ("docker.io/busybox:latest", "docker.io/library/busybox:latest"),
        ("library/busybox:latest", "docker.io/library/busybox:latest"),
        ("docker.io/library/busybox:latest", "docker.io/library/busybox:latest"),
        ("gcr.io/library/busybox", "gcr.io/library/busybox:latest"),
        ("gcr.io/library/busybox:latest@sha256:e6693c20186f837fc393390135d8a598a96a833917917789d63766cab6c59582",
         "gcr.io/library/busybox@sha256:e6693c20186f837fc393390135d8a598a96a833917917789d63766cab6c59582"),
    ]

    @Test(arguments: dockerRefs)
    func canonicalStringIsDockerRef(_ input: String, _ expected: String) throws {
        let ref = try ImageReference(parsing: input)
        #expect(ref.description == expected)
        // The canonical string parses to itself.
        #expect(try ImageReference(parsing: ref.description) == ref)
    }

    // distribution/reference@v0.6.0:reference_test.go, TestReferenceParse: tags and digests, and inputs Parse refuses.
    @Test func tagsAndDigests() throws {
        let both = try ImageReference(parsing: "test:5000/repo:tag@sha256:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff")
        #expect(both.registry == "test:5000" && both.repository == "repo" && both.tag == nil
            && both.digest == "sha256:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff")
        #expect(both.manifestReference == "sha256:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff")
        let upper = try ImageReference(parsing: "lowercase:Uppercase")
        #expect(upper.description == "docker.io/library/lowercase:Uppercase")
        let ipv6 = try ImageReference(parsing: "[2001:db8::1]:5000/repo:tag")
        #expect(ipv6.registry == "[2001:db8::1]:5000" && ipv6.repository == "repo" && ipv6.tag == "tag")
        let long = try ImageReference(parsing: "example.com/" + String(repeating: "a", count: 255) + ":tag")
        #expect(long.repository.count == 255)
        for bad in ["", ":justtag", "@sha256:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
                    "repo@sha256:ffffffffffffffffffffffffffffffffff",
                    "validname@invaliddigest:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
                    "Uppercase:tag", "test:5000/Uppercase/lowercase:tag", "domain/" + String(repeating: "a", count: 256) + ":tag",
                    "aa/asdf$$^/aa", "[fe80::1%eth0]:5000/repo", "[fe80::1%@invalidzone]:5000/repo"] {
            #expect(throws: LabError.self, "\(bad)") { try ImageReference(parsing: bad) }
        }
    }

    /// The images the lab runs, as their manifests write them.
    @Test func labImages() throws {
        #expect(try ImageReference(parsing: "registry.k8s.io/coredns/coredns:v1.8.0").description == "registry.k8s.io/coredns/coredns:v1.8.0")
        #expect(try ImageReference(parsing: "weaveworks/weave-kube:2.8.1").description == "docker.io/weaveworks/weave-kube:2.8.1")
        #expect(try ImageReference(parsing: "docker.io/curlimages/curl").description == "docker.io/curlimages/curl:latest")
        let error = #expect(throws: LabError.self) { try ImageReference(parsing: "Quay.io/metallb/Speaker:v0.10.2") }
        #expect(error?.code == .invalidInput)
    }
}
