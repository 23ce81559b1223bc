import Foundation

/// `eventually` for a condition asked of an actor: polls it every 20 ms until it holds or `timeout` passes.
public func eventuallyAsync(timeout: Duration = .seconds(20), _ condition: () async -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if await condition() { return true }
        do { try await Task.sleep(for: .milliseconds(20)) } catch { return await condition() }
    }
    return await condition()
}

/// Runs blocking work (waiting for a process, `SuperwatchRun.waitFor`) on a thread of its own, so that an
/// async test does not hold a thread of the concurrency pool that the server under test needs.
public func onThread<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Result { try work() }) }.start()
    }
}
