#if canImport(Glibc)
    import Glibc
#endif

/// What a channel of a run carries, which decides how the I/O loop parses it.
enum ChannelKind: Sendable, Equatable, CustomStringConvertible {
    /// The process's output, cut into lines for the log: a stdout or stderr pipe, or a pseudo-terminal.
    case output(StreamKind)
    /// A `werkzeug:` bootstrap's report pipe: `BootstrapReport` lines, passed on to the supervisor.
    case report

    var description: String {
        switch self {
        case .output(let stream): return stream.rawValue
        case .report: return "report"
        }
    }
}

/// One descriptor of a run that the I/O loop reads until its end of file, and what it carries. A class so that
/// it can sit in a run's list of channels while owning its descriptor, which closes exactly once: when the
/// last reference to the channel goes (the I/O loop drops it at the end of file).
final class Channel: Sendable {
    let kind: ChannelKind
    let descriptor: OwnedDescriptor

    /// Takes over `descriptor`, the read end.
    init(_ kind: ChannelKind, _ descriptor: consuming OwnedDescriptor) {
        self.kind = kind
        self.descriptor = descriptor
    }

    var fd: Int32 { descriptor.rawValue }
}

/// The channels and exit of one run of a process. Not copyable: `IOLoop.add` consumes it, so handing a run's
/// descriptors to the loop is a move the compiler checks, and nothing else can close or read them after.
struct RunIO: ~Copyable, Sendable {
    let runID: UInt64
    let process: ProcessID
    /// The run's leader (its process group).
    let pid: pid_t
    /// Readable once the leader exited.
    let pidfd: OwnedDescriptor
    let channels: [Channel]
    /// Look for "address already in use" in the output (a `listen:` process; see `AddressInUseScan`).
    let scansForAddressInUse: Bool
    /// For a run on a pseudo-terminal (its `output(pty)` channel): where `attach` gets its output; ended when
    /// that channel ends.
    let terminal: TerminalSession?

    init(
        runID: UInt64, process: ProcessID, pid: pid_t, pidfd: consuming OwnedDescriptor, channels: [Channel],
        scansForAddressInUse: Bool = false, terminal: TerminalSession? = nil
    ) {
        self.runID = runID
        self.process = process
        self.pid = pid
        self.pidfd = pidfd
        self.channels = channels
        self.scansForAddressInUse = scansForAddressInUse
        self.terminal = terminal
    }
}
