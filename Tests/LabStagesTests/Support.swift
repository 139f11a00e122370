import Foundation
import LabKit
@testable import LabStages

/// Shared fixtures: the repository's lab.json, under each profile.
enum Fixture {
    static let repoRoot: String = {
        // Tests/LabStagesTests/Support.swift → repository root
        let here = URL(fileURLWithPath: #filePath)
        return here.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
    }()

    static let goldenSource = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Golden").path

    /// The profiles shipped in `Sources/LabStages/Resources/profiles`.
    static let profiles = Profile.builtInNames

    /// A syntactically valid, made-up public key (never used to log in anywhere).
    static let publicKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGxhYmN0bC10ZXN0LWtleS1ub3QtYS1yZWFsLWtleQ labctl@test"

    static func lab(profile: String, versions: [String: String] = [:]) throws -> Lab {
        var lab = try LabLoader.load(path: repoRoot + "/lab.json").lab
        lab.profile = profile
        lab.versions = versions
        return lab
    }

    static func scripts(profile: String) throws -> StageScripts {
        try StageScripts(lab: lab(profile: profile), publicKey: publicKey)
    }

    /// Runs a program with arguments, optional stdin and environment; returns status and output.
    @discardableResult
    static func run(_ arguments: [String], stdin: Data? = nil, environment: [String: String]? = nil,
                    directory: String? = nil) throws -> (status: Int32, stdout: String, stderr: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        if let environment { process.environment = environment }
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
        let out = Pipe(), err = Pipe(), input = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = input
        try process.run()
        if let stdin { input.fileHandleForWriting.write(stdin) }
        try input.fileHandleForWriting.close()
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        let errData = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: outData, as: UTF8.self), String(decoding: errData, as: UTF8.self))
    }

    static func which(_ tool: String) -> String? {
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
            let path = "\(dir)/\(tool)"
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        return nil
    }

    static func tempDir() throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("labstages-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }
}
