import CSuperwatchShim
import Dispatch
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// The pseudo-terminal of one run of a `tty: true` process, as `attach` uses it: a duplicate of the master to
/// write typed input to and to set the window size on, and the attached client (`TerminalClient`) while the run
/// has one. The I/O loop reads the run's own copy of the master and forwards each chunk here (`forward`); when
/// that copy reaches its end (EIO: the run's output is over), the loop calls `end`, which closes this copy too,
/// so that no master descriptor outlives its run. The client outlives the run: `TerminalSessions` hands it to
/// the process's next run.
final class TerminalSession: Sendable {
    let runID: UInt64
    let process: ProcessID

    private struct State: ~Copyable {
        /// nil once ended.
        var master: OwnedDescriptor?
        /// The attached client, if any.
        var client: TerminalClient?
        /// The stack's size (superwatch's terminal), which the run has while no client is attached.
        var stackSize: WindowSize
        /// What the run wrote since its last newline (at most `replayLimit` bytes): a client that attaches gets
        /// it first, so that it sees the prompt it is to answer.
        var currentLine: [UInt8] = []
    }
    private let state: Mutex<State>
    private let onEnd: @Sendable (TerminalSession) -> Void

    /// The most of the current line replayed to a client that attaches.
    static let replayLimit = 4096

    init(
        runID: UInt64, process: ProcessID, master: consuming OwnedDescriptor, size: WindowSize,
        onEnd: @escaping @Sendable (TerminalSession) -> Void
    ) {
        self.runID = runID
        self.process = process
        self.onEnd = onEnd
        state = Mutex(State(master: master, stackSize: size))
    }

    /// Attaches `client`: from now on it gets the run's output as it comes (the current line first), and its
    /// input and size reach the run. One client at a time: false when another is attached or the run has ended.
    func attach(_ client: TerminalClient) -> Bool {
        state.withLock { state in
            guard let master = state.master?.rawValue, state.client == nil else { return false }
            state.client = client
            if let size = client.size {
                // ignored: a run whose terminal is going away keeps whatever size it had.
                _ = sw_set_window_size(master, size.rows, size.columns)
            }
            if !state.currentLine.isEmpty { client.deliver(state.currentLine) }
            return true
        }
    }

    /// `client` goes: the run gets the stack's window size back.
    func detach(_ client: TerminalClient) {
        state.withLock { state in
            guard state.client === client else { return }
            state.client = nil
            if let master = state.master?.rawValue {
                // ignored: see `attach`.
                _ = sw_set_window_size(master, state.stackSize.rows, state.stackSize.columns)
            }
        }
    }

    /// `client`'s terminal has this size: so has the run's, while it is attached.
    func resize(_ client: TerminalClient, to size: WindowSize) {
        state.withLock { state in
            guard state.client === client, let master = state.master?.rawValue else { return }
            // ignored: see `attach`.
            _ = sw_set_window_size(master, size.rows, size.columns)
        }
    }

    /// superwatch's own terminal changed size (SIGWINCH): the run follows unless a client is attached.
    func stackResized(to size: WindowSize) {
        state.withLock { state in
            state.stackSize = size
            guard state.client == nil, let master = state.master?.rawValue else { return }
            // ignored: see `attach`.
            _ = sw_set_window_size(master, size.rows, size.columns)
        }
    }

    /// Writes what `client` typed to the terminal, as a keyboard would. The master is non-blocking (it shares
    /// the I/O loop's open file): while the terminal's input queue is full (the program does not read), this
    /// waits for it in steps without holding anything up. What is typed once the run or the attachment has
    /// ended (EIO: the program has just exited) is dropped, as a terminal whose program is gone drops it; the
    /// client stays attached for the next run. Throws for any other failure.
    func write(_ bytes: [UInt8], from client: TerminalClient) async throws(SuperwatchError) {
        var offset = 0
        while offset < bytes.count {
            let written: Int = state.withLock { state in
                guard state.client === client, let master = state.master?.rawValue else { return -Int(EPIPE) }
                let n = bytes.withUnsafeBytes { Glibc.write(master, $0.baseAddress! + offset, $0.count - offset) }
                return n >= 0 ? n : -Int(errno)
            }
            if written >= 0 {
                offset += written
            } else if written == -Int(EAGAIN) || written == -Int(EINTR) {
                // ignored: a cancelled sleep only shortens the wait; the loop checks the session again.
                try? await Task.sleep(for: .milliseconds(10))
            } else if written == -Int(EPIPE) || written == -Int(EIO) {
                return
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
            state.client?.deliver(chunk)
        }
    }

    /// The run's output has ended: the master closes; an attached client waits for the process's next run.
    func end() {
        state.withLock { state in
            state.master = nil
            state.client = nil
        }
        onEnd(self)
    }
}

/// The pseudo-terminals of the running `tty: true` runs, by run id, and the window size new ones get:
/// superwatch's own terminal's, followed on SIGWINCH. Also the attached clients, one per process at most: a
/// client stays with its process across runs (`runStarted` moves it to the next one), until it detaches or the
/// supervisor ends it (`end`: the process stopped for good, was removed, or `up` is ending).
final class TerminalSessions: Sendable {
    private struct State {
        var sessions: [UInt64: TerminalSession] = [:]
        var clients: [ProcessID: TerminalClient] = [:]
        var nextClient: UInt64 = 1
        var size: WindowSize
        /// SIGWINCH, watched once the first terminal is made.
        var windowChanges: (any DispatchSourceSignal)?
    }
    private let state: Mutex<State>
    /// Told when a run's output ends under an attached client (on the I/O loop's thread): the supervisor decides
    /// whether the process comes back for it.
    private let onClientWaiting: @Sendable (ProcessID) -> Void

