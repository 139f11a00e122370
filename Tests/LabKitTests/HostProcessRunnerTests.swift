import Foundation
import Testing
@testable import LabKit

@Suite("HostProcessRunner")
struct HostProcessRunnerTests {
    let runner = HostProcessRunner()

    private func elapsed(_ body: () async throws -> Void) async rethrows -> Double {
        let clock = ContinuousClock()
        let start = clock.now
        try await body()
        let d = clock.now - start
        return Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }

    @Test func capturesStdoutStderrAndExitStatus() async throws {
        let r = try await runner.run(Command(["bash", "-c", "echo out; echo err >&2; exit 3"]))
        #expect(r.exitStatus == 3)
        #expect(r.stdoutText == "out\n")
        #expect(r.stderrText == "err\n")
        #expect(!r.succeeded)
    }

    @Test func argumentsAreNotInterpretedByAShell() async throws {
        let r = try await runner.run(Command(["printf", "%s|", "a b", "$HOME", "*"]))
        #expect(r.stdoutText == "a b|$HOME|*|")
    }

    @Test func feedsStdin() async throws {
        let r = try await runner.run(Command(["cat"], stdin: Data("hello\nworld\n".utf8)))
        #expect(r.stdoutText == "hello\nworld\n")
    }

    @Test func largeOutputOnBothPipesDoesNotDeadlock() async throws {
        // 1 MiB on each pipe, far above the 64 KiB pipe buffer (docs/engine.md, "Host commands").
        let r = try await runner.run(Command(["bash", "-c", "head -c 1048576 /dev/zero; head -c 1048576 /dev/zero >&2"], deadline: .seconds(20)))
        #expect(r.stdout.count == 1_048_576)
        #expect(r.stderr.count == 1_048_576)
    }

    @Test func largeStdinIsWrittenWhileOutputIsRead() async throws {
        let input = Data(repeating: 65, count: 512 * 1024)
        let r = try await runner.run(Command(["cat"], stdin: input, deadline: .seconds(20)))
        #expect(r.stdout == input)
    }

