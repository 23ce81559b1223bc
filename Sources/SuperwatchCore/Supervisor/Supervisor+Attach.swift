/// A client attached to the terminal of a `tty: true` process (`superwatch attach`): the run's raw output, and
/// the ways to type into it, resize it and let go. Made of closures so that a test double of the stack can
/// offer one too.
public struct TerminalAttachment: Sendable {
    /// The run's output as the terminal gets it (escape sequences and all), from the moment of attaching; it
    /// ends at `detach()` or when the run's output ends (the process exited).
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

/// `superwatch attach`: connecting a client to the pseudo-terminal of one `tty: true` process.
extension Supervisor {
    /// Attaches a client to process (replica) `name`'s current run. Refused, with a message that says what to
    /// do, for an unknown name, a name with several replicas, a process without `tty`, one not running now, and
    /// one that already has a client.
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
        guard lifecycle.phase == .running,
            let session = terminals.session(runID: lifecycle.runID)
        else {
            throw SuperwatchError(
                .controlRefused(status: 409), "\(name) is not running now (\(lifecycle.state.rawValue))")
        }
        guard let (client, output) = session.attach() else {
            throw SuperwatchError(
                .controlRefused(status: 409),
                "\(name) already has a client attached; only one at a time (it detaches with Ctrl-])")
        }
        return TerminalAttachment(
            output: output,
            send: { bytes throws(SuperwatchError) in try await session.write(bytes, from: client) },
            resize: { session.resize(client, to: $0) }, detach: { session.detach(client) })
    }
}