    init(
        size: WindowSize = WindowSize.ofOwnTerminal(),
        onClientWaiting: @escaping @Sendable (ProcessID) -> Void = { _ in }
    ) {
        state = Mutex(State(size: size))
        self.onClientWaiting = onClientWaiting
    }

    deinit { state.withLock { $0.windowChanges?.cancel() } }

    /// The window size a new terminal gets.
    var windowSize: WindowSize { state.withLock { $0.size } }

    /// The window size a new run of `process` gets: its attached client's, else the stack's.
    func windowSize(for process: ProcessID) -> WindowSize {
        let (client, size) = state.withLock { ($0.clients[process], $0.size) }
        return client?.size ?? size
    }

    /// A session for the master of run `runID`'s new terminal (a duplicate of it: the I/O loop owns the
    /// original). Watches SIGWINCH from the first one on.
    func add(runID: UInt64, process: ProcessID, master: Int32) throws(SuperwatchError) -> TerminalSession {
        let copy = OwnedDescriptor(
            takingOwnershipOf: try retryingEINTR("fcntl(F_DUPFD_CLOEXEC)") { fcntl(master, F_DUPFD_CLOEXEC, 0) })
        let session = TerminalSession(
            runID: runID, process: process, master: copy, size: windowSize,
            onEnd: { [weak self] session in self?.ended(session) })
        state.withLock { state in
            state.sessions[runID] = session
            if state.windowChanges == nil { state.windowChanges = watchWindowChanges() }
        }
        return session
    }

    /// The session of run `runID`, while its output lasts.
    func session(runID: UInt64) -> TerminalSession? { state.withLock { $0.sessions[runID] } }

    /// Attaches a new client to `process` and its run `runID`. nil when the process has a client already.
    func attach(process: ProcessID, runID: UInt64) -> TerminalClient? {
        let made: (TerminalClient, TerminalSession?)? = state.withLock { state in
            guard state.clients[process] == nil else { return nil }
            let client = TerminalClient(id: state.nextClient, process: process)
            state.nextClient += 1
            state.clients[process] = client
            return (client, state.sessions[runID])
        }
        guard let made else { return nil }
        let (client, session) = made
        // A run that ended in between leaves the client waiting for the next one, as after any run.
        if let session { bind(client, to: session) }
        return client
    }

    /// Run `runID` of `process` has started: its attached client, if any, moves to it with a notice line. A run
    /// without a terminal (a reload took `tty` away) ends the client.
    func runStarted(runID: UInt64, process: ProcessID, name: String) {
        let (client, session) = state.withLock { ($0.clients[process], $0.sessions[runID]) }
        guard let client else { return }
        guard let session else {
            end(process: process, notice: "\(name) restarted without a terminal; detached")
            return
        }
        guard client.session !== session else { return }
        if let previous = client.session { previous.detach(client) }
        client.notice("\(name) restarted")
        bind(client, to: session)
    }

    private func bind(_ client: TerminalClient, to session: TerminalSession) {
        client.bind(session)
        if !session.attach(client) { client.unbind(session) }
    }

    /// Whether `process` has a client waiting for a run (attached, with no run's output to show now).
    func hasWaitingClient(_ process: ProcessID) -> Bool {
        state.withLock { $0.clients[process] }.map { $0.session == nil } ?? false
    }

    /// `client` detaches: its run gets the stack's window size back, another client may attach.
    func detach(_ client: TerminalClient) {
        state.withLock { state in
            if state.clients[client.process] === client { state.clients[client.process] = nil }
        }
        client.end(notice: nil)?.detach(client)
    }

    /// Ends the client of `process`, if any, after a last notice line (`notice`) on its terminal.
    func end(process: ProcessID, notice: String) {
        guard let client = state.withLock({ $0.clients.removeValue(forKey: process) }) else { return }
        client.end(notice: notice)?.detach(client)
    }

    /// Ends every client: `up` is ending.
    func endAll(notice: String) {
        let clients = state.withLock { state in
            defer { state.clients.removeAll() }
            return Array(state.clients.values)
        }
        for client in clients { client.end(notice: notice)?.detach(client) }
    }

    private func ended(_ session: TerminalSession) {
        let client: TerminalClient? = state.withLock { state in
            _ = state.sessions.removeValue(forKey: session.runID)
            return state.clients[session.process]
        }
        guard let client, client.unbind(session) else { return }
        onClientWaiting(session.process)
    }

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
