import CSuperwatchShim
import Dispatch
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// The state of one process in its life under superwatch. Every transition happens in `Supervisor`, in
/// the handlers below; nothing else changes it.
enum ProcessPhase: Sendable, Equatable {
    /// Not started (not selected, or before the first start).
    case idle
    case running
    /// A stop signal was sent; what happens once the group is gone.
    case stopping(StopIntent)
    /// Waiting out a policy backoff before the next start.
    case backingOff
    /// Stopped because files changed; starts again once the burst of changes has settled.
    case awaitingChanges
    /// Exited and not restarted by its policy (it may come back on a file change).
    case stopped
    /// `max_restarts` restarts in a row failed.
    case gaveUp
}

/// Why a process is being stopped.
enum StopIntent: Sendable, Equatable {
    /// Files changed: start again once the group is gone and the burst has settled.
    case restart
    case shutdown
}

/// Everything the supervisor tracks about one configured process.
struct ProcessRuntime: Sendable {
    let index: Int
    let spec: ProcessSpec
    var phase: ProcessPhase = .idle
    var tracker = RestartTracker()
    /// Identifies the current run; events of earlier runs are ignored.
    var runID: UInt64 = 0
    var pid: pid_t = 0
    var startedAt: ContinuousClock.Instant = .now
    /// Identifies the current timer (backoff or stop timeout); older timers are stale.
    var timerToken: UInt64 = 0
    /// A burst of file changes has begun and not yet settled.
    var burstOpen = false
    /// The changed paths to pass to the next start as SUPERWATCH_CHANGED.
    var changedPaths: [String] = []
    /// The path the open burst's `restarting` event named.
    var announcedChange: String?
    /// Whether a start was logged: the first shows the command, later ones only the pid.
    var startedBefore = false
}

/// How `superwatch up` shows the stack. (Which processes run is the `StackPlan`'s business: the supervisor
/// runs every process of the config it is given.)
public struct UpOptions: Sendable {
    public var log: LogOptions
    /// Where to write the Python superwatch runs (`PythonFiles`), when a process needs it; nil: a new directory
    /// under the temporary directory. Removed when `up` ends.
    public var pythonDirectory: String?

    public init(log: LogOptions = LogOptions(), pythonDirectory: String? = nil) {
        self.log = log
        self.pythonDirectory = pythonDirectory
    }
}

