import CSuperwatchShim
import Dispatch
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// The pseudo-terminal of one run of a `tty: true` process, as `attach` uses it: a duplicate of the master to
/// write typed input to and to set the window size on, and the one attached client's output stream. The I/O
/// loop reads the run's own copy of the master and forwards each chunk here (`forward`); when that copy reaches
/// its end (EIO: the run's output is over), the loop calls `end`, which closes this copy too and ends the
/// client's stream, so that no master descriptor outlives its run.
final class TerminalSession: Sendable {
    let runID: UInt64
    let process: ProcessID

    private struct State: ~Copyable {
        /// nil once ended.
        var master: OwnedDescriptor?
        /// The attached client, if any: its number and its output stream.
        var client: (id: UInt64, output: AsyncStream<[UInt8]>.Continuation)?
        var nextClient: UInt64 = 1
        /// The stack's size (superwatch's terminal), which the run has while no client is attached.
        var stackSize: WindowSize
        /// What the run wrote since its last newline (at most `replayLimit` bytes): a client that attaches gets
        /// it first, so that it sees the prompt it is to answer.
        var currentLine: [UInt8] = []
    }
    private let state: Mutex<State>
    private let onEnd: @Sendable (UInt64) -> Void

    /// Chunks an attached client may fall behind by before the oldest are dropped: a stalled terminal loses
    /// output on its screen (never in `up`'s log) instead of holding up the stack.
    static let clientBuffering = 4096
    /// The most of the current line replayed to a client that attaches.
    static let replayLimit = 4096

    init(
        runID: UInt64, process: ProcessID, master: consuming OwnedDescriptor, size: WindowSize,
        onEnd: @escaping @Sendable (UInt64) -> Void
    ) {
        self.runID = runID
        self.process = process
        self.onEnd = onEnd
        state = Mutex(State(master: master, stackSize: size))
    }

    var hasEnded: Bool { state.withLock { $0.master == nil } }

    /// Attaches a client: from now on it gets the run's output as it comes, and its input and size reach the
    /// run. One client at a time: nil when another is attached (or the run has ended).
    func attach() -> (id: UInt64, output: AsyncStream<[UInt8]>)? {
        let (stream, continuation) = AsyncStream<[UInt8]>.makeStream(
            bufferingPolicy: .bufferingNewest(Self.clientBuffering))
        let id: UInt64? = state.withLock { state in
            guard state.master != nil, state.client == nil else { return nil }
            let id = state.nextClient
            state.nextClient += 1
            state.client = (id, continuation)
            if !state.currentLine.isEmpty { continuation.yield(state.currentLine) }
            return id
        }
        guard let id else {
            continuation.finish()
            return nil
        }
        return (id, stream)
    }

    /// Whether a client is attached now.
    var isAttached: Bool { state.withLock { $0.client != nil } }

    /// Client `id` goes: its stream ends and the run gets the stack's window size back.
    func detach(_ id: UInt64) {
        let continuation: AsyncStream<[UInt8]>.Continuation? = state.withLock { state in
            guard let client = state.client, client.id == id else { return nil }
            state.client = nil
            if let master = state.master?.rawValue {
                // ignored: a run whose terminal is going away keeps whatever size it had.
                _ = sw_set_window_size(master, state.stackSize.rows, state.stackSize.columns)
            }
            return client.output
        }
        continuation?.finish()
    }

    /// Client `id`'s terminal has this size: so has the run's, while it is attached.
    func resize(_ id: UInt64, to size: WindowSize) {
        state.withLock { state in
            guard state.client?.id == id, let master = state.master?.rawValue else { return }
            // ignored: see `detach`.
            _ = sw_set_window_size(master, size.rows, size.columns)
        }
    }

    /// superwatch's own terminal changed size (SIGWINCH): the run follows unless a client is attached.
    func stackResized(to size: WindowSize) {
        state.withLock { state in
            state.stackSize = size
            guard state.client == nil, let master = state.master?.rawValue else { return }
            // ignored: see `detach`.
            _ = sw_set_window_size(master, size.rows, size.columns)
        }
    }

