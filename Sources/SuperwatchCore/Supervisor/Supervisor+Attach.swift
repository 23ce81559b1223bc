/// A client attached to the terminal of a `tty: true` process (`superwatch attach`): the run's raw output, and
/// the ways to type into it, resize it and let go. Made of closures so that a test double of the stack can
/// offer one too.
public struct TerminalAttachment: Sendable {
    /// The output as the terminal gets it (escape sequences and all), from the moment of attaching, run after
    /// run with a notice line between them; it ends at `detach()` or when the process stops for good.
    public let output: AsyncStream<[UInt8]>
    private let sendInput: @Sendable ([UInt8]) async throws(SuperwatchError) -> Void
    private let resizeTerminal: @Sendable (WindowSize) -> Void
    private let release: @Sendable () -> Void

    public init(
        output: AsyncStream<[UInt8]>, send: @escaping @Sendable ([UInt8]) async throws(SuperwatchError) -> Void,
        resize: @escaping @Sendable (WindowSize) -> Void, detach: @escaping @Sendable () -> Void
    ) {
        self.output = output
        self.sendInput = send
        self.resizeTerminal = resize
        self.release = detach
    }

    /// Types `bytes` into the process's terminal.
    public func send(_ bytes: [UInt8]) async throws(SuperwatchError) { try await sendInput(bytes) }

    /// The client's terminal has this size: the process's gets it too (SIGWINCH).
    public func resize(_ size: WindowSize) { resizeTerminal(size) }

    /// Lets go: the process keeps running, with the stack's window size back; another client may attach.
    public func detach() { release() }
}

extension StackControl {
    /// A stack without terminals (a test double) refuses every attach.
    public func attach(_ name: String) async throws(SuperwatchError) -> TerminalAttachment {
        throw SuperwatchError(.controlRefused(status: 409), "\(name) does not run on a terminal")
    }
}

/// `superwatch attach`: connecting a client to the pseudo-terminal of one `tty: true` process, and keeping it
/// connected across the process's runs.
extension Supervisor {
    /// Attaches a client to process (replica) `name`, from its current run on. Refused, with a message that says
    /// what to do, for an unknown name, a name with several replicas, a process without `tty`, one not running
    /// now, and one that already has a client.
    public func attach(_ name: String) throws(SuperwatchError) -> TerminalAttachment {
        let selected = try select([name])
        guard selected.count == 1, let id = selected.first else {
            let replicas = selected.map { lifecycles[$0.index].spec.name }.joined(separator: ", ")
            throw SuperwatchError(
                .controlRefused(status: 409), "\(name) runs as \(replicas); attach to one of them")
        }
        let lifecycle = lifecycles[id.index]
        guard lifecycle.spec.tty else {
            throw SuperwatchError(
                .controlRefused(status: 409),
                "\(name) does not run on a terminal; give it `tty: true` in the config (or start `up --tty`) to "
                    + "attach to it")
        }
        guard lifecycle.phase == .running, terminals.session(runID: lifecycle.runID) != nil else {
            throw SuperwatchError(
                .controlRefused(status: 409), "\(name) is not running now (\(lifecycle.state.rawValue))")
        }
        guard let client = terminals.attach(process: id, runID: lifecycle.runID) else {
            throw SuperwatchError(
                .controlRefused(status: 409),
                "\(name) already has a client attached; only one at a time (it detaches with Ctrl-])")
        }
        let terminals = self.terminals
        return TerminalAttachment(
            output: client.output, send: { bytes throws(SuperwatchError) in try await client.write(bytes) },
            resize: { client.resize($0) }, detach: { terminals.detach(client) })
    }

    /// Process `id`'s run has started: its attached client, if any, follows it there.
    func attachedClientFollows(_ id: ProcessID) {
        let lifecycle = lifecycles[id.index]
        guard lifecycle.phase == .running else { return }
        terminals.runStarted(runID: lifecycle.runID, process: id, name: lifecycle.spec.name)
    }

    /// Ends process `id`'s attached client once it waits for a run that will not come: the process stopped for
    /// good (stopped by the user, exited or gave up with nothing watched that could bring it back), was removed
    /// by a reload, or `up` is stopping. While a run's output lasts the client stays, so that it sees the end.
    func endAttachmentIfOver(_ id: ProcessID) {
        guard terminals.hasWaitingClient(id) else { return }
        let lifecycle = lifecycles[id.index]
        let stopping = shuttingDown || lifecycle.shuttingDown
        let comesBack =
            !stopping && lifecycle.spec.tty && lifecycle.keepsStackAlive && lifecycle.phase != .stoppedByUser
            && lifecycle.phase != .stopping(.user)
        guard !comesBack else { return }
        let state: String
        if stopping {
            state = "stopped"
        } else if lifecycle.phase == .stopping(.user) || lifecycle.phase == .stoppedByUser {
            state = "stopped by user"
        } else {
            state = lifecycle.state.rawValue.replacingOccurrences(of: "-", with: " ")
        }
        let why = "\(lifecycle.spec.name) \(state); attach ended"
        terminals.end(process: id, notice: why)
    }
}
