import Foundation

/// What a process is doing, as `superwatch status`, the control API and the lifecycle name it. The raw values
/// are a public interface (the control API's JSON, scripts): add states, never rename one.
public enum ProcessState: String, Sendable, Codable, CaseIterable {
    /// Not started yet: a dependency is not in the condition it needs (issue 12).
    case waitingForDependencies = "waiting-for-dependencies"
    /// Started, and its readiness probe has not passed yet.
    case starting
    /// Its readiness probe passed.
    case ready
    /// Started; it has no readiness probe.
    case running
    /// A stop signal was sent; waiting for its process group to end.
    case stopping
    /// Waiting out a restart policy's backoff.
    case backingOff = "backing-off"
    /// Stopped for a file change, or down after a failure: a file change starts it again.
    case waitingForChange = "waiting-for-change"
    /// `max_restarts` restarts in a row failed.
    case gaveUp = "gave-up"
    /// Stopped by superwatch at shutdown, or never started.
    case stopped
    /// Stopped with `superwatch stop` (or the API): stays down, even on file changes, until started.
    case stoppedByUser = "stopped-by-user"
    /// Exited, and its restart policy does not start it again.
    case exited
}

/// One process (one replica) as the control API and `superwatch status` show it.
public struct ProcessStatus: Sendable, Codable, Equatable {
    /// The name in the config (`web`), or the replica's (`web.2`).
    public var name: String
    public var state: ProcessState
    /// The process group leader of the current run, while one runs.
    public var pid: Int32?
    /// When the current run started (wall clock), while one runs.
    public var startedAt: Date?
    /// How many times superwatch started it again after its first start (for any reason).
    public var restarts: Int
    /// How the last run ended: `exited with code 1`, `killed by SIGKILL`; nil before any run ended.
    public var lastExit: String?
    /// Its last run's exit status in the shell convention (code, or 128 + signal).
    public var lastExitStatus: Int32?
    /// Where it serves: each held socket's URL, or `http://127.0.0.1:PORT` for a `$PORT` command.
    public var addresses: [String]
    public var port: Int?
    /// How many files its watcher watches now (0 without `watch`).
    public var watchedFiles: Int
    /// The last restart for a file change: from the change to the new run's start, in milliseconds.
    public var lastReloadMilliseconds: Int?
    /// Why it is in its state, when that needs saying (`waiting for db (ready)`, `gave up after 5 restarts`).
    public var detail: String?
    /// For a process that is `ready`: from its current run's start to its readiness probe's pass.
    public var readyAfterMilliseconds: Int?

    public init(
        name: String, state: ProcessState, pid: Int32? = nil, startedAt: Date? = nil, restarts: Int = 0,
        lastExit: String? = nil, lastExitStatus: Int32? = nil, addresses: [String] = [], port: Int? = nil,
        watchedFiles: Int = 0, lastReloadMilliseconds: Int? = nil, detail: String? = nil,
        readyAfterMilliseconds: Int? = nil
    ) {
        self.name = name
        self.state = state
        self.pid = pid
        self.startedAt = startedAt
        self.restarts = restarts
        self.lastExit = lastExit
        self.lastExitStatus = lastExitStatus
        self.addresses = addresses
        self.port = port
        self.watchedFiles = watchedFiles
        self.lastReloadMilliseconds = lastReloadMilliseconds
        self.detail = detail
        self.readyAfterMilliseconds = readyAfterMilliseconds
    }
}

/// One line of a process's output, or one of superwatch's events, as kept in a process's ring buffer and
/// sent to clients that follow the logs.
public struct LogRecord: Sendable, Codable, Equatable {
    public enum Stream: String, Sendable, Codable {
        case stdout, stderr
        /// One of superwatch's own events (`kind` says which).
        case event
    }

    /// The process's name, or `superwatch` for the stack's own events.
    public var process: String
    public var stream: Stream
    /// When superwatch read the line (wall clock).
    public var time: Date
    /// The line without its newline, as the process wrote it (invalid UTF-8 replaced).
    public var text: String
    /// For `stream == .event`: the event kind (`SupervisorEvent.Kind`'s raw value).
    public var kind: String?

    public init(process: String, stream: Stream, time: Date, text: String, kind: String? = nil) {
        self.process = process
        self.stream = stream
        self.time = time
        self.text = text
        self.kind = kind
    }
}

