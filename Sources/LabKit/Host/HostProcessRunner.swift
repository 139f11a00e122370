import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Runs a command on the host: an argv, never a shell.
///
/// Why not `Foundation.Process`: we need the child in its own process group so a
/// deadline or Ctrl-C can kill vmrun *and* whatever it spawned (vmrun is known to
/// hang, docs/engine.md "Host commands"), and we must read stdout and stderr concurrently so a
/// chatty child cannot deadlock on a full pipe (docs/engine.md, "Host commands": the gitlab-fusion bug).
///
/// The wait happens on a dedicated thread with `poll(2)`, never on Swift's
/// cooperative pool. On the deadline the group gets SIGTERM, then SIGKILL after
/// `killGrace`; the call returns within deadline + grace + a little even if the
/// child ignores SIGTERM or a grandchild keeps the pipes open.
public struct HostProcessRunner: CommandRunner {
    /// Extra environment variables, merged over the current process's environment.
    public var environment: [String: String]
    /// Time between SIGTERM and SIGKILL when a deadline passes or the task is cancelled.
    public var killGrace: Duration
    /// How long to keep reading after the child exited while a grandchild still holds the pipes.
    public var drainAfterExit: Duration

    public init(environment: [String: String] = [:], killGrace: Duration = .milliseconds(500),
                drainAfterExit: Duration = .milliseconds(300)) {
        self.environment = environment
        self.killGrace = killGrace
        self.drainAfterExit = drainAfterExit
    }

