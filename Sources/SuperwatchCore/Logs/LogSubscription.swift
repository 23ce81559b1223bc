import NIOCore
import Synchronization

/// One follower's queue between the fan-out and its reader (`LogFanOut.subscribe`). The fan-out hands it a
/// round's records at once (one lock and at most one wake-up per round of the I/O loop, not per line) and never
/// waits; the reader takes everything queued in one go. Past `capacity` records the oldest are dropped, so a
/// reader that stalls loses lines instead of holding up the I/O loop, the supervisor or another follower.
final class LogSubscription: Sendable {
    /// nil: every process and the stack's own events.
    let processes: Set<ProcessID>?
    /// The most records queued for the reader.
    let capacity: Int

    private struct State {
        var queued = CircularBuffer<LogRecord>()
        /// The reader, while it waits for records.
        var waiter: CheckedContinuation<Void, Never>?
        var finished = false
        /// Records dropped for the reader being behind.
        var dropped = 0
        /// When the stack's end finished it (nil: it did not, or not yet).
        var stackEndedAt: ContinuousClock.Instant?
    }
    private let state = Mutex(State())

    init(processes: Set<ProcessID>?, capacity: Int) {
        precondition(capacity > 0, "a subscription queues at least one record")
        self.processes = processes
        self.capacity = capacity
    }

    /// Whether the records of `process` (nil: the stack's own events) go to this subscriber.
    func wants(_ process: ProcessID?) -> Bool {
        guard let processes else { return true }
        return process.map(processes.contains) ?? false
    }

    /// Queues `records` (oldest first) behind what is queued, dropping the oldest past `capacity`, and wakes
    /// the reader. Never waits.
    func deliver(_ records: [LogRecord]) {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard !state.finished else { return nil }
            if records.count >= capacity {
                state.dropped += state.queued.count + records.count - capacity
                state.queued.removeAll(keepingCapacity: true)
                state.queued.append(contentsOf: records.suffix(capacity))
            } else {
                state.queued.append(contentsOf: records)
                let excess = state.queued.count - capacity
                if excess > 0 {
                    state.dropped += excess
                    state.queued.removeFirst(excess)
                }
            }
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }

    /// No more records: the reader gets what is queued, then the end. `stackEnded`: because the stack has ended
    /// (`stackEndedAt`), rather than because the reader's `timeout` is up.
    func finish(stackEnded: Bool = false) {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            if stackEnded && !state.finished { state.stackEndedAt = .now }
            state.finished = true
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }

    /// When the stack's end finished it (nil: it did not, or not yet).
    var stackEndedAt: ContinuousClock.Instant? { state.withLock { $0.stackEndedAt } }

    /// How many records were dropped so far for the reader being behind.
    var dropped: Int { state.withLock { $0.dropped } }

    /// Takes what is queued away unsent (a reader cut short); returns how many records that was.
    func discardQueued() -> Int {
        state.withLock { state in
            defer { state.queued.removeAll() }
            return state.queued.count
        }
    }

    /// Every record queued, oldest first, waiting while there is none; nil at the end (finished and taken, or
    /// the reading task cancelled).
    func next() async -> [LogRecord]? {
        while true {
            let taken = state.withLock { state -> CircularBuffer<LogRecord>? in
                guard !state.queued.isEmpty else { return nil }
                defer { state.queued = CircularBuffer(initialCapacity: state.queued.count) }
                return state.queued
            }
            if let taken { return Array(taken) }
            if Task.isCancelled || state.withLock({ $0.finished }) { return nil }
            await withTaskCancellationHandler {
                await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                    // Checked under the lock that `deliver`, `finish` and the cancellation handler take, so that
                    // none of them can come between the check and the wait.
                    let wait = state.withLock { state in
                        guard state.queued.isEmpty && !state.finished && !Task.isCancelled else { return false }
                        state.waiter = continuation
                        return true
                    }
                    if !wait { continuation.resume() }
                }
            } onCancel: {
                let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
                    defer { state.waiter = nil }
                    return state.waiter
                }
                waiter?.resume()
            }
        }
    }
}
