import Synchronization

/// The client attached to a `tty: true` process (`superwatch attach`): its output stream, its window size, and
/// the run it is connected to now. It belongs to the process, not to a run, as overmind's and tmux's clients
/// belong to a window and not to a pid: when the run ends the client waits, and the process's next run gets it
/// (`TerminalSessions.runStarted`), with a notice line on its terminal. Only a detach or `TerminalSessions.end`
/// (the process stopped for good, was removed, or `up` is ending) ends its stream.
///
/// Lock order: a `TerminalSession` calls in here under its own lock (`deliver`, `size`); nothing here calls a
/// session while holding this lock.
final class TerminalClient: Sendable {
    let id: UInt64
    let process: ProcessID
    /// What the client's terminal shows: the raw output of each run it is connected to, and superwatch's notice
    /// lines between runs. Ends with the attachment.
    let output: AsyncStream<[UInt8]>
    private let continuation: AsyncStream<[UInt8]>.Continuation

    private struct State {
        /// The run it is connected to; nil between runs.
        var session: TerminalSession?
        /// The client terminal's size, once it has said.
        var size: WindowSize?
        /// Whether what it was sent last ended a line: a notice starts on a line of its own.
        var atLineStart = true
        var ended = false
    }
    private let state = Mutex(State())

    /// Chunks a client may fall behind by before the oldest are dropped: a stalled terminal loses output on its
    /// screen (never in `up`'s log) instead of holding up the stack.
    static let buffering = 4096

    init(id: UInt64, process: ProcessID) {
        self.id = id
        self.process = process
        (output, continuation) = AsyncStream<[UInt8]>.makeStream(bufferingPolicy: .bufferingNewest(Self.buffering))
    }

    /// The run it is connected to now.
    var session: TerminalSession? { state.withLock { $0.session } }

    /// The client terminal's size, if it has said.
    var size: WindowSize? { state.withLock { $0.size } }

    /// Connects it to `session` (which the caller then attaches it to).
    func bind(_ session: TerminalSession) { state.withLock { $0.session = session } }

    /// Disconnects it from `session` if that is its run; whether it was.
    @discardableResult
    func unbind(_ session: TerminalSession) -> Bool {
        state.withLock { state in
            guard state.session === session else { return false }
            state.session = nil
            return true
        }
    }

    /// Output of its run, for its terminal.
    func deliver<Bytes: BidirectionalCollection<UInt8>>(_ bytes: Bytes) {
        guard let last = bytes.last else { return }
        state.withLock { state in
            guard !state.ended else { return }
            state.atLineStart = last == 0x0A
            continuation.yield(Array(bytes))
        }
    }

    /// A line of superwatch's own on the client's terminal, as `[superwatch: TEXT]`, on a line of its own. The
    /// terminal is raw (no newline translation), hence the CRs.
    func notice(_ text: String) {
        state.withLock { state in
            guard !state.ended else { return }
            continuation.yield(Array(((state.atLineStart ? "" : "\r\n") + "[superwatch: \(text)]\r\n").utf8))
            state.atLineStart = true
        }
    }

    /// Types `bytes` into its run's terminal; dropped between runs.
    func write(_ bytes: [UInt8]) async throws(SuperwatchError) {
        guard let session else { return }
        try await session.write(bytes, from: self)
    }

    /// The client terminal's size changed: its run's follows, and so will the next run's.
    func resize(_ size: WindowSize) {
        let session = state.withLock { state in
            state.size = size
            return state.session
        }
        session?.resize(self, to: size)
    }

    /// Ends its stream, after `notice` if given; returns the run it was connected to (for the caller to detach
    /// it from, outside this lock).
    func end(notice text: String?) -> TerminalSession? {
        if let text { notice(text) }
        let session = state.withLock { state in
            state.ended = true
            defer { state.session = nil }
            return state.session
        }
        continuation.finish()
        return session
    }
}