    public func run(_ command: Command) async throws -> CommandResult {
        guard let program = command.arguments.first, !program.isEmpty else {
            throw LabError(.internalError, "cannot run an empty command")
        }
        try Task.checkCancellation()
        Self.ignoreSIGPIPE
        let control = ProcessControl()
        let env = mergedEnvironment()
        let grace = killGrace
        let drain = drainAfterExit
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (cont: CheckedContinuation<CommandResult, Error>) in
                let thread = Thread {
                    let outcome = HostProcessRunner.execute(command, program: program, environment: env,
                                                            control: control, grace: grace, drain: drain)
                    cont.resume(with: outcome)
                }
                thread.name = "labctl-process"
                thread.start()
            }
        } onCancel: {
            control.cancel()
        }
    }

    /// Writing a script to a child that exits without reading it must give EPIPE, not kill labctl.
    /// Children get the default disposition back (POSIX_SPAWN_SETSIGDEF).
    private static let ignoreSIGPIPE: Void = {
        _ = signal(SIGPIPE, SIG_IGN)
    }()

    private func mergedEnvironment() -> [String] {
        var env = ProcessInfo.processInfo.environment
        for (k, v) in environment { env[k] = v }
        return env.map { "\($0.key)=\($0.value)" }
    }

    // MARK: - The blocking part (runs on its own thread)


    private static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    private static func execute(_ command: Command, program: String, environment: [String], control: ProcessControl,
                                grace: Duration, drain: Duration) -> Result<CommandResult, Error> {
        let started = now()
        var inPipe: [Int32] = [-1, -1], outPipe: [Int32] = [-1, -1], errPipe: [Int32] = [-1, -1]
        guard makePipe(&inPipe), makePipe(&outPipe), makePipe(&errPipe) else {
            for fd in inPipe + outPipe + errPipe where fd >= 0 { close(fd) }
            return .failure(LabError(.internalError, "cannot create pipes", location: .command(command), cause: POSIXError.current()))
        }

        var actions = posix_spawn_file_actions_t()
        var attr = posix_spawnattr_t()
        posix_spawn_file_actions_init(&actions)
        posix_spawnattr_init(&attr)
        defer {
            posix_spawn_file_actions_destroy(&actions)
            posix_spawnattr_destroy(&attr)
        }
        posix_spawn_file_actions_adddup2(&actions, inPipe[0], 0)
        posix_spawn_file_actions_adddup2(&actions, outPipe[1], 1)
        posix_spawn_file_actions_adddup2(&actions, errPipe[1], 2)
        #if canImport(Glibc)
        // Close every other descriptor in the child. Foundation opens files without O_CLOEXEC on
        // Linux, so a long-lived child could otherwise keep another thread's files open (and a
        // freshly written script busy: ETXTBSY). macOS gets the same from POSIX_SPAWN_CLOEXEC_DEFAULT.
        if let closeFrom = closeFromAction { _ = closeFrom(&actions, 3) }
        #endif
        // Own process group (pgid = child's pid) so killpg reaches grandchildren;
        // default signal handling and an empty mask, whatever the parent set up.
        var flags = Int32(POSIX_SPAWN_SETPGROUP) | Int32(POSIX_SPAWN_SETSIGDEF) | Int32(POSIX_SPAWN_SETSIGMASK)
        #if canImport(Darwin)
        flags |= Int32(POSIX_SPAWN_CLOEXEC_DEFAULT)
        #endif
        posix_spawnattr_setflags(&attr, Int16(truncatingIfNeeded: flags))
        posix_spawnattr_setpgroup(&attr, 0)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for s in [SIGPIPE, SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGCHLD] { sigaddset(&defaults, s) }
        posix_spawnattr_setsigdefault(&attr, &defaults)
        var emptyMask = sigset_t()
        sigemptyset(&emptyMask)
        posix_spawnattr_setsigmask(&attr, &emptyMask)

        var pid: pid_t = 0
        let argv: [UnsafeMutablePointer<CChar>?] = command.arguments.map { strdup($0) } + [nil]
        let envp: [UnsafeMutablePointer<CChar>?] = environment.map { strdup($0) } + [nil]
        defer {
            for p in argv { free(p) }
            for p in envp { free(p) }
        }
        var rc = posix_spawnp(&pid, program, &actions, &attr, argv, envp)
        // ETXTBSY: a script written a moment ago can still be open for writing in a child that
        // another thread forked but has not exec'd yet. The window is short; try again briefly.
        var busyRetries = 0
        while rc == ETXTBSY && busyRetries < 50 {
            busyRetries += 1
            usleep(20_000)
            rc = posix_spawnp(&pid, program, &actions, &attr, argv, envp)
        }
        close(inPipe[0]); close(outPipe[1]); close(errPipe[1])
        if rc != 0 {
            close(inPipe[1]); close(outPipe[0]); close(errPipe[0])
            let reason = String(cString: strerror(rc))
            if rc == ENOENT {
                return .failure(LabError(.notFound, "command not found: \(program)", location: .command(command),
                                         hint: "install it or put its directory on PATH", detail: reason))
            }
            return .failure(LabError(.commandFailed, "cannot start \(program)", location: .command(command), detail: reason))
        }
        control.started(pid: pid)

        for fd in [inPipe[1], outPipe[0], errPipe[0]] { _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) }

        var stdinFD: Int32 = inPipe[1]
        var stdinBytes = [UInt8](command.stdin ?? Data())
        var stdinOffset = 0
        if stdinBytes.isEmpty { close(stdinFD); stdinFD = -1 }
        var outFD = outPipe[0], errFD = errPipe[0]
        var out = Data(), err = Data()

        let deadline = started + command.deadline.seconds
        let graceSeconds = grace.seconds
        var termSentAt: Double?
        var killed = false
        var reason: EndReason = .exited
        var status: Int32 = 0
        var exited = false
        var exitedAt: Double?
        var lastReadAt = started
        var buffer = [UInt8](repeating: 0, count: 65536)

        func closeFD(_ fd: inout Int32) { if fd >= 0 { close(fd); fd = -1 } }

        while true {
            // Reap the child without blocking.
            if !exited {
                var st: Int32 = 0
                let r = waitpid(pid, &st, WNOHANG)
                if r == pid {
                    exited = true
                    status = st
                    exitedAt = now()
                } else if r < 0 && errno != EINTR {
                    exited = true
                    exitedAt = now()
                }
            }
            let t = now()
            // Deadline or cancellation: TERM the group, then KILL it after the grace period.
            if termSentAt == nil {
                if control.isCancelled {
                    reason = .cancelled
                } else if t >= deadline && !exited {
                    reason = .timedOut
                }
                if reason != .exited {
                    termSentAt = t
                    killpg(pid, SIGTERM)
                }
            } else if let sent = termSentAt, !killed, t >= sent + graceSeconds {
                killpg(pid, SIGKILL)
                killed = true
            }
            // Done reading when both pipes are closed; give up on pipes a grandchild holds open.
            if exited {
                if outFD < 0 && errFD < 0 { break }
                // Output still flowing: keep reading. Quiet for `drain` after exit: a grandchild holds the pipes.
                if let e = exitedAt, t >= max(e, lastReadAt) + drain.seconds { break }
                if killed, let sent = termSentAt, t >= sent + graceSeconds + 0.3 { break }
            } else if killed, let sent = termSentAt, t >= sent + graceSeconds + 0.5 {
                // A child in uninterruptible sleep: do not wait for it forever.
                break
            }

            var fds: [pollfd] = []
            if outFD >= 0 { fds.append(pollfd(fd: outFD, events: Int16(POLLIN), revents: 0)) }
            if errFD >= 0 { fds.append(pollfd(fd: errFD, events: Int16(POLLIN), revents: 0)) }
            if stdinFD >= 0 { fds.append(pollfd(fd: stdinFD, events: Int16(POLLOUT), revents: 0)) }
            _ = fds.withUnsafeMutableBufferPointer { poll($0.baseAddress, nfds_t($0.count), 20) }

            for p in fds where p.revents != 0 {
                if p.fd == stdinFD {
                    if p.revents & Int16(POLLOUT) != 0 {
                        let n = stdinBytes.withUnsafeBytes { raw in
                            write(stdinFD, raw.baseAddress.map { $0 + stdinOffset }, stdinBytes.count - stdinOffset)
                        }
                        if n > 0 { stdinOffset += n }
                        if (n < 0 && errno != EAGAIN && errno != EINTR) || stdinOffset >= stdinBytes.count {
                            closeFD(&stdinFD)
                            stdinBytes = []
                        }
                    } else {
                        closeFD(&stdinFD)
                    }
                    continue
                }
                let n = buffer.withUnsafeMutableBytes { read(p.fd, $0.baseAddress, $0.count) }
                if n > 0 {
                    lastReadAt = now()
                    if p.fd == outFD { out.append(contentsOf: buffer[0..<n]) } else { err.append(contentsOf: buffer[0..<n]) }
                } else if n == 0 || (errno != EAGAIN && errno != EINTR) {
                    if p.fd == outFD { closeFD(&outFD) } else { closeFD(&errFD) }
                }
            }
        }
        closeFD(&stdinFD); closeFD(&outFD); closeFD(&errFD)
        if !exited {
            // Killed but not yet reaped: one last non-blocking try, so we do not leave a zombie for long.
            var st: Int32 = 0
            if waitpid(pid, &st, WNOHANG) == pid { status = st; exited = true }
        }
        control.finished()

        let duration = Duration.milliseconds(Int64((now() - started) * 1000))
        let redactor = Redactor(command.secrets)
        switch reason {
        case .timedOut:
            let tail = redactor.redact(String(decoding: out.suffix(2000), as: UTF8.self) + String(decoding: err.suffix(2000), as: UTF8.self))
                .trimmingCharacters(in: .whitespacesAndNewlines)
            return .failure(LabError(.timeout, "\(program) did not finish within \(formatDuration(command.deadline))",
                                     location: .command(command),
                                     hint: "the command was killed; check that it is not waiting for input or a dialog, or raise its timeout",
                                     detail: tail.isEmpty ? nil : "output so far: \(tail)"))
        case .cancelled:
            return .failure(LabError(.cancelled, "\(program) was cancelled", location: .command(command)))
        case .exited:
            break
        }
        var exitStatus: Int32 = 0
        var signal: String?
        if exited {
            if status & 0x7f == 0 {
                exitStatus = (status >> 8) & 0xff
            } else {
                let sig = status & 0x7f
                exitStatus = 128 + sig
                signal = signalName(sig)
            }
        } else {
            exitStatus = -1
            signal = "KILL"
        }
        return .success(CommandResult(exitStatus: exitStatus, exitSignal: signal, stdout: out, stderr: err, duration: duration))
    }

    #if canImport(Glibc)
    /// glibc 2.34+ has posix_spawn_file_actions_addclosefrom_np, but Swift's Glibc module does not export it.
    private typealias CloseFromFunction = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
    private static let closeFromAction: CloseFromFunction? = {
        guard let sym = dlsym(nil, "posix_spawn_file_actions_addclosefrom_np") else { return nil }
        return unsafeBitCast(sym, to: CloseFromFunction.self)
    }()
    #endif

    private static func makePipe(_ fds: inout [Int32]) -> Bool {
        var pair: [Int32] = [-1, -1]
        // Close-on-exec so concurrent spawns do not inherit our pipe ends (that would keep
        // another command's pipes open past its exit).
        guard pipe(&pair) == 0 else { return false }
        _ = fcntl(pair[0], F_SETFD, FD_CLOEXEC)
        _ = fcntl(pair[1], F_SETFD, FD_CLOEXEC)
        fds = pair
        return true
    }

    private static func signalName(_ sig: Int32) -> String {
        switch sig {
        case SIGTERM: return "TERM"
        case SIGKILL: return "KILL"
        case SIGINT: return "INT"
        case SIGHUP: return "HUP"
        case SIGPIPE: return "PIPE"
        case SIGSEGV: return "SEGV"
        case SIGABRT: return "ABRT"
        case SIGQUIT: return "QUIT"
        default: return "SIG\(sig)"
        }
    }

    private enum EndReason { case exited, timedOut, cancelled }
}

/// Shared between the waiting thread and the task's cancellation handler.
final class ProcessControl: @unchecked Sendable {
    private let lock = NSLock()
    private var cancelled = false
    private var pid: pid_t?
    private var done = false

    var isCancelled: Bool { lock.withLock { cancelled } }

    func started(pid: pid_t) { lock.withLock { self.pid = pid } }
    func finished() { lock.withLock { done = true } }

    /// Called on Ctrl-C (task cancellation): TERM the group now; the waiting thread escalates to KILL.
    func cancel() {
        let target: pid_t? = lock.withLock {
            cancelled = true
            return done ? nil : pid
        }
        if let target { killpg(target, SIGTERM) }
    }
}