    @Test func missingProgramIsNotFound() async throws {
        let e = await #expect(throws: LabError.self) {
            try await runner.run(Command(["/nonexistent/labctl-no-such-tool", "x"]))
        }
        #expect(e?.code == .notFound)
    }

    @Test func deadlineKillsAChildThatIgnoresSIGTERM() async throws {
        var caught: LabError?
        let t = await elapsed {
            do {
                _ = try await runner.run(Command(["bash", "-c", "trap '' TERM; while true; do sleep 0.1; done"], deadline: .seconds(1)))
            } catch let e as LabError { caught = e } catch {}
        }
        #expect(caught?.code == .timeout)
        #expect(caught?.location?.description.contains("bash -c") == true)
        #expect(t < 2.5, "returned after \(t) s")
    }

    @Test func deadlineKillsGrandchildrenHoldingThePipes() async throws {
        let marker = FileManager.default.temporaryDirectory.appendingPathComponent("hpr-\(UUID().uuidString)").path
        var caught: LabError?
        let t = await elapsed {
            do {
                // The grandchild ignores TERM and holds stdout open; the child waits for it.
                _ = try await runner.run(Command(["bash", "-c", "(trap '' TERM; sleep 30; touch \(marker)) & wait"], deadline: .seconds(1)))
            } catch let e as LabError { caught = e } catch {}
        }
        #expect(caught?.code == .timeout)
        #expect(t < 2.5, "returned after \(t) s")
        // The whole group got SIGKILL: the grandchild never reaches `touch`.
        try await Task.sleep(for: .milliseconds(300))
        #expect(!FileManager.default.fileExists(atPath: marker))
    }

    @Test func childExitingWhileGrandchildKeepsPipesOpenReturnsPromptly() async throws {
        var result: CommandResult?
        let t = try await elapsed {
            result = try await runner.run(Command(["bash", "-c", "sleep 5 & echo done"], deadline: .seconds(10)))
        }
        #expect(result?.exitStatus == 0)
        #expect(result?.stdoutText == "done\n")
        #expect(t < 2, "returned after \(t) s")
    }

    @Test func cancellationKillsTheProcessGroup() async throws {
        let task = Task {
            try await runner.run(Command(["bash", "-c", "trap '' TERM; sleep 30"], deadline: .seconds(60)))
        }
        try await Task.sleep(for: .milliseconds(300))
        let clock = ContinuousClock()
        let start = clock.now
        task.cancel()
        let outcome = await task.result
        let waited = clock.now - start
        guard case .failure(let error) = outcome, let e = error as? LabError else {
            Issue.record("expected a cancellation error, got \(outcome)")
            return
        }
        #expect(e.code == .cancelled)
        #expect(waited < .seconds(2))
    }

    @Test func reportsTheSignalThatEndedTheChild() async throws {
        let r = try await runner.run(Command(["bash", "-c", "kill -KILL $$"]))
        #expect(r.exitSignal == "KILL")
        #expect(!r.succeeded)
    }

    @Test func environmentOverridesAreVisible() async throws {
        let r = try await HostProcessRunner(environment: ["LABCTL_TEST_VAR": "x y"]).run(Command(["bash", "-c", "printf %s \"$LABCTL_TEST_VAR\""]))
        #expect(r.stdoutText == "x y")
    }

    @Test func timeoutErrorRedactsSecrets() async throws {
        let e = await #expect(throws: LabError.self) {
            try await runner.run(Command(["bash", "-c", "echo token-s3cret; sleep 10", "token-s3cret"], deadline: .milliseconds(500), secrets: ["s3cret"]))
        }
        #expect(e?.location?.description.contains("s3cret") == false)
        #expect(e?.causeText?.contains("s3cret") == false)
    }

    // /proc/<pid>/fd exists only on Linux; macOS relies on POSIX_SPAWN_CLOEXEC_DEFAULT instead.
    @Test(.enabled(if: FileManager.default.fileExists(atPath: "/proc/self/fd")))
    func childDoesNotInheritOtherDescriptors() async throws {
        let fd = open("/dev/null", O_RDONLY) // no O_CLOEXEC, like Foundation's file writes on Linux
        try #require(fd > 2)
        defer { close(fd) }
        let r = try await runner.run(Command(["bash", "-c", "ls /proc/$$/fd"]))
        let fds = Set(r.stdoutText.split(separator: "\n").map(String.init))
        #expect(!fds.contains(String(fd)), "child inherited fd \(fd): \(fds.sorted())")
        #expect(fds.isSuperset(of: ["0", "1", "2"]))
    }

    @Test func childThatIgnoresStdinDoesNotKillUs() async throws {
        // 1 MiB to a child that exits at once: the write fails with EPIPE instead of raising SIGPIPE.
        let r = try await runner.run(Command(["true"], stdin: Data(repeating: 1, count: 1 << 20)))
        #expect(r.exitStatus == 0)
    }

    @Test func deadlineHoldsWhenADescendantLeftTheGroupAndKeepsThePipes() async throws {
        // setsid puts the sleeper outside our process group, so killpg cannot reach it; we still return.
        var caught: LabError?
        let t = await elapsed {
            do {
                _ = try await runner.run(Command(["bash", "-c", "setsid sleep 4 & sleep 30"], deadline: .seconds(1)))
            } catch let e as LabError { caught = e } catch {}
        }
        #expect(caught?.code == .timeout)
        #expect(t < 2.5, "returned after \(t) s")
    }

    @Test func manyConcurrentCommandsKeepTheirOwnOutput() async throws {
        try await withThrowingTaskGroup(of: (Int, String).self) { group in
            for i in 0..<40 {
                group.addTask { (i, try await runner.run(Command(["bash", "-c", "sleep 0.$((RANDOM % 3)); echo \(i)"])).stdoutText) }
            }
            for try await (i, out) in group { #expect(out == "\(i)\n") }
        }
    }
}
