import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Where every line and event goes: the terminal (text or JSON, through the `OutputSink` and its back-pressure),
/// a bounded ring buffer per process (`recent`, for `superwatch logs`), and subscribers that follow the logs
/// (`subscribe`). Nothing here waits: the sink queues, a ring drops its oldest line, and a subscriber that does
/// not keep up loses its oldest records, so no reader can slow the I/O loop, the supervisor or another reader.
/// A subscriber gets a round's lines as one batch (`LogSubscription`): one lock and one wake-up per round, not
/// per line, so that followers cost the I/O loop next to nothing.
///
/// One lock orders all three: a batch or an event reaches the terminal, the rings and the subscribers in the
/// same order. It is held for a round's worth of copying, never across a write(2) (the sink's writer thread
/// does those).
public final class LogFanOut: Sendable {
    /// Lines a process's ring keeps unless its `log_buffer:` says otherwise.
    public static let defaultCapacity = 10_000
    /// Bytes of text a process's ring keeps at most (see `LogRing`).
    public static let defaultByteLimit = 16 << 20

    /// How lines and events look; a live reload that adds processes replaces it (`addProcesses`). Not to be
    /// read under the lock (it takes it): code under the lock reads `state.formatter`.
    var formatter: LogFormatter { state.withLock { $0.formatter } }
    let sink: OutputSink

    private struct State {
        var formatter: LogFormatter
        /// Per process index.
        var rings: [LogRing]
        /// The stack's own events (`superwatch * …`).
        var stackRing: LogRing
        var nextSequence: UInt64 = 0
        var subscriptions: [UInt64: LogSubscription] = [:]
        var nextSubscription: UInt64 = 0
        /// `finishSubscribers()` was called: the stack has ended, a new subscription ends at once.
        var finished = false
    }
    private let state: Mutex<State>

    /// `capacity` lines (and at most `byteLimit` bytes) per process; `capacities`, when given, one per process
    /// (the config's `log_buffer`), the stack's own events keeping `capacity`.
    init(
        formatter: LogFormatter, sink: OutputSink, capacity: Int = LogFanOut.defaultCapacity,
        capacities: [Int]? = nil, byteLimit: Int = LogFanOut.defaultByteLimit
    ) {
        self.sink = sink
        let perProcess = capacities ?? Array(repeating: capacity, count: formatter.names.count)
        precondition(perProcess.count == formatter.names.count, "one capacity per process")
        state = Mutex(
            State(
                formatter: formatter, rings: perProcess.map { LogRing(capacity: $0, byteLimit: byteLimit) },
                stackRing: LogRing(capacity: capacity, byteLimit: byteLimit)))
    }

    // MARK: - Writing

    /// A round of the I/O loop: its terminal bytes to the sink, its lines to the rings and subscribers. Leaves
    /// `batch` empty, its line storage kept for the next round.
    func write(_ batch: inout OutputBatch) {
        guard !batch.isEmpty else { return }
        let terminal = batch.terminal
        batch.terminal = []
        let time = Self.now()
        state.withLock { state in
            sink.write(terminal)
            // A round's records go to each subscriber as one array: one lock and one wake-up per round.
            let subscriptions = Array(state.subscriptions.values)
            var outboxes = [[LogRecord]](repeating: [], count: subscriptions.count)
            batch.lineBytes.withUnsafeBytes { bytes in
                for line in batch.lines {
                    let text = UnsafeRawBufferPointer(rebasing: bytes[line.offset..<(line.offset + line.length)])
                    record(text, process: line.process, stream: line.stream, kind: line.kind, time: time, &state)
                    guard !subscriptions.isEmpty else { continue }
                    var made: LogRecord?
                    for (index, subscription) in subscriptions.enumerated() where subscription.wants(line.process) {
                        let record =
                            made
                            ?? makeRecord(
                                process: line.process, name: state.formatter.name(of: line.process),
                                stream: line.stream, kind: line.kind, time: time,
                                text: String(decoding: text, as: UTF8.self))
                        made = record
                        outboxes[index].append(record)
                    }
                }
            }
            for (subscription, records) in zip(subscriptions, outboxes) where !records.isEmpty {
                subscription.deliver(records)
            }
        }
        batch.removeLines()
    }