/// Runs a stack: starts the processes, applies restart codes and policies to each independently, and stops
/// everything on request. `run()` returns superwatch's exit status.
public actor Supervisor {
    enum Event: Sendable {
        case exited(runID: UInt64, process: Int, Termination)
        /// The process group of a run is empty (or was killed) after its leader exited.
        case groupGone(runID: UInt64, process: Int, Termination)
        case backoffElapsed(process: Int, token: UInt64)
        case stopTimeout(process: Int, token: UInt64)
        case signal(Int32)
        /// A `werkzeug:` bootstrap reported the files of the modules its app loaded.
        case reported(process: Int, BootstrapReport)
        case watch(WatchEvent)
        /// stdout's reader is gone (`up | head`, a pager that quit).
        case stdoutClosed
        /// The I/O loop cannot go on (epoll failed): `up` ends with this error.
        case ioFailed(SuperwatchError)
    }

    private let sink: OutputSink
    /// Every line and event: the terminal, the per-process ring buffers, subscribers.
    let output: LogFanOut
    /// Why the I/O loop ended, when it failed: `up` stops everything and throws it.
    private var ioFailure: SuperwatchError?
    private var processes: [ProcessRuntime]
    private var shuttingDown = false
    private var firstFailure: Int32?
    /// The process `firstFailure` came from, for the closing line.
    private var firstFailureProcess: Int?
    /// The config file, as the user named it, for the start banner.
    private let configFile: String
    private var nextRunID: UInt64 = 0
    private var nextToken: UInt64 = 0
    /// The keeper, cgroups and the scan for escaped processes: every start and signal goes through it.
    private let containment: Containment
    private let events: AsyncStream<Event>
    private let eventSink: AsyncStream<Event>.Continuation
    private var pendingTimers: [(Duration, Event)] = []
    private var baseEnvironment: [String: String]
    /// Per process: the sockets superwatch holds for it across restarts.
    private var sockets: [[HeldSocket]] = []
    /// The Python superwatch runs, written out when a process has a TCP socket (for the injected
    /// `sitecustomize.py`) or is a `werkzeug:` process (for the bootstrap).
    private var pythonFiles: PythonFiles?
    private let pythonDirectory: String?
    /// Per `werkzeug:` process: the interpreter to start (`PythonInterpreter`), found at its first start.
    private var interpreters: [Int: PythonInterpreter] = [:]
    /// Processes whose bootstrap reported files to watch: a change to one of them can bring them back.
    private var reportedFiles: Set<Int> = []
    private var watcher: FileWatcher?
    /// Standby interpreters of `werkzeug:` processes, by process index.
    private var spares: [Int: Spare] = [:]
    /// Installed packages each `werkzeug:` process's app imported, for its next standby interpreter.
    private var preloads: [Int: [String]] = [:]

    public init(config: Config, options: UpOptions, sink: OutputSink = OutputSink()) {
        self.sink = sink
        self.configFile = config.file
        let formatter = LogFormatter(names: config.processes.map(\.name), options: options.log)
        let output = LogFanOut(formatter: formatter, sink: sink)
        self.output = output
        self.processes = config.processes.enumerated().map { ProcessRuntime(index: $0, spec: $1) }
        self.pythonDirectory = options.pythonDirectory
        (events, eventSink) = AsyncStream<Event>.makeStream()
        baseEnvironment = ChildLaunch.baseEnvironment(inherited: ProcessInfo.processInfo.environment, stack: config.env)
        containment = Containment(environment: ProcessInfo.processInfo.environment) { index, event in
            output.event(index.map(ProcessID.init), event)
        }
    }

    /// Runs the stack until it is asked to stop or nothing is left to run; returns the exit status, 128 +
    /// SIGPIPE once stdout was closed. What stdout has not taken a second after that is dropped.
    public func run() async throws(SuperwatchError) -> Int32 {
        let eventSink = self.eventSink
        sink.onClosed { eventSink.yield(.stdoutClosed) }
        let status: Int32
        do {
            status = try await supervise()
        } catch {
            sink.finish(within: .seconds(1))
            throw error
        }
        return sink.finish(within: .seconds(1)) == .closed ? 128 + SIGPIPE : status
    }

    private func supervise() async throws(SuperwatchError) -> Int32 {
        try bindSockets()
        if processes.contains(where: { $0.spec.werkzeug != nil }) || sockets.contains(where: { $0.first?.port != nil })
        {
            if let pythonDirectory {
                pythonFiles = try PythonFiles.install(at: pythonDirectory)
            } else {
                pythonFiles = try PythonFiles.installTemporary()
            }
        }
        defer { pythonFiles?.remove() }
        announce()
        let eventSink = self.eventSink
        let specs = processes.map { WatchSpec(process: $0.index, spec: $0.spec) }.filter { !$0.isEmpty }
        if !specs.isEmpty {
            watcher = try FileWatcher(specs: specs) { eventSink.yield(.watch($0)) }
        }
        try containment.start()
        let io = try IOLoop(
            output: output,
            onExit: { eventSink.yield(.exited(runID: $0, process: $1.index, $2)) },
            onReport: { eventSink.yield(.reported(process: $0.index, $1)) },
            onFailure: { eventSink.yield(.ioFailed($0)) })
        io.start()
        let signalSources = SignalSources.install([SIGINT, SIGTERM, SIGHUP]) { eventSink.yield(.signal($0)) }
        watcher?.start()
        defer {
            watcher?.stop()
            signalSources.cancel()
            containment.close()
        }
        for index in processes.indices { start(index, io: io) }
        // A discarding group frees each timer as it finishes; a plain one would keep them all until `up` ends.
        await withDiscardingTaskGroup { group in
            scheduleTimers(in: &group)
            guard isAlive else { return }
            for await event in events {
                handle(event, io: io)
                scheduleTimers(in: &group)
                if !isAlive || ioFailure != nil { break }
            }
            group.cancelAll()
        }
        // What left its process group and is still running goes with the stack.
        await containment.finish()
        // Whatever is still in a pipe is printed before `up` returns.
        await io.stop()
        if let ioFailure { throw ioFailure }
        if shuttingDown { return 0 }
        let status = firstFailure ?? 0
        // Ended on its own (nothing runs, nothing can come back): say so, and which process decided the status.
        var fields: [(String, SupervisorEvent.Value)] = [("code", .int(Int(status)))]
        var from = ""
        if let index = firstFailureProcess {
            from = " from \(processes[index].spec.name)"
            fields.append(("from", .string(processes[index].spec.name)))
        }
        log(nil, .allStopped, "all processes have stopped; exit status \(status)\(from)", fields)
        return status
    }

    /// The start banner: the file, how many processes, how to stop; then where each process serves: every
    /// held socket, and `http://127.0.0.1:PORT` for a process without `listen` whose command uses `$PORT` (a
    /// program that does not is not shown an address it may not serve on).
    private func announce() {
        let count = processes.count
        log(
            nil, .banner, "\(configFile): \(counted(count, "process", plural: "processes")); Ctrl-C to stop",
            [("file", .string(configFile)), ("processes", .int(count))])
        var announced = Set<ObjectIdentifier>()
        for (index, process) in processes.enumerated() {
            let mine = sockets.indices.contains(index) ? sockets[index] : []
            for socket in mine where announced.insert(ObjectIdentifier(socket)).inserted {
                log(index, .listening, socket.url, [("address", .string(socket.url))])
            }
            if mine.isEmpty, let text = process.spec.env["PORT"], let port = Int(text), process.spec.command.usesPort {
                let url = "http://127.0.0.1:\(port)"
                log(index, .port, url, [("address", .string(url)), ("port", .int(port))])
            }
        }
    }

    private func scheduleTimers(in group: inout DiscardingTaskGroup) {
        for (delay, event) in pendingTimers {
            let eventSink = self.eventSink
            group.addTask {
                try? await Task.sleep(for: delay)
                if !Task.isCancelled { eventSink.yield(event) }
            }
        }
        pendingTimers.removeAll()
    }

    /// Whether `up` still has something to do.
    private var isAlive: Bool {
        processes.contains { process in
            switch process.phase {
            case .running, .stopping, .backingOff, .awaitingChanges: return true
            case .stopped, .gaveUp: return !shuttingDown && canBeRevived(process.index)
            case .idle: return false
            }
        }
    }

    /// Whether a file change can bring process `index` back: it has watch globs or extra files, or its
    /// bootstrap reported files (which may not exist yet) to watch.
    private func canBeRevived(_ index: Int) -> Bool {
        let spec = processes[index].spec
        return !spec.watch.isEmpty || !spec.extraFiles.isEmpty || reportedFiles.contains(index)
    }

    // MARK: - Events

    private func handle(_ event: Event, io: IOLoop) {
        switch event {
        case .exited(let runID, let index, let status):
            if let spare = spares[index], spare.runID == runID {
                // The standby interpreter died before it was needed: clean up after it, start without one.
                discardSpare(index)
                io.drain(runID: runID) {}
                return
            }
            guard processes[index].runID == runID else { return }
            leaderExited(index, status: status, io: io)
        case .groupGone(let runID, let index, let status):
            guard processes[index].runID == runID else { return }
            if processes[index].pid > 0 { containment.release(processes[index].pid) }
            runEnded(index, status: status, io: io)
        case .backoffElapsed(let index, let token):
            guard processes[index].timerToken == token, processes[index].phase == .backingOff,
                !processes[index].burstOpen
            else { return }
            start(index, io: io)
        case .stopTimeout(let index, let token):
            guard processes[index].timerToken == token, case .stopping = processes[index].phase else { return }
            guard processes[index].pid > 0 else { return }
            log(
                index, .stopTimeout,
                "did not stop within \(processes[index].spec.stopTimeout.humanReadable); sending SIGKILL to its process group"
            )
            containment.signal(processes[index].pid, SIGKILL)
        case .signal(let number):
            requestShutdown(signal: number)
        case .reported(let index, let report):
            if !report.files.isEmpty {
                watcher?.addFiles(process: index, paths: report.files)
                reportedFiles.insert(index)
            }
            if !report.preloads.isEmpty {
                var known = preloads[index] ?? []
                for name in report.preloads where !known.contains(name) { known.append(name) }
                preloads[index] = known
                prepareSpare(index, io: io)
            }
        case .watch(.burstStarted(let index, let path)):
            changeBegan(index, path: path)
        case .watch(.settled(let index, let paths)):
            changeSettled(index, paths: paths, io: io)
        case .watch(.notice(let index, let message)):
            log(index, .notice, message)
        case .stdoutClosed:
            // As SIGPIPE would, had superwatch not ignored it: stop the stack (its events go nowhere now).
            guard !shuttingDown else { return }
            OutputSink.notice("stdout was closed; stopping all processes")
            requestShutdown(signal: SIGPIPE)
        case .ioFailed(let error):
            // No exit can be reaped, no pipe read any more: a graceful stop would wait forever.
            ioFailure = error
            shuttingDown = true
            for index in spares.keys { discardSpare(index) }
            for process in processes where process.pid > 0 { containment.signal(process.pid, SIGKILL) }
            containment.stopStrays(with: SIGKILL)
        }
    }

    /// The first change of a burst: say so, and stop the process now, so that stopping overlaps the debounce.
    private func changeBegan(_ index: Int, path: String) {
        guard !shuttingDown else { return }
        processes[index].burstOpen = true
        processes[index].announcedChange = path
        log(index, .restarting, "restarting: \(path) changed", [("changed", .string(path))])
        if processes[index].phase == .running {
            stop(index, intent: .restart)
        }
    }

    /// The burst is over: start the process with the changed paths, once it is down.
    private func changeSettled(_ index: Int, paths: [String], io: IOLoop) {
        guard !shuttingDown else { return }
        processes[index].burstOpen = false
        // Added to the paths of a burst that settled while the process was still stopping: the next start
        // needs them all (SUPERWATCH_CHANGED, stale bytecode).
        let earlier = Set(processes[index].changedPaths)
        processes[index].changedPaths += paths.filter { !earlier.contains($0) }
        // The restart was announced with the burst's first path; the others are named now that all are known.
        let others = paths.filter { $0 != processes[index].announcedChange }
        if let first = others.first {
            let more = others.count > 1 ? " (+\(others.count - 1) more)" : ""
            log(
                index, .changed, "also changed: \(first)\(more)",
                [("changed", .string(paths.prefix(100).joined(separator: "\n")))])
        }
        switch processes[index].phase {
        case .running:
            // Started during the burst (a backoff ended): stop it again, it predates some of the changes.
            stop(index, intent: .restart)
        case .awaitingChanges, .backingOff, .stopped, .gaveUp, .idle:
            // A process that is down comes back on a change, with its failures forgotten.
            processes[index].tracker.reset()
            start(index, io: io)
        case .stopping:
            break  // it starts again once its group is gone
        }
    }

    /// Binds every `listen:` address before anything starts: a busy port stops `up` with nothing started.
    private func bindSockets() throws(SuperwatchError) {
        var held: [[HeldSocket]] = []
        var shared: [String: [HeldSocket]] = [:]
        for process in processes {
            // Replicas of one process share its sockets: bound once, passed to each.
            if let base = process.spec.replicaOf, let existing = shared[base] {
                held.append(existing)
                continue
            }
            var mine: [HeldSocket] = []
            for listen in process.spec.listen {
                do {
                    mine.append(try HeldSocket.bind(listen.address))
                } catch {
                    var located = error
                    located.location = listen.location
                    throw located
                }
            }
            held.append(mine)
            if let base = process.spec.replicaOf { shared[base] = mine }
        }
        sockets = held
    }

    /// The group leader exited. Anything left in its group (a backgrounded grandchild) is stopped too, so
    /// nothing outlives its process; once the group is empty, what it wrote last is printed and the run ends.
    private func leaderExited(_ index: Int, status: Termination, io: IOLoop) {
        let pgid = processes[index].pid
        let runID = processes[index].runID
        let eventSink = self.eventSink
        let ended: @Sendable () -> Void = {
            io.drain(runID: runID) { eventSink.yield(.groupGone(runID: runID, process: index, status)) }
        }
        let containment = self.containment
        guard containment.isAlive(pgid) else { return ended() }
        let spec = processes[index].spec
        if case .stopping = processes[index].phase {} else { containment.signal(pgid, spec.stopSignal.rawValue) }
        let deadline = ContinuousClock.now + spec.stopTimeout
        // Polling is the only way to learn that a process group has emptied; it lasts at most stop_timeout.
        Task.detached {
            while containment.isAlive(pgid), ContinuousClock.now < deadline {
                try? await Task.sleep(for: .milliseconds(10))
            }
            containment.signal(pgid, SIGKILL)
            ended()
        }
    }

    private func runEnded(_ index: Int, status: Termination, io: IOLoop) {
        var process = processes[index]
        let ranFor = ContinuousClock.now - process.startedAt
        defer { processes[index] = process }
        switch process.phase {
        case .stopping(.shutdown):
            process.phase = .stopped
            log(index, .exited, "stopped (\(status))", status)
            return
        case .stopping(.restart):
            log(index, .exited, "stopped for restart (\(status))", status)
            if process.burstOpen {
                process.phase = .awaitingChanges
            } else {
                processes[index] = process
                start(index, io: io)
                process = processes[index]
            }
            return
        default:
            break
        }
        log(index, .exited, status.description, status)
        if shuttingDown {
            process.phase = .stopped
            return
        }
        if let app = process.spec.werkzeug, case .exited(let code) = status,
            code == PythonProtocol.exitImportFailed || code == PythonProtocol.exitWerkzeugMissing
        {
            // Starting again cannot help until a file changes: down, and waiting only if one can.
            process.phase = .stopped
            recordFailure(index, status)
            let waiting = canBeRevived(index)
            if code == PythonProtocol.exitImportFailed {
                log(
                    index, .down,
                    "the app failed to import"
                        + (waiting
                            ? "; waiting for a change to one of its files" : "; nothing to watch, not restarting"))
            } else {
                log(
                    index, .down,
                    "Werkzeug is not installed for \(app.python)"
                        + (waiting ? "; waiting for a file change" : "; not restarting"))
            }
            return
        }
        let decision = process.tracker.decide(status, ranFor: ranFor, spec: process.spec)
        if process.tracker.stormBegan {
            log(
                index, .restartStorm,
                "exit code \(status.shellStatus) asked for a restart "
                    + "\(RestartTracker.quickRestartLimit) times in a row, each within "
                    + "\(RestartTracker.quickRun.humanReadable) of starting: treating it as a failure until a run lasts longer"
            )
        }
        switch decision {
        case .restartNow:
            log(index, .restarting, "restarting: exit code \(status.shellStatus) asks for a restart")
            processes[index] = process
            start(index, io: io)
            process = processes[index]
        case .restartAfter(let delay, let attempt):
            log(
                index, .backoff,
                "restarting in \(delay.humanReadable) (restart \(attempt) of \(process.spec.maxRestarts), restart: \(process.spec.restart.rawValue))",
                [("delay_ms", .int(Int(delay.milliseconds))), ("attempt", .int(attempt))])
            process.phase = .backingOff
            nextToken += 1
            process.timerToken = nextToken
            pendingTimers.append((delay, .backoffElapsed(process: index, token: nextToken)))
        case .stayDown:
            process.phase = .stopped
            if status != .exited(0) { recordFailure(index, status) }
            let why = canBeRevived(index) ? "; waiting for a file change" : ""
            log(index, .down, "not restarting (restart: \(process.spec.restart.rawValue))\(why)")
        case .giveUp:
            process.phase = .gaveUp
            // `restart: always` gives up on clean exits too; only a failure decides the exit status.
            if status != .exited(0) { recordFailure(index, status) }
            let why = canBeRevived(index) ? "; waiting for a file change" : ""
            log(index, .gaveUp, "gave up after \(counted(process.spec.maxRestarts, "restart")) in a row\(why)")
        }
    }

    /// The first failure that kept a process down decides `up`'s exit status.
    private func recordFailure(_ index: Int, _ status: Termination) {
        guard firstFailure == nil else { return }
        firstFailure = status.shellStatus
        firstFailureProcess = index
    }

    // MARK: - Actions

    private func start(_ index: Int, io: IOLoop) {
        nextRunID += 1
        let runID = nextRunID
        let changed = processes[index].changedPaths
        processes[index].changedPaths = []
        processes[index].startedAt = .now
        processes[index].phase = .running
        if !changed.isEmpty { removeStaleBytecode(index, changed: changed) }
        if let spare = spares.removeValue(forKey: index), wake(spare, changed: changed) {
            processes[index].runID = spare.runID
            processes[index].pid = spare.pid
            log(
                index, .started,
                "started (pid \(spare.pid), a standby interpreter with its packages imported)"
                    + commandOnFirstStart(index), [("pid", .int(Int(spare.pid)))])
            return
        }
        processes[index].runID = runID
        do {
            let launched = try launch(index, runID: runID, changed: changed, io: io)
            processes[index].pid = launched.pid
            log(
                index, .started, "started (pid \(launched.pid))" + commandOnFirstStart(index),
                [("pid", .int(Int(launched.pid)))])
            io.add(launched)
        } catch {
            processes[index].pid = 0
            log(index, .startFailed, "cannot start: \(error.message)")
            // Reported like an exit with the shell's "cannot execute" status, so the policy applies.
            eventSink.yield(.groupGone(runID: runID, process: index, .exited(127)))
        }
    }

    /// `: COMMAND` the first time process `index` starts, nothing after: a process restarting every few
    /// seconds would otherwise repeat its whole command line each time.
    private func commandOnFirstStart(_ index: Int) -> String {
        defer { processes[index].startedBefore = true }
        return processes[index].startedBefore ? "" : ": \(processes[index].spec.command)"
    }

    /// Before a start after a change: Python must compile the changed files, not load bytecode cached for the
    /// version before (see `FreshBytecode`).
    private func removeStaleBytecode(_ index: Int, changed: [String]) {
        let spec = processes[index].spec
        let prefix = spec.env["PYTHONPYCACHEPREFIX"] ?? baseEnvironment["PYTHONPYCACHEPREFIX"]
        for failure in FreshBytecode.removeCachedBytecode(of: changed, root: spec.cwd, pycachePrefix: prefix) {
            log(
                index, .notice,
                "cannot remove \(failure.path), which may hold bytecode of the changed code: "
                    + errnoDescription(failure.errno))
        }
    }

    /// Starts one run of process `index`: its environment, held sockets, and for a `werkzeug:` process the
    /// bootstrap with its report pipe. With `standby`, the bootstrap imports `preloads` and waits for "go" on
    /// the pipe whose read end is `standby` (fd after the report pipe).
    private func launch(
        _ index: Int, runID: UInt64, changed: [String], standby: (goRead: Int32, preloads: [String])? = nil,
        io: IOLoop
    ) throws(SuperwatchError) -> RunIO {
        let spec = processes[index].spec
        let held = sockets.indices.contains(index) ? sockets[index] : []
        var python: PythonInterpreter?
        var reportPipe: (read: Int32, write: Int32)?
        if let app = spec.werkzeug, pythonFiles != nil {
            let environment = ChildLaunch.processEnvironment(spec, base: baseEnvironment, changed: changed)
            python = interpreter(index, app: app, environment: environment)
            reportPipe = try? Launcher.makePipe(size: nil)
        }
        defer { if let reportPipe { close(reportPipe.write) } }
        let child = ChildLaunch.make(
            spec, sockets: held.map { ChildLaunch.Socket(port: $0.port) }, base: baseEnvironment, changed: changed,
            python: pythonFiles.map(ChildLaunch.PythonLocations.init), interpreter: python,
            reportPipe: reportPipe != nil, standbyPreloads: standby?.preloads)
        // `make` lists the report and "go" pipes only when they are given.
        let passFDs = child.descriptors.map { descriptor -> Int32 in
            switch descriptor {
            case .listenSocket(let socket): return held[socket].fd
            case .report: return reportPipe?.write ?? -1
            case .standbyGo: return standby?.goRead ?? -1
            }
        }
        let request = LaunchRequest(
            arguments: child.arguments, cwd: spec.cwd, environment: child.environment, passFDs: passFDs,
            stopSignal: spec.stopSignal, stopTimeoutMilliseconds: Int32(clamping: spec.stopTimeout.milliseconds))
        do {
            let launched = try containment.launch(request, process: index, name: spec.name, runID: runID)
            // A program of its own under `listen:` that binds $PORT itself fails with "address in use".
            // The I/O loop takes the descriptors over.
            let pid = launched.pid
            let taken = launched.takeDescriptors()
            return RunIO(
                runID: runID, process: ProcessID(index), pid: pid,
                pidfd: OwnedDescriptor(takingOwnershipOf: taken.pidfd),
                channels: (reportPipe.map { [Channel(.report, OwnedDescriptor(takingOwnershipOf: $0.read))] } ?? []) + [
                    Channel(.output(.stdout), OwnedDescriptor(takingOwnershipOf: taken.stdout)),
                    Channel(.output(.stderr), OwnedDescriptor(takingOwnershipOf: taken.stderr)),
                ],
                scansForAddressInUse: !spec.listen.isEmpty && spec.werkzeug == nil)
        } catch {
            if let reportPipe { close(reportPipe.read) }
            throw error
        }
    }

    /// The interpreter that runs process `index`'s bootstrap: found once (a wrapper script is asked which
    /// interpreter it runs), except while it is not found at all, so that a virtualenv created later counts.
    private func interpreter(_ index: Int, app: WerkzeugApp, environment: [String: String]) -> PythonInterpreter {
        if let known = interpreters[index] { return known }
        let spec = processes[index].spec
        nextRunID += 1
        let runID = nextRunID
        let containment = self.containment
        let runner = PythonInterpreter.Runner(
            launch: { request throws(SuperwatchError) in
                try containment.launch(request, process: index, name: spec.name, runID: runID)
            },
            kill: { containment.signal($0, SIGKILL) }, release: { containment.release($0) })
        guard let found = PythonInterpreter.resolve(app.python, cwd: spec.cwd, environment: environment, runner: runner)
        else { return PythonInterpreter(program: app.python) }  // the start reports it as a command not found
        interpreters[index] = found
        return found
    }

    // MARK: - Standby interpreters

    /// A `werkzeug:` run started ahead of the next restart: it has imported the installed packages the app
    /// used (Flask and the like, most of a Python start) and waits for "go" on `goFD`.
    struct Spare: Sendable {
        var runID: UInt64
        var pid: pid_t
        var goFD: Int32
    }

    /// Starts a standby interpreter for process `index` once its app has reported what it imports.
    private func prepareSpare(_ index: Int, io: IOLoop) {
        guard processes[index].spec.werkzeug != nil, spares[index] == nil, !shuttingDown,
            processes[index].phase == .running, let preloads = preloads[index], !preloads.isEmpty,
            let go = try? Launcher.makePipe(size: nil)
        else { return }
        nextRunID += 1
        let runID = nextRunID
        defer { close(go.read) }
        guard let launched = try? launch(index, runID: runID, changed: [], standby: (go.read, preloads), io: io) else {
            close(go.write)
            return
        }
        spares[index] = Spare(runID: runID, pid: launched.pid, goFD: go.write)
        io.add(launched)
    }

    /// Tells a standby interpreter to go on as a start; false when it is gone.
    private func wake(_ spare: Spare, changed: [String]) -> Bool {
        defer { close(spare.goFD) }
        let environment: [String: String?] = [
            "SUPERWATCH_CHANGED": changed.isEmpty ? nil : changed.prefix(100).joined(separator: "\n")
        ]
        guard processGroupIsAlive(spare.pid),
            let json = try? JSONSerialization.data(withJSONObject: environment.mapValues { $0 ?? NSNull() as Any }),
            var line = String(data: json, encoding: .utf8)
        else { return false }
        line = "\(PythonProtocol.go) \(line)\n"
        var bytes = Array(line.utf8)
        return bytes.withUnsafeMutableBytes { writeAll(spare.goFD, $0) }
    }

    /// Ends a standby interpreter that will not be used (a stop, a shutdown, or it died).
    private func discardSpare(_ index: Int) {
        guard let spare = spares.removeValue(forKey: index) else { return }
        close(spare.goFD)
        containment.signal(spare.pid, SIGKILL)
        containment.release(spare.pid)
    }

    private func stop(_ index: Int, intent: StopIntent) {
        let spec = processes[index].spec
        processes[index].phase = .stopping(intent)
        guard processes[index].pid > 0 else { return }
        containment.signal(processes[index].pid, spec.stopSignal.rawValue)
        nextToken += 1
        processes[index].timerToken = nextToken
        pendingTimers.append((spec.stopTimeout, .stopTimeout(process: index, token: nextToken)))
    }

    private func requestShutdown(signal: Int32) {
        if shuttingDown {
            log(nil, .kill, "\(UnixSignal(rawValue: signal)) again: killing every process group now")
            for process in processes where process.pid > 0 {
                if case .stopping = process.phase { containment.signal(process.pid, SIGKILL) }
            }
            containment.stopStrays(with: SIGKILL)
            return
        }
        shuttingDown = true
        for index in spares.keys { discardSpare(index) }
        containment.stopStrays()
        log(nil, .shutdown, "\(UnixSignal(rawValue: signal)) received: stopping all processes (again to kill at once)")
        for index in processes.indices {
            switch processes[index].phase {
            case .running:
                // Said before the signal is sent, so that what the process prints on it comes after.
                log(index, .stopping, "stopping (\(processes[index].spec.stopSignal))")
                stop(index, intent: .shutdown)
            case .stopping:
                processes[index].phase = .stopping(.shutdown)
            case .backingOff, .stopped, .gaveUp, .idle, .awaitingChanges:
                processes[index].phase = .stopped
            }
        }
    }

    private func log(
        _ index: Int?, _ kind: SupervisorEvent.Kind, _ message: String, _ fields: [(String, SupervisorEvent.Value)] = []
    ) {
        output.event(index.map(ProcessID.init), SupervisorEvent(kind, message, fields))
    }

    private func log(_ index: Int, _ kind: SupervisorEvent.Kind, _ message: String, _ status: Termination) {
        var fields: [(String, SupervisorEvent.Value)] = []
        switch status {
        case .exited(let code): fields.append(("code", .int(Int(code))))
        case .signaled(let signal): fields.append(("signal", .string(UnixSignal(rawValue: signal).description)))
        }
        log(index, kind, message, fields)
    }
}
