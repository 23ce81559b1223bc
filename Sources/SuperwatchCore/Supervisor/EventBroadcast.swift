import Foundation
import Synchronization

/// One of superwatch's own events as `Supervisor.events()` delivers it.
public struct StackEvent: Sendable {
    /// The process it is about; nil for an event about the whole stack.
    public var process: ProcessID?
    /// The process's name (`web.2` for a replica), or `superwatch` for the stack's own events.
    public var name: String
    /// When superwatch logged it (wall clock).
    public var time: Date
    public var event: SupervisorEvent
}

/// Hands each event to any number of subscribers, each with a bounded buffer of its own: one that does not
/// keep up loses its oldest events, and never holds up the supervisor or the other subscribers.
final class EventBroadcast: Sendable {
    /// Events a subscriber may fall behind by before it loses the oldest.
    static let bufferLimit = 1024

    private struct State {
        var nextID = 0
        var subscribers: [Int: AsyncStream<StackEvent>.Continuation] = [:]
        var finished = false
    }
    private let state = Mutex(State())

    /// Every event from now on, until the stack ends (the stream finishes) or the stream is dropped.
    func subscribe() -> AsyncStream<StackEvent> {
        let (stream, continuation) = AsyncStream<StackEvent>.makeStream(
            bufferingPolicy: .bufferingNewest(Self.bufferLimit))
        let id: Int? = state.withLock { state in
            guard !state.finished else { return nil }
            state.nextID += 1
            state.subscribers[state.nextID] = continuation
            return state.nextID
        }
        guard let id else {
            continuation.finish()
            return stream
        }
        continuation.onTermination = { [weak self] _ in
            self?.state.withLock { _ = $0.subscribers.removeValue(forKey: id) }
        }
        return stream
    }

    /// Sends the event that `make` builds to every subscriber; builds nothing when there is none.
    func publish(_ make: () -> StackEvent) {
        let subscribers = state.withLock { Array($0.subscribers.values) }
        guard !subscribers.isEmpty else { return }
        let event = make()
        for subscriber in subscribers { subscriber.yield(event) }
    }

    /// Ends every stream; later subscribers get a finished one.
    func finish() {
        let subscribers = state.withLock { state in
            state.finished = true
            defer { state.subscribers = [:] }
            return Array(state.subscribers.values)
        }
        for subscriber in subscribers { subscriber.finish() }
    }
}