    /// One of superwatch's own events, about `process` (nil: the whole stack): to the terminal, into that
    /// process's ring and to its subscribers. What the supervisor calls for every event it logs.
    public func event(_ process: ProcessID?, _ event: SupervisorEvent) {
        state.withLock { state in
            sink.write(state.formatter.event(process: process, event))
            recordEvent(process, event, &state)
        }
    }

    /// Keeps an event in the ring of `process` (nil: the stack's) and passes it to subscribers, without writing
    /// it to the terminal: for an event whose terminal line was written by other means.
    public func record(_ process: ProcessID?, _ event: SupervisorEvent) {
        state.withLock { recordEvent(process, event, &$0) }
    }

    private func recordEvent(_ process: ProcessID?, _ event: SupervisorEvent, _ state: inout State) {
        let time = Self.now()
        var text = Array(event.message.utf8)
        text.withUnsafeMutableBytes { bytes in
            record(
                UnsafeRawBufferPointer(bytes), process: process, stream: .event, kind: event.kind, time: time, &state)
        }
        var made: LogRecord?
        for subscription in state.subscriptions.values where subscription.wants(process) {
            let record =
                made
                ?? makeRecord(
                    process: process, name: state.formatter.name(of: process), stream: .event, kind: event.kind,
                    time: time, text: event.message)
            made = record
            subscription.deliver([record])
        }
    }

    private func record(
        _ text: UnsafeRawBufferPointer, process: ProcessID?, stream: LogRecord.Stream, kind: SupervisorEvent.Kind?,
        time: Int64, _ state: inout State
    ) {
        let sequence = state.nextSequence
        state.nextSequence += 1
        if let process {
            state.rings[process.index].append(text, time: time, sequence: sequence, stream: stream, kind: kind)
        } else {
            state.stackRing.append(text, time: time, sequence: sequence, stream: stream, kind: kind)
        }
    }

    // MARK: - Reading

    /// The newest `tail` lines and events of `processes` (nil: every process and the stack's own events),
    /// merged across processes in the order they were written, oldest first.
    public func recent(processes: Set<ProcessID>? = nil, tail: Int) -> [LogRecord] {
        let (picked, formatter) = state.withLock { (newest(processes: processes, tail: tail, in: $0), $0.formatter) }
        return records(picked, tail: tail, formatter: formatter)
    }

    /// The newest `tail` lines and events of `processes` (nil: all, the stack's own events included), then every
    /// later one in batches, until the stream is dropped or `finishSubscribers()`. The backlog is read and the
    /// subscription made under the one lock that orders every record: the stream starts with the record after
    /// the backlog's last, so nothing falls between the two and nothing is in both, with no comparing.
    ///
    /// At most `buffering` records wait for the reader; past that the oldest are dropped, so a reader that stalls
    /// loses lines instead of slowing anything down.
    public func subscribe(
        processes: Set<ProcessID>? = nil, tail: Int = 0, buffering: Int = LogFanOut.defaultCapacity
    ) -> LogFollow {
        let subscription = LogSubscription(processes: processes, capacity: buffering)
        let (id, picked, formatter) = state.withLock { state in
            defer { state.nextSubscription += 1 }
            if state.finished {
                subscription.finish(stackEnded: true)
            } else {
                state.subscriptions[state.nextSubscription] = subscription
            }
            return (state.nextSubscription, newest(processes: processes, tail: tail, in: state), state.formatter)
        }
        // Forgets the subscription when the stream is dropped (its closure, and this with it, released).
        let registration = Registration(output: self, id: id, subscription: subscription)
        return LogFollow(
            backlog: records(picked, tail: tail, formatter: formatter),
            batches: AsyncStream(unfolding: { await registration.subscription.next() }),
            finish: { subscription.finish() },
            standing: {
                FollowStanding(stackEndedAt: subscription.stackEndedAt, dropped: subscription.dropped)
            },
            discardQueued: { subscription.discardQueued() })
    }