/// What `StackControl.follow` gives a follower: the last records, then every later one in batches as they are
/// written (a round of the I/O loop's lines at a time), until the stack ends or the stream is dropped.
public struct LogFollow: Sendable {
    /// The last `tail` records asked for, oldest first.
    public var backlog: [LogRecord]
    /// Every record after the backlog's last: none missed between the two, none in both.
    public var batches: AsyncStream<[LogRecord]>
    /// Ends `batches` now, after what is queued for it (the control API's `timeout`).
    public var finish: @Sendable () -> Void
    /// Whether the stack's end has finished `batches`, and how many records the reader lost for being behind.
    public var standing: @Sendable () -> FollowStanding
    /// Takes what is still queued for `batches` away unsent (a reader cut short); returns how many records.
    public var discardQueued: @Sendable () -> Int

    public init(
        backlog: [LogRecord], batches: AsyncStream<[LogRecord]>, finish: @escaping @Sendable () -> Void,
        standing: @escaping @Sendable () -> FollowStanding = { FollowStanding() },
        discardQueued: @escaping @Sendable () -> Int = { 0 }
    ) {
        self.backlog = backlog
        self.batches = batches
        self.finish = finish
        self.standing = standing
        self.discardQueued = discardQueued
    }
}

/// Where a follow stream stands (`LogFollow.standing`).
public struct FollowStanding: Sendable, Equatable {
    /// When the stack's end finished the stream; nil while the stack runs.
    public var stackEndedAt: ContinuousClock.Instant?
    /// Records dropped so far because the reader was behind.
    public var dropped: Int

    public init(stackEndedAt: ContinuousClock.Instant? = nil, dropped: Int = 0) {
        self.stackEndedAt = stackEndedAt
        self.dropped = dropped
    }
}

/// What a live config reload did (`Supervisor.reload()`, `superwatch reload`): the names of the processes
/// (replicas) it started, stopped, restarted for changed settings, and left running untouched.
public struct ReloadSummary: Sendable, Codable, Equatable {
    /// New in the config: started.
    public var added: [String]
    /// Gone from the config: stopped, no longer shown or restarted.
    public var removed: [String]
    /// Their resolved settings changed: stopped and started with the new ones.
    public var restarted: [String]
    /// Left running as they were (same pids).
    public var unchanged: [String]

    public init(added: [String] = [], removed: [String] = [], restarted: [String] = [], unchanged: [String] = []) {
        self.added = added
        self.removed = removed
        self.restarted = restarted
        self.unchanged = unchanged
    }
    /// What `superwatch reload` prints: a line per process it acted on (`started api`, `stopped worker`,
    /// `restarted web`), as `superwatch restart` prints one per process, or `nothing changed`.
    public var report: String {
        let lines =
            added.map { "started \($0)" } + removed.map { "stopped \($0)" } + restarted.map { "restarted \($0)" }
        return (lines.isEmpty ? ["nothing changed"] : lines).map { $0 + "\n" }.joined()
    }
}

/// What the control API needs from a running stack; `Supervisor` provides it. Every operation that names
/// processes checks all the names first: an unknown one is an error (`SuperwatchError.Code.unknownProcess`)
/// and nothing is done. A name selects a process and all its replicas (`web`), or one replica (`web.2`).
public protocol StackControl: Sendable {
    func status() async -> [ProcessStatus]
    /// Stops and starts the named processes (a `werkzeug:` process through its standby interpreter);
    /// returns the names of the processes (replicas) it acted on.
    func restart(_ names: [String]) async throws(SuperwatchError) -> [String]
    /// Stops the named processes; they stay down, even on file changes, until `start`.
    func stop(_ names: [String]) async throws(SuperwatchError) -> [String]
    /// Starts the named processes that are down (stopped by the user, exited, given up).
    func start(_ names: [String]) async throws(SuperwatchError) -> [String]
    /// Stops the whole stack as Ctrl-C does; returns at once (`up` ends when everything has stopped).
    func shutdown() async
    /// The last `tail` lines of the named processes (all when `names` is empty), oldest first.
    func logs(_ names: [String], tail: Int) async throws(SuperwatchError) -> [LogRecord]
    /// The last `tail` lines and events of the named processes (all when `names` is empty), then every later
    /// one, until the stack ends or the stream is dropped. A slow reader loses the oldest records, never slows
    /// the stack.
    func follow(_ names: [String], tail: Int) async throws(SuperwatchError) -> LogFollow
    /// Reads the config file (and its env files) again and applies the difference, all or nothing: an invalid
    /// config (`.invalidConfig`, with its position) or an address that cannot be bound changes nothing.
    func reload() async throws(SuperwatchError) -> ReloadSummary
    /// Attaches a client to the terminal of the `tty: true` process (replica) `name` (Supervisor+Attach.swift;
    /// a stack without terminals refuses).
    func attach(_ name: String) async throws(SuperwatchError) -> TerminalAttachment
}
