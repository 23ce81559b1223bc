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

/// One descriptor of a run that the I/O loop reads until its end of file, and what it carries.
struct Channel: Sendable {
    var kind: ChannelKind
    /// The read end; the loop owns it from `IOLoop.add` on and closes it.
    var fd: Int32
}

/// The channels and exit of one run of a process, handed to the I/O loop when it starts.
struct RunIO: Sendable {
    var runID: UInt64
    var process: ProcessID
    /// The run's pidfd: readable once it exited.
    var pidfd: Int32
    var channels: [Channel]
    /// Look for "address already in use" in the output (a `listen:` process; see `AddressInUseScan`).
    var scansForAddressInUse = false
}