    /// Holds a subscription for its stream; when the stream goes, so does the subscription.
    private final class Registration: Sendable {
        let output: LogFanOut
        let id: UInt64
        let subscription: LogSubscription

        init(output: LogFanOut, id: UInt64, subscription: LogSubscription) {
            self.output = output
            self.id = id
            self.subscription = subscription
        }

        deinit {
            _ = output.state.withLock { $0.subscriptions.removeValue(forKey: id) }
        }
    }

    /// How many subscriptions are open.
    var subscriberCount: Int { state.withLock { $0.subscriptions.count } }

    /// Ends every subscriber's stream (the stack has ended), and those of later subscriptions: a follower sees the
    /// end after what is queued for it, instead of waiting.
    public func finishSubscribers() {
        let subscriptions = state.withLock { state in
            state.finished = true
            defer { state.subscriptions.removeAll() }
            return Array(state.subscriptions.values)
        }
        for subscription in subscriptions { subscription.finish(stackEnded: true) }
    }

    /// The newest `tail` entries of the rings `processes` selects, each with its text; called under the lock.
    private func newest(processes: Set<ProcessID>?, tail: Int, in state: State) -> [(ProcessID?, LogRing.Entry, String)]
    {
        guard tail > 0 else { return [] }
        var picked: [(ProcessID?, LogRing.Entry, String)] = []
        for index in state.rings.indices where processes?.contains(ProcessID(index)) ?? true {
            picked += state.rings[index].newest(tail).map { (ProcessID(index), $0.entry, $0.text) }
        }
        if processes == nil { picked += state.stackRing.newest(tail).map { (nil, $0.entry, $0.text) } }
        return picked
    }

    /// The newest `tail` of `picked` in the order they were written, as records.
    private func records(_ picked: [(ProcessID?, LogRing.Entry, String)], tail: Int, formatter: LogFormatter)
        -> [LogRecord]
    {
        guard tail > 0 else { return [] }
        return picked.sorted { $0.1.sequence < $1.1.sequence }.suffix(tail).map { process, entry, text in
            makeRecord(
                process: process, name: formatter.name(of: process), stream: entry.stream, kind: entry.kind,
                time: entry.time, text: text)
        }
    }

    private func makeRecord(
        process: ProcessID?, name: String, stream: LogRecord.Stream, kind: SupervisorEvent.Kind?, time: Int64,
        text: String
    ) -> LogRecord {
        LogRecord(
            process: name, stream: stream, time: Date(timeIntervalSince1970: Double(time) / 1e9), text: text,
            kind: kind?.rawValue)
    }

    // MARK: - A live reload

    /// The name lines and events of `process` go under (`superwatch` for the stack's own).
    public func name(of process: ProcessID?) -> String { formatter.name(of: process) }

    /// Processes a live reload added, as the next process indices: a ring for each (`capacities`, one per
    /// name) and a formatter that knows their names, its name column as wide as the longest (so it may grow).
    /// Returns the new formatter, for the I/O loop.
    func addProcesses(_ names: [String], capacities: [Int], byteLimit: Int = LogFanOut.defaultByteLimit)
        -> LogFormatter
    {
        precondition(names.count == capacities.count, "one capacity per process")
        return state.withLock { state in
            state.formatter = LogFormatter(names: state.formatter.names + names, options: state.formatter.options)
            state.rings += capacities.map { LogRing(capacity: $0, byteLimit: byteLimit) }
            return state.formatter
        }
    }

    /// Wall clock, nanoseconds since 1970.
    private static func now() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec)
    }
}
