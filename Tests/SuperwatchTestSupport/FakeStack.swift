import Foundation
import SuperwatchCore
import Synchronization

/// A stand-in for a running stack behind the control API: processes with states and a log in memory, changed
/// by the verbs of `StackControl` as the supervisor changes them. Tests of the server and the CLI serve it on a
/// real socket and watch what their requests did to it.
public actor FakeStack: StackControl {
    public private(set) var processes: [ProcessStatus]
    public private(set) var records: [LogRecord] = []
    /// Every verb that acted, as `restart web.1`: a refused request adds nothing.
    public private(set) var actions: [String] = []
    public private(set) var shutdownRequested = false
    private var followers: [Int: (names: Set<String>?, continuation: AsyncStream<[LogRecord]>.Continuation)] = [:]
    private var nextFollower = 0
    private var nextPID: Int32 = 4000

    public init(_ processes: [ProcessStatus]) {
        self.processes = processes
    }

    /// `web` running as pid 4001, `worker` with two replicas (`worker.1`, `worker.2`), `db` stopped.
    public static func sample() -> FakeStack {
        let started = Date(timeIntervalSince1970: 1_700_000_000)
        return FakeStack([
            ProcessStatus(
                name: "web", state: .running, pid: 4001, startedAt: started, addresses: ["http://127.0.0.1:5000"],
                port: 5000, watchedFiles: 12),
            ProcessStatus(name: "worker.1", state: .running, pid: 4002, startedAt: started, restarts: 2),
            ProcessStatus(
                name: "worker.2", state: .backingOff, restarts: 3, lastExit: "exited with code 1", lastExitStatus: 1),
            ProcessStatus(name: "db", state: .stopped),
        ])
    }

    /// Adds a line or an event to the log, as the supervisor does when a process writes one.
    public func emit(_ record: LogRecord) {
        records.append(record)
        for (_, follower) in followers where follower.names?.contains(record.process) ?? true {
            follower.continuation.yield([record])
        }
    }

    /// `emit` of an output line of `process` now, to the whole second: a time the API's millisecond format
    /// carries exactly, so that a record read back compares equal.
    public func emit(_ process: String, _ text: String, stream: LogRecord.Stream = .stdout) {
        let now = Date().timeIntervalSince1970.rounded(.down)
        emit(LogRecord(process: process, stream: stream, time: Date(timeIntervalSince1970: now), text: text))
    }

    /// How many `follow` streams are open.
    public var followerCount: Int { followers.count }
    /// How many `follow` streams were ever opened.
    public private(set) var followsOpened = 0

    public func status() async -> [ProcessStatus] { processes }

    public func restart(_ names: [String]) async throws(SuperwatchError) -> [String] {
        try act("restart", names) { process in
            process.state = .running
            process.pid = newPID()
            process.restarts += 1
        }
    }

    public func stop(_ names: [String]) async throws(SuperwatchError) -> [String] {
        try act("stop", names) { process in
            process.state = .stoppedByUser
            process.pid = nil
        }
    }

    public func start(_ names: [String]) async throws(SuperwatchError) -> [String] {
        try act("start", names) { process in
            guard process.pid == nil else { return }
            process.state = .running
            process.pid = newPID()
        }
    }

    /// Marks the request and ends every follower, as the end of `up` ends them.
    public func shutdown() async {
        shutdownRequested = true
        for (_, follower) in followers { follower.continuation.finish() }
        followers = [:]
    }

    public func logs(_ names: [String], tail: Int) async throws(SuperwatchError) -> [LogRecord] {
        let selected = names.isEmpty ? nil : Set(try resolve(names))
        return Array(records.filter { selected?.contains($0.process) ?? true }.suffix(tail))
    }

    public func follow(_ names: [String], tail: Int) async throws(SuperwatchError) -> LogFollow {
        let backlog = try await logs(names, tail: tail)
        let selected = names.isEmpty ? nil : Set(try resolve(names))
        let id = nextFollower
        nextFollower += 1
        let (stream, continuation) = AsyncStream.makeStream(
            of: [LogRecord].self, bufferingPolicy: .bufferingNewest(1000))
        continuation.onTermination = { _ in Task { await self.forget(id) } }
        followers[id] = (selected, continuation)
        followsOpened += 1
        let standing = followStanding
        let queued = followQueued
        return LogFollow(
            backlog: backlog, batches: stream, finish: { continuation.finish() }, standing: { standing },
            discardQueued: { queued })
    }

    /// What the follow streams opened from now on say of themselves (`LogFollow.standing`), and how many records
    /// they had queued when they are cut: a stack that has ended with its followers behind.
    private var followStanding = FollowStanding()
    private var followQueued = 0

    /// Makes the follow streams opened from now on report `standing`, and `queued` records dropped when cut.
    public func standFollowers(_ standing: FollowStanding, queued: Int) {
        followStanding = standing
        followQueued = queued
    }

    private func forget(_ id: Int) { followers[id] = nil }

    /// The processes that run on a terminal (`attach` is refused for the others): `web` unless a test says.
    public var terminalProcesses: Set<String> = ["web"]
    /// How many attaches were accepted.
    public private(set) var attachesOpened = 0
    /// What each attached client typed, by process, in order.
    public private(set) var typed: [String: [UInt8]] = [:]
    /// The processes with a client attached; a detach leaves at once (the client's next attach must not race it).
    private final class Attached: Sendable { let names = Mutex<Set<String>>([]) }
    private let attached = Attached()

    /// As the supervisor's: refused for an unknown name, several replicas, a process without a terminal and a
    /// second client. An attached client's output is `terminal> ` until it detaches.
    public func attach(_ name: String) async throws(SuperwatchError) -> TerminalAttachment {
        let selected = try resolve([name])
        guard selected.count == 1, let process = selected.first else {
            throw SuperwatchError(
                .controlRefused(status: 409), "\(name) runs as \(selected.joined(separator: ", ")); attach to one")
        }
        guard terminalProcesses.contains(process) else {
            throw SuperwatchError(.controlRefused(status: 409), "\(process) does not run on a terminal")
        }
        guard attached.names.withLock({ $0.insert(process).inserted }) else {
            throw SuperwatchError(.controlRefused(status: 409), "\(process) already has a client attached")
        }
        attachesOpened += 1
        let (output, continuation) = AsyncStream.makeStream(of: [UInt8].self)
        continuation.yield(Array("terminal> ".utf8))
        return TerminalAttachment(
            output: output, send: { bytes in await self.record(bytes, typedInto: process) }, resize: { _ in },
            detach: { [attached] in
                continuation.finish()
                _ = attached.names.withLock { $0.remove(process) }
            })
    }

    private func record(_ bytes: [UInt8], typedInto process: String) { typed[process, default: []] += bytes }

    /// What the next `reload` answers (`answerReloads`): nothing changed, unless a test says otherwise.
    private var reloadAnswer: Result<ReloadSummary, SuperwatchError> = .success(ReloadSummary())

    /// Makes `reload` answer `answer` from now on.
    public func answerReloads(_ answer: Result<ReloadSummary, SuperwatchError>) { reloadAnswer = answer }

    public func reload() async throws(SuperwatchError) -> ReloadSummary {
        let summary = try reloadAnswer.get()
        actions.append("reload")
        return summary
    }

    private func newPID() -> Int32 {
        nextPID += 1
        return nextPID
    }

    /// Every name checked before anything is done, as `StackControl` requires.
    private func act(_ verb: String, _ names: [String], _ change: (inout ProcessStatus) -> Void)
        throws(SuperwatchError) -> [String]
    {
        let selected = try resolve(names)
        for name in selected {
            let index = processes.firstIndex { $0.name == name }!
            change(&processes[index])
            actions.append("\(verb) \(name)")
        }
        return selected
    }

    /// `web` is every replica of web, `web.2` one; an unknown name is the supervisor's error.
    private func resolve(_ names: [String]) throws(SuperwatchError) -> [String] {
        var selected: [String] = []
        for name in names {
            let matching = processes.map(\.name).filter { $0 == name || $0.hasPrefix(name + ".") }
            guard !matching.isEmpty else {
                throw SuperwatchError(
                    .unknownProcess(name: name),
                    "no process named \(name); the stack has \(processes.map(\.name).joined(separator: ", "))")
            }
            selected += matching.filter { !selected.contains($0) }
        }
        return selected
    }
}
