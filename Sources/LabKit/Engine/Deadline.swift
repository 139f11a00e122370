import Foundation

/// Runs `operation` with a deadline; on expiry its task is cancelled and `onTimeout()` is thrown.
///
/// Unlike a task group, this returns as soon as the deadline passes or the caller is cancelled,
/// even when the operation ignores cancellation (a blocking vmrun call, a stuck socket): the
/// operation's task is cancelled and left to finish on its own. That is the "no hangs" rule;
/// the price is that a misbehaving operation may still be running for a moment afterwards.
/// The timer is a single `Task.sleep`, not a polling loop.
public func withDeadline<T: Sendable>(
    _ deadline: Duration,
    onTimeout: @escaping @Sendable () -> Error,
    operation: @escaping @Sendable () async throws -> T
) async throws -> T {
    // Already cancelled: do not even start the operation.
    try Task.checkCancellation()
    let race = Race<T>()
    return try await withTaskCancellationHandler {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, Error>) in
            race.install(continuation)
            let work = Task {
                do {
                    let value = try await operation()
                    race.finish(.success(value))
                } catch {
                    race.finish(.failure(error))
                }
            }
            let timer = Task {
                do {
                    try await Task.sleep(for: deadline)
                    race.finish(.failure(onTimeout()))
                } catch {
                    // Cancelled: the operation finished first.
                }
            }
            race.add(work)
            race.add(timer)
        }
    } onCancel: {
        race.finish(.failure(CancellationError()))
    }
}

/// The first result wins; later ones are dropped, and every task of the race is cancelled.
private final class Race<T: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var continuation: CheckedContinuation<T, Error>?
    private var result: Result<T, Error>?
    private var tasks: [Task<Void, Never>] = []

    func install(_ c: CheckedContinuation<T, Error>) {
        lock.lock()
        if let result {
            lock.unlock()
            c.resume(with: result)
            return
        }
        continuation = c
        lock.unlock()
    }

    func add(_ task: Task<Void, Never>) {
        lock.lock()
        let finished = result != nil
        if !finished { tasks.append(task) }
        lock.unlock()
        if finished { task.cancel() }
    }

    func finish(_ r: Result<T, Error>) {
        lock.lock()
        guard result == nil else {
            lock.unlock()
            return
        }
        result = r
        let c = continuation
        continuation = nil
        let pending = tasks
        tasks = []
        lock.unlock()
        for t in pending { t.cancel() }
        c?.resume(with: r)
    }
}