    /// Writes what client `id` typed to the terminal, as a keyboard would. The master is non-blocking (it shares
    /// the I/O loop's open file): while the terminal's input queue is full (the program does not read), this
    /// waits for it in steps without holding anything up. Throws once the run or the attachment has ended.
    func write(_ bytes: [UInt8], from id: UInt64) async throws(SuperwatchError) {
        var offset = 0
        while offset < bytes.count {
            let written: Int = state.withLock { state in
                guard state.client?.id == id, let master = state.master?.rawValue else { return -Int(EPIPE) }
                let n = bytes.withUnsafeBytes { Glibc.write(master, $0.baseAddress! + offset, $0.count - offset) }
                return n >= 0 ? n : -Int(errno)
            }
            if written >= 0 {
                offset += written
            } else if written == -Int(EAGAIN) || written == -Int(EINTR) {
                // ignored: a cancelled sleep only shortens the wait; the loop checks the session again.
                try? await Task.sleep(for: .milliseconds(10))
            } else {
                throw SuperwatchError.system("write", Errno(rawValue: Int32(-written)))
            }
        }
    }

    /// Output the run wrote (raw, escape sequences and all): to the attached client, if any.
    func forward(_ chunk: UnsafeRawBufferPointer) {
        state.withLock { state in
            if let newline = chunk.lastIndex(of: 0x0A) {
                state.currentLine.removeAll(keepingCapacity: true)
                state.currentLine.append(contentsOf: chunk[(newline + 1)...].suffix(Self.replayLimit))
            } else {
                state.currentLine.append(contentsOf: chunk.suffix(Self.replayLimit))
                if state.currentLine.count > Self.replayLimit {
                    state.currentLine.removeFirst(state.currentLine.count - Self.replayLimit)
                }
            }
            guard let client = state.client else { return }
            client.output.yield(Array(chunk))
        }
    }

    /// The run's output has ended: the master closes, an attached client's stream ends.
    func end() {
        let continuation: AsyncStream<[UInt8]>.Continuation? = state.withLock { state in
            state.master = nil
            defer { state.client = nil }
            return state.client?.output
        }
        continuation?.finish()
        onEnd(runID)
    }
}

/// The pseudo-terminals of the running `tty: true` runs, by run id, and the window size new ones get:
/// superwatch's own terminal's, followed on SIGWINCH.
final class TerminalSessions: Sendable {
    private struct State {
        var sessions: [UInt64: TerminalSession] = [:]
        var size: WindowSize
        /// SIGWINCH, watched once the first terminal is made.
        var windowChanges: (any DispatchSourceSignal)?
    }
    private let state: Mutex<State>

    init(size: WindowSize = WindowSize.ofOwnTerminal()) {
        state = Mutex(State(size: size))
    }

    deinit { state.withLock { $0.windowChanges?.cancel() } }

    /// The window size a new terminal gets.
    var windowSize: WindowSize { state.withLock { $0.size } }

    /// A session for the master of run `runID`'s new terminal (a duplicate of it: the I/O loop owns the
    /// original). Watches SIGWINCH from the first one on.
    func add(runID: UInt64, process: ProcessID, master: Int32) throws(SuperwatchError) -> TerminalSession {
        let copy = OwnedDescriptor(
            takingOwnershipOf: try retryingEINTR("fcntl(F_DUPFD_CLOEXEC)") { fcntl(master, F_DUPFD_CLOEXEC, 0) })
        let session = TerminalSession(
            runID: runID, process: process, master: copy, size: windowSize,
            onEnd: { [weak self] runID in self?.remove(runID) })
        state.withLock { state in
            state.sessions[runID] = session
            if state.windowChanges == nil { state.windowChanges = watchWindowChanges() }
        }
        return session
    }

    /// The session of run `runID`, while its output lasts.
    func session(runID: UInt64) -> TerminalSession? { state.withLock { $0.sessions[runID] } }

    private func remove(_ runID: UInt64) { state.withLock { _ = $0.sessions.removeValue(forKey: runID) } }

    /// superwatch's terminal changed size: every terminal without an attached client follows.
    func windowChanged() {
        let (size, sessions) = state.withLock { state in
            state.size = WindowSize.ofOwnTerminal()
            return (state.size, Array(state.sessions.values))
        }
        for session in sessions { session.stackResized(to: size) }
    }

    private func watchWindowChanges() -> any DispatchSourceSignal {
        // SIGWINCH's default action is to ignore it; SIG_IGN keeps that and lets the source see it. ignored:
        // signal(2) fails only for an invalid number.
        signal(SIGWINCH, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: SIGWINCH, queue: DispatchQueue(label: "superwatch.winch"))
        source.setEventHandler { [weak self] in self?.windowChanged() }
        source.resume()
        return source
    }
}
