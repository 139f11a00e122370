import Foundation
import LabKit

/// `labctl-bench lock PATH [--hold SECONDS] [--wait SECONDS]`: takes a lab lock as `labctl` does
/// (`LabLock`, the same holder record) from a process of its own, holds it, and says what happened.
/// The two-process lock tests (LabKitTests `LabLockProcessTests`) run two of these against each other
/// and kill one with SIGKILL; docs/robustness.md ("Two labctl on one lab").
///
/// Output, one line each: `acquired` (plus `took-over PID` first when a stale lock was taken over),
/// then `released`; or `refused: MESSAGE` and exit status 4 (as labctl's `.conflict`).
enum LockProbe {
    static func main(_ args: [String]) async -> Int32 {
        guard let path = args.first else {
            FileHandle.standardError.write(Data("usage: labctl-bench lock PATH [--hold SECONDS] [--wait SECONDS]\n".utf8))
            return 2
        }
        let hold = seconds(after: "--hold", in: args) ?? 0
        let wait = seconds(after: "--wait", in: args) ?? 0
        do {
            let lock = try await LabLock.acquire(path: path, wait: .milliseconds(Int(wait * 1000))) { busy in
                say("waiting: \(busy.message)")
            }
            if let previous = lock.takenOverFrom { say("took-over \(previous)") }
            say("acquired")
            try await Task.sleep(for: .milliseconds(Int(hold * 1000)))
            lock.release()
            say("released")
            return 0
        } catch let error as LabError {
            say("refused: \(error.message)")
            return error.exitCode
        } catch {
            say("refused: \(error)")
            return 1
        }
    }

    private static func seconds(after flag: String, in args: [String]) -> Double? {
        guard let i = args.firstIndex(of: flag), i + 1 < args.count else { return nil }
        return Double(args[i + 1])
    }
}
