import Foundation
import LabKit

/// Finds vmrun: the lab file's `vmware.vmrun`, then `LABCTL_VMRUN`, then the host OS's
/// default location, then `PATH` (docs/vmware-driver.md, "How vmrun is found").
public enum VmrunLocator {
    public static func locate(override: String?, product: VMwareProduct, platform: HostPlatform = .current,
                              environment: [String: String] = ProcessInfo.processInfo.environment,
                              isExecutable: (String) -> Bool = { FileManager.default.isExecutableFile(atPath: $0) }) throws -> String {
        if let override, !override.isEmpty {
            guard isExecutable(override) else {
                throw LabError(.notFound, "vmrun not found at \(override)", location: .lab("vmware.vmrun"),
                               hint: "fix vmware.vmrun in lab.json or remove it to use the default location")
            }
            return override
        }
        if let env = environment["LABCTL_VMRUN"], !env.isEmpty {
            guard isExecutable(env) else {
                throw LabError(.notFound, "vmrun not found at \(env)", location: .option("environment variable LABCTL_VMRUN"),
                               hint: "point LABCTL_VMRUN at an executable vmrun, or unset it")
            }
            return env
        }
        var tried = platform.vmrunPaths
        if let found = tried.first(where: isExecutable) { return found }
        let names = platform.kind == .wsl2 ? ["vmrun.exe", "vmrun"] : ["vmrun"]
        for dir in (environment["PATH"] ?? "").split(separator: ":") {
            for name in names {
                let candidate = (String(dir) as NSString).appendingPathComponent(name)
                if isExecutable(candidate) { return candidate }
            }
        }
        tried.append("PATH")
        throw LabError(.notFound, "cannot find vmrun", location: .other("looked in: " + tried.joined(separator: ", ")),
                       hint: "install VMware Workstation or Fusion, or set vmware.vmrun in lab.json or LABCTL_VMRUN")
    }
}

/// Bounded retries for idempotent vmrun commands (Vagrant: 3 tries, 2 s apart, VVD base.rb#vmexec).
public struct VmrunRetryPolicy: Sendable, Hashable {
    public var tries: Int
    public var delay: Duration
    public init(tries: Int = 3, delay: Duration = .seconds(2)) {
        self.tries = max(1, tries)
        self.delay = delay
    }
}

/// An async mutex per key: one in-flight vmrun per VMX, and a
/// lock around clone, snapshot and delete of a base VM, because no source documents that
/// concurrent vmrun calls on one VM are safe.
public actor KeyedLock {
    private var held: Set<String> = []
    private var waiters: [String: [CheckedContinuation<Void, Never>]] = [:]

    public init() {}

    public func withLock<T: Sendable>(_ key: String, _ body: @Sendable () async throws -> T) async throws -> T {
        await acquire(key)
        do {
            let value = try await body()
            release(key)
            return value
        } catch {
            release(key)
            throw error
        }
    }

    private func acquire(_ key: String) async {
        if !held.contains(key) {
            held.insert(key)
            return
        }
        await withCheckedContinuation { waiters[key, default: []].append($0) }
    }

    private func release(_ key: String) {
        if var queue = waiters[key], !queue.isEmpty {
            let next = queue.removeFirst()
            waiters[key] = queue.isEmpty ? nil : queue
            next.resume() // ownership passes to the next waiter
        } else {
            held.remove(key)
        }
    }
}

/// Invokes vmrun: argv (never a shell), `-T <product>` first, absolute VMX paths,
/// a deadline per call, bounded retries for idempotent commands, one call per VM at a time.
public struct Vmrun: Sendable {
    public var path: String
    public var product: VMwareProduct
    public var timeouts: VMwareTimeouts
    public var retry: VmrunRetryPolicy
    public var runner: any CommandRunner
    /// The host: which paths vmrun understands and how paths compare.
    public var platform: HostPlatform
    /// One vmrun per VMX at a time.
    public let vmLocks: KeyedLock
    /// Serialises clone, snapshot and delete on a source (base) VM.
    public let operationLocks: KeyedLock

    public init(path: String, product: VMwareProduct = .ws, timeouts: VMwareTimeouts = VMwareTimeouts(),
                retry: VmrunRetryPolicy = VmrunRetryPolicy(), runner: any CommandRunner = HostProcessRunner(),
                platform: HostPlatform = .current, vmLocks: KeyedLock = KeyedLock(), operationLocks: KeyedLock = KeyedLock()) {
        self.path = path
        self.product = product
        self.timeouts = timeouts
        self.retry = retry
        self.runner = runner
        self.platform = platform
        self.vmLocks = vmLocks
        self.operationLocks = operationLocks
    }

