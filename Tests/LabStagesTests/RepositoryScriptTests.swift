import Foundation
import LabKit
import Testing

/// The repository's own shell scripts (`scripts/`: test, up, chaos, …) are shellcheck-clean.
@Suite struct RepositoryScriptTests {
    static let scriptsDir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("scripts")

    @Test(.enabled(if: ScriptTests.hasShellcheck, "shellcheck is not installed (scripts/install-deps test installs it)"))
    func everyShellScriptPassesShellcheck() async throws {
        let names = try FileManager.default.contentsOfDirectory(atPath: Self.scriptsDir.path).sorted()
        let shell = names.map { Self.scriptsDir.appendingPathComponent($0).path }.filter { path in
            let head = (try? String(contentsOfFile: path, encoding: .utf8))?.prefix(40) ?? ""
            return head.hasPrefix("#!/usr/bin/env bash") || head.hasPrefix("#!/bin/bash") || head.hasPrefix("#!/bin/sh")
        }
        #expect(shell.contains { $0.hasSuffix("/chaos") }, "\(names)")
        for path in shell {
            let r = try await HostProcessRunner().run(Command(["shellcheck", path], deadline: .seconds(60)))
            #expect(r.succeeded, "\(path):\n\(r.stdoutText)")
        }
    }
}
