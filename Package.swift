// swift-tools-version: 6.0
import PackageDescription

// Dependencies point inward, toward LabKit: the CLI knows every module, the
// drivers know only LabKit, and LabKit knows nothing but Foundation.
let package = Package(
    name: "labctl",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "labctl", targets: ["labctl"]),
        .library(name: "LabKit", targets: ["LabKit"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache", from: "2.1.1"),
        // The Istio plug-in CA (LabPKI): X.509 and RSA keys, see docs/pki.md.
        .package(url: "https://github.com/apple/swift-certificates", from: "1.21.1"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
    ],
    targets: [
        // C libraries from the system (see README: libssh2-1-dev, libxml2-dev, pkg-config).
        .systemLibrary(
            name: "CLibSSH2",
            pkgConfig: "libssh2",
            providers: [.apt(["libssh2-1-dev"]), .brew(["libssh2"])]
        ),
        .systemLibrary(
            name: "CLibXML2",
            pkgConfig: "libxml-2.0",
            providers: [.apt(["libxml2-dev"]), .brew(["libxml2"])]
        ),

        // The core: lab spec, network plan, stage engine, state, errors, ports.
        .target(name: "LabKit"),

        // Hypervisor and NodeVMConfigurator over vmrun and VMware's files.
        .target(
            name: "VMwareDriver",
            dependencies: ["LabKit", .product(name: "Mustache", package: "swift-mustache")]
        ),
        // GuestConnector, HostKeyPinning and PortProbe over libssh2 and TCP.
        .target(name: "GuestSSH", dependencies: ["LabKit", "CLibSSH2"]),
        // XML (JUnit reports, version info) over libxml2, kept in its own module so that
        // only this module links libxml2 next to Foundation's ICU (docs/engine.md, "LabXML and Foundation's ICU").
        .target(name: "LabXML", dependencies: ["CLibXML2"]),
        // The shared Istio CA: a root per lab, an intermediate per cluster (docs/pki.md).
        .target(
            name: "LabPKI",
            dependencies: [
                "LabKit",
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
            ]
        ),
        // The host-side artifact cache: content-addressed release files (docs/cache.md).
        .target(name: "LabCache", dependencies: ["LabKit", .product(name: "Crypto", package: "swift-crypto")]),
        // Remote stages: scripts and manifests as resources.
        .target(
            name: "LabStages",
            dependencies: [
                "LabKit", "LabPKI", "LabCache", .product(name: "Mustache", package: "swift-mustache"), .product(name: "Yams", package: "Yams"),
            ],
            resources: [.copy("Resources")]
        ),
        // The ArgumentParser layer: the only module that prints.
        .target(
            name: "LabctlCLI",
            dependencies: [
                "LabKit", "VMwareDriver", "GuestSSH", "LabStages", "LabXML", "LabPKI", "LabCache",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .executableTarget(name: "labctl", dependencies: ["LabctlCLI"]),
        // What the test suites and the benchmarks share, never linked into labctl: a throwaway local
        // sshd (LocalSSHServer) and the driver of the testbed (Tests/Testbed: real guests, fake vmrun).
        .target(name: "LabHarness", dependencies: ["LabKit", "GuestSSH"]),
        // Benchmarks (`labctl-bench ssh`, docs/ssh.md; `labctl-bench restore` on the testbed, docs/snapshots.md).
        .executableTarget(name: "labctl-bench", dependencies: ["GuestSSH", "LabKit", "LabHarness"]),
        // The fuzz targets of every parser of outside input (docs/robustness.md, "Fuzzing"): a libFuzzer
        // binary when scripts/fuzz builds it with -sanitize=fuzzer and -DLABCTL_FUZZ, a replay tool otherwise.
        .executableTarget(name: "labctl-fuzz", dependencies: ["LabKit", "VMwareDriver", "GuestSSH", "LabStages"]),

        // Test doubles of LabKit's ports (hypervisors, guests, pins, port probes) for the unit suites.
        .target(name: "LabTestSupport", dependencies: ["LabKit"], path: "Tests/LabTestSupport"),

        .testTarget(name: "LabKitTests", dependencies: ["LabKit", "LabTestSupport"], resources: [.copy("Fixtures")]),
        .testTarget(name: "VMwareDriverTests", dependencies: ["VMwareDriver", "LabKit"], resources: [.copy("Fixtures")]),
        .testTarget(name: "LabPKITests", dependencies: ["LabPKI", "LabKit"]),
        .testTarget(name: "LabXMLTests", dependencies: ["LabXML"], resources: [.copy("Schemas")]),
        .testTarget(name: "LabctlCLITests", dependencies: ["LabctlCLI", "LabKit", "VMwareDriver", "LabXML", "LabPKI", "LabCache"], resources: [.copy("Golden")]),
        // End-to-end testbed (Tests/Testbed): real guests behind a fake vmrun; needs root.
        .testTarget(name: "TestbedTests", dependencies: ["LabKit", "LabHarness"]),
        // `labctl up` end to end on the testbed: the real binary, the fake vmrun, real guests; needs root.
        .testTarget(
            name: "EndToEndTests",
            dependencies: ["LabctlCLI", "LabStages", "VMwareDriver", "GuestSSH", "LabKit", "LabXML", "LabHarness",
                           .product(name: "Yams", package: "Yams")]
        ),
        .testTarget(name: "LabStagesTests", dependencies: ["LabStages", "LabKit", "LabPKI", "LabTestSupport", "GuestSSH", "LabCache"], resources: [.copy("Golden"), .copy("Fixtures")]),
        .testTarget(name: "GuestSSHTests", dependencies: ["GuestSSH", "LabKit", "LabHarness"]),
        .testTarget(name: "LabCacheTests", dependencies: ["LabCache", "LabKit"]),
    ]
)