    /// Builds the driver's vmrun from the lab's `vmware` section.
    public init(spec: VMwareSpec, runner: any CommandRunner = HostProcessRunner(), platform: HostPlatform = .current,
                environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        let path = try VmrunLocator.locate(override: spec.vmrun, product: spec.product, platform: platform, environment: environment)
        self.init(path: path, product: spec.product, timeouts: spec.timeouts, runner: runner, platform: platform)
    }

    /// Which deadline a call gets (docs/vmware-driver.md, "Deadlines, retries and serialisation": start 300 s, soft stop 30 s, others 120 s).
    public enum DeadlineClass: Sendable { case start, softStop, standard }

    public func deadline(_ c: DeadlineClass) -> Duration {
        switch c {
        case .start: return .seconds(timeouts.startSeconds)
        case .softStop: return .seconds(timeouts.softStopSeconds)
        case .standard: return .seconds(timeouts.defaultSeconds)
        }
    }

    /// The full argv for a vmrun command.
    public func argv(_ command: String, _ arguments: [String]) -> [String] {
        // Flags must come before the command (vmrun --help; docs/vmware-driver.md, "vmrun's command line").
        [path, "-T", product.rawValue, command] + arguments
    }

    /// The argv `run` executes: the real vmrun path, `-T <product>`, the command, the VMX in the form
    /// vmrun on this host understands (on WSL2 vmrun.exe is given the Windows path; locks and errors
    /// keep the path labctl uses), then the arguments. Hints are built from it too, so a Fusion or
    /// WSL2 user gets a command they can paste.
    public func commandLine(_ command: String, vmx: String?, _ arguments: [String] = []) throws -> [String] {
        argv(command, (try vmx.map { [try platform.vmrunPath(Self.absolute($0))] } ?? []) + arguments)
    }

    /// Runs `vmrun -T <product> <command> <vmx> <arguments...>` and returns its output, or throws a
    /// `VmrunError` (the catalogue) or a `LabError` (timeout, cancelled, vmrun missing).
    @discardableResult
    public func run(_ command: String, vmx: String?, _ arguments: [String] = [], deadline: DeadlineClass = .standard,
                    idempotent: Bool) async throws -> VmrunOutput {
        let vmxPath = vmx.map(Self.absolute)
        let cmd = Command(try commandLine(command, vmx: vmxPath, arguments), deadline: self.deadline(deadline))
        let tries = idempotent ? retry.tries : 1
        let body: @Sendable () async throws -> VmrunOutput = { [runner, retry] in
            var attempt = 1
            while true {
                do {
                    return try await Self.once(cmd, runner: runner, vmx: vmxPath)
                } catch let e as VmrunError where e.isTransient && attempt < tries {
                    attempt += 1
                    try await Task.sleep(for: retry.delay)
                }
            }
        }
        if let vmxPath {
            return try await vmLocks.withLock(lockKey(vmxPath), body)
        }
        return try await body()
    }

    static func once(_ cmd: Command, runner: any CommandRunner, vmx: String?) async throws -> VmrunOutput {
        let result = try await runner.run(cmd)
        let output = VmrunOutput(result.stdout)
        // Some wrappers report `Error:` with exit 0 [T]; treat that as a failure too.
        if result.succeeded && output.errorMessage == nil { return output }
        let stderr = VmrunOutput(result.stderr)
        let message = output.errorMessage ?? stderr.errorMessage
            ?? (stderr.contentLines + output.contentLines).joined(separator: " ").nonEmpty
            ?? "vmrun exited with status \(result.exitStatus)\(result.exitSignal.map { " (signal \($0))" } ?? "") and printed nothing"
        let kind = VmrunError.classify(message)
        var error = VmrunError(kind: kind, message: message, argv: cmd.arguments, exitStatus: result.exitStatus, vmx: vmx)
        if kind == .operationCancelled, let log = error.vmwareLog {
            error.vmwareLogExcerpt = VMwareLog.messagePostErrors(logPath: log)
        }
        throw error
    }

    /// vmrun needs absolute paths (GOVIX Clone; Packer and Docker Machine call filepath.Abs).
    public static func absolute(_ path: String) -> String {
        let expanded = (path as NSString).expandingTildeInPath
        if expanded.hasPrefix("/") { return (expanded as NSString).standardizingPath }
        let cwd = FileManager.default.currentDirectoryPath
        return ((cwd as NSString).appendingPathComponent(expanded) as NSString).standardizingPath
    }

    /// The key that serialises calls on one VM file (case-insensitive where the host's filesystem is).
    public func lockKey(_ path: String) -> String { platform.lockKey(path) }
}

extension String {
    var nonEmpty: String? { isEmpty ? nil : self }
}
