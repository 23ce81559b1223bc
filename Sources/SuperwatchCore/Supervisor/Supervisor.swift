import Dispatch
import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

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
///
/// What happens to a process is decided by its `ProcessLifecycle`, a pure state machine; the actor turns
/// what the outside world does (exits, timers, file changes, signals, control requests) into lifecycle
/// events and carries out the actions they return: starting runs, signalling groups, scheduling timers,
/// logging. The control API's verbs are in Supervisor+Control.swift.
public actor Supervisor {
    enum Event: Sendable {
        case exited(runID: UInt64, process: ProcessID, Termination)
        /// The process group of a run is empty (or was killed) after its leader exited.
        case groupGone(runID: UInt64, process: ProcessID, Termination)
        case timer(process: ProcessID, LifecycleTimer, token: UInt64)
        case signal(UnixSignal)
        /// A `werkzeug:` bootstrap reported the files of the modules its app loaded.
        case reported(process: ProcessID, BootstrapReport)
        case watch(WatchEvent)
        /// stdout's reader is gone (`up | head`, a pager that quit).
        case stdoutClosed
        /// The I/O loop cannot go on (epoll failed): `up` ends with this error.
        case ioFailed(SuperwatchError)
        /// The control API asked for a shutdown.
        case shutdownRequested
        /// A control request scheduled timers outside the event loop: schedule them, and check whether
        /// anything is left to run.
        case wake
        /// The config file or one of its env files changed (a settled burst): reload it.
        case configChanged
        /// The config was read for change number `change`, with the interpreters it needs: apply it.
        case configRead(ReadConfig?, change: UInt64)
        /// A probe task's verdict on a run (Supervisor+Dependencies.swift).
        case probe(process: ProcessID, runID: UInt64, ProbeVerdict)
        /// The output of a run with an attached client ended: the client waits for the next run, if one comes.
        case attachedClientWaits(process: ProcessID)
    }

    /// Every line and event: the terminal, the per-process ring buffers, subscribers.
    let output: LogFanOut
    /// Why the I/O loop ended, when it failed: `up` stops everything and throws it.
    private var ioFailure: SuperwatchError?
    private let sink: OutputSink
    /// One per process of the config, in its order: `lifecycles[id.index]`.
    var lifecycles: [ProcessLifecycle]
    private(set) var shuttingDown = false
    private var firstFailure: Int32?
    /// The process `firstFailure` came from, for the closing line.
    private var firstFailureProcess: ProcessID?
    /// The config file, as the user named it, for the start banner.
    private let configFile: String
    var nextRunID: UInt64 = 0
    /// The keeper, cgroups and the scan for escaped processes: every start and signal goes through it.
    let containment: Containment
    private let queue: AsyncStream<Event>
    let eventSink: AsyncStream<Event>.Continuation
    private var pendingTimers: [(Duration, Event)] = []
    var baseEnvironment: [String: String]
    var sockets = HeldSockets()
    /// The Python superwatch runs, written out when a process has a TCP socket (for the injected
    /// `sitecustomize.py`) or is a `werkzeug:` process (for the bootstrap).
    var pythonFiles: PythonFiles?
    let pythonDirectory: String?
    /// Per `werkzeug:` process: the interpreter to start (`PythonInterpreter`), found before the first start.
    var interpreters: [ProcessID: PythonInterpreter] = [:]
    var watcher: FileWatcher?
    /// The live config reload's state (Supervisor+Reload.swift).
    var reloading: ReloadState
    var standbys = StandbyPool()
    /// The I/O loop, while `run()` runs: a start hands it the run's pipes.
    private(set) var io: IOLoop?
    /// Whether the event loop runs, so that the control API's requests are carried out.
    private(set) var acceptsRequests = false
    /// Start order, stop order and probe tasks (Supervisor+Dependencies.swift).
    var dependencies: DependencyState
    /// The pseudo-terminals of `tty: true` runs, for `attach` and window sizes (Supervisor+Attach.swift).
    let terminals: TerminalSessions

    public init(config: Config, options: UpOptions, sink: OutputSink = OutputSink()) {
        self.init(config: config, options: options, sink: sink, reloading: ReloadState())
    }

    /// Runs `planned.plan`, and reloads it live from `source` when the config file or an env file changes or
    /// the control API asks (Supervisor+Reload.swift).
    public init(
        planned: PlanSource.Planned, source: PlanSource, options: UpOptions, sink: OutputSink = OutputSink()
    ) {
        self.init(
            config: planned.plan, options: options, sink: sink,
            reloading: ReloadState(source: source, current: planned))
    }

    private init(config: Config, options: UpOptions, sink: OutputSink, reloading: ReloadState) {
        self.reloading = reloading
        self.sink = sink
        self.configFile = config.file
        let output = LogFanOut(
            formatter: LogFormatter(names: config.processes.map(\.name), options: options.log), sink: sink,
            capacities: config.processes.map(\.logBuffer))
        self.output = output
        self.lifecycles = config.processes.enumerated().map { index, spec in
            ProcessLifecycle(spec: spec, watchesFiles: WatchSpec(process: ProcessID(index), spec: spec).namesFiles)
        }
        self.pythonDirectory = options.pythonDirectory
        dependencies = DependencyState(config.processes)
        (queue, eventSink) = AsyncStream<Event>.makeStream()
        let events = eventSink
        terminals = TerminalSessions(onClientWaiting: { events.yield(.attachedClientWaits(process: $0)) })
        baseEnvironment = ChildLaunch.baseEnvironment(inherited: ProcessInfo.processInfo.environment, stack: config.env)
        containment = Containment(environment: ProcessInfo.processInfo.environment) { process, event in
            output.event(process, event)
        }
    }

    /// Runs the stack until it is asked to stop or nothing is left to run; returns the exit status, 128 +
    /// SIGPIPE once stdout was closed. What stdout has not taken a second after that is dropped.
    public func run() async throws(SuperwatchError) -> Int32 {
        let eventSink = self.eventSink
        sink.onClosed { eventSink.yield(.stdoutClosed) }
        defer {
            terminals.endAll(notice: "superwatch stopped; attach ended")
            output.finishSubscribers()
        }
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
        sockets = try HeldSockets.bind(for: lifecycles.map(\.spec))
        if lifecycles.contains(where: \.spec.reportsFiles) || sockets.anyServesWerkzeug {
            if let pythonDirectory {
                pythonFiles = try PythonFiles.install(at: pythonDirectory)
            } else {
                pythonFiles = try PythonFiles.installTemporary()
            }
        }
        defer { pythonFiles?.remove() }
        announce()
        let eventSink = self.eventSink
        let specs = processIDs.map { WatchSpec(process: $0, spec: lifecycles[$0.index].spec) }.filter { !$0.isEmpty }
        if !specs.isEmpty {
            watcher = try FileWatcher(specs: specs) { eventSink.yield(.watch($0)) }
        }
        try containment.start()
        defer { containment.close() }
        let io = try IOLoop(
            output: output,
            onExit: { eventSink.yield(.exited(runID: $0, process: $1, $2)) },
            onReport: { eventSink.yield(.reported(process: $0, $1)) },
            onFailure: { eventSink.yield(.ioFailed($0)) })
        io.start()
        self.io = io
        let signalSources = SignalSources.install([SIGINT, SIGTERM, SIGHUP]) {
            eventSink.yield(.signal(UnixSignal(rawValue: $0)))
        }
        defer { signalSources.cancel() }
        watcher?.start()
        defer { watcher?.stop() }
        watchConfig()
        defer { reloading.configWatcher?.stop() }
        await findInterpreters()
        startInDependencyOrder()
        acceptsRequests = true
        // A discarding group frees each timer as it finishes; a plain one would keep them all until `up` ends.
        await withDiscardingTaskGroup { group in
            scheduleTimers(in: &group)
            guard isAlive else { return }
            for await event in queue {
                handle(event)
                settleDependencies()
                scheduleTimers(in: &group)
                if !isAlive || ioFailure != nil { break }
            }
            group.cancelAll()
        }
        stopAllProbes()
        acceptsRequests = false
        // What left its process group and is still running goes with the stack.
        await containment.finish()
        // Whatever is still in a pipe is printed before `up` returns.
        await io.stop()
        if let ioFailure { throw ioFailure }
        self.io = nil
        if shuttingDown { return 0 }
        let status = firstFailure ?? 0
        // Ended on its own (nothing runs, nothing can come back): say so, and which process decided the status.
        var fields: [(String, SupervisorEvent.Value)] = [("code", .int(Int(status)))]
        var from = ""
        if let id = firstFailureProcess {
            from = " from \(lifecycles[id.index].spec.name)"
            fields.append(("from", .string(lifecycles[id.index].spec.name)))
        }
        log(nil, SupervisorEvent(.allStopped, "all processes have stopped; exit status \(status)\(from)", fields))
        return status
    }

    var processIDs: [ProcessID] { lifecycles.indices.map(ProcessID.init) }

    /// The start banner: the file, how many processes, how to stop; then where each process serves: every
    /// held socket, and `http://127.0.0.1:PORT` for a process without `listen` whose command uses `$PORT` (a
    /// program that does not is not shown an address it may not serve on).
    private func announce() {
        let count = lifecycles.count
        log(
            nil,
            SupervisorEvent(
                .banner, "\(configFile): \(counted(count, "process", plural: "processes")); Ctrl-C to stop",
                [("file", .string(configFile)), ("processes", .int(count))]))
        announceAddresses(of: processIDs)
    }

    /// Where each of `ids` serves (see `announce`).
    func announceAddresses(of ids: [ProcessID]) {
        var announced = Set<ObjectIdentifier>()
        for id in ids {
            for socket in sockets[id] where announced.insert(ObjectIdentifier(socket)).inserted {
                log(id, SupervisorEvent(.listening, socket.url, [("address", .string(socket.url))]))
            }
            if sockets[id].isEmpty, let port = portWithoutSocket(id) {
                let url = "http://127.0.0.1:\(port)"
                log(id, SupervisorEvent(.port, url, [("address", .string(url)), ("port", .int(port))]))
            }
        }
    }

    /// The PORT of a process without `listen` whose command uses `$PORT`.
    func portWithoutSocket(_ id: ProcessID) -> Int? {
        let spec = lifecycles[id.index].spec
        guard let text = spec.env["PORT"], let port = Int(text), spec.command.usesPort else { return nil }
        return port
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
        if reloading.readPending {
            // The config is read, and interpreters found, in a task of the loop (off the actor while it waits).
            reloading.readPending = false
            let change = reloading.changesSeen
            let eventSink = self.eventSink
            group.addTask {
                let read = await self.readConfigForReload()
                eventSink.yield(.configRead(read, change: change))
            }
        }
    }

    /// Whether `up` still has something to do.
    /// A process waiting for its dependencies keeps `up` running only through them: when nothing else can run
    /// again (a `restart: never` migration that failed and watches nothing), nothing waits forever on nothing.
    private var isAlive: Bool {
        lifecycles.contains { $0.keepsStackAlive && $0.phase != .waitingForDependencies }
    }

    // MARK: - Events

    private func handle(_ event: Event) {
        switch event {
        case .exited(let runID, let id, let status):
            if standbys.isStandby(runID: runID, of: id) {
                // The standby interpreter died before it was needed: clean up after it, start without one.
                standbys.discard(id, containment: containment)
                io?.drain(runID: runID) {}
                return
            }
            deliver(.leaderExited(runID: runID, status), to: id)
        case .groupGone(let runID, let id, let status):
            deliver(.groupGone(runID: runID, status, at: .now), to: id)
        case .timer(let id, .backoff, let token):
            deliver(.backoffElapsed(token: token), to: id)
        case .timer(let id, .stopTimeout, let token):
            deliver(.stopTimeout(token: token), to: id)
        case .signal(let signal):
            requestShutdown(by: signal)
        case .reported(let id, let report):
            if !report.files.isEmpty {
                watcher?.addFiles(process: id, paths: report.files, loaded: report.loaded)
                reloading.reportedFiles[id, default: []].formUnion(report.files)
                deliver(.watchingFiles, to: id)
            }
            if !report.preloads.isEmpty {
                standbys.learn(report.preloads, for: id)
                prepareStandby(id)
            }
        case .watch(.burstStarted(let id, let path)):
            deliver(.burstStarted(path: path, at: .now), to: id)
        case .watch(.settled(let id, let paths)):
            deliver(.settled(paths: paths), to: id)
        case .watch(.notice(let id, let message)):
            log(id, SupervisorEvent(.notice, message))
        case .stdoutClosed:
            // As SIGPIPE would, had superwatch not ignored it: stop the stack (its events go nowhere now).
            guard !shuttingDown else { return }
            OutputSink.notice("stdout was closed; stopping all processes")
            requestShutdown(by: .pipe)
        case .shutdownRequested:
            requestShutdown(by: nil)
        case .wake:
            break
        case .configChanged:
            reloadForChange()
        case .configRead(let read, let change):
            reloadForChange(read, change: change)
        case .probe(let id, let runID, let verdict):
            handleProbe(id, runID: runID, verdict)
        case .attachedClientWaits(let id):
            endAttachmentIfOver(id)
        case .ioFailed(let error):
            // No exit can be reaped, no pipe read any more: a graceful stop would wait forever. The loop ends
            // after this event, so the lifecycles are left as they are.
            ioFailure = error
            shuttingDown = true
            standbys.discardAll(containment: containment)
            for lifecycle in lifecycles where lifecycle.pid > 0 { containment.signal(lifecycle.pid, SIGKILL) }
            containment.stopStrays(with: SIGKILL)
        }
    }

    /// Feeds `event` to process `id`'s lifecycle and carries out what it returns.
    func deliver(_ event: LifecycleEvent, to id: ProcessID) {
        perform(lifecycles[id.index].handle(event), for: id)
        if lifecycles[id.index].phase != .running { stopProbes(id) }
        endAttachmentIfOver(id)
    }

    func perform(_ actions: [LifecycleAction], for id: ProcessID) {
        for action in actions {
            switch action {
            case .spawn(let changed):
                spawn(id, changed: changed)
            case .signalGroup(let pid, let signal):
                containment.signal(pid, signal.rawValue)
            case .scheduleTimer(let kind, let delay, let token):
                pendingTimers.append((delay, .timer(process: id, kind, token: token)))
            case .awaitGroupGone(let runID, let pid, let status, let stopWith, let within):
                awaitGroupGone(id, runID: runID, pid: pid, status: status, stopWith: stopWith, within: within)
            case .reportRunEnd(let runID, let status):
                eventSink.yield(.groupGone(runID: runID, process: id, status))
            case .releaseGroup(let pid):
                containment.release(pid)
            case .log(let event):
                log(id, event)
            case .recordFailure(let status):
                // The first failure that kept a process down decides `up`'s exit status.
                guard firstFailure == nil else { break }
                firstFailure = status.shellStatus
                firstFailureProcess = id
            case .discardStandby:
                standbys.discard(id, containment: containment)
            case .startProbe(let role, let runID):
                startProbe(id, role: role, runID: runID)
            case .stopProbes:
                stopProbes(id)
            case .restartDependents:
                restartDependents(of: id)
            }
        }
    }

    /// Once the group of a run whose leader exited is empty, prints what it wrote last and reports the run's
    /// end. Anything left in the group (a backgrounded grandchild) gets `stopWith`, then SIGKILL after
    /// `within`, so nothing outlives its process.
    private func awaitGroupGone(
        _ id: ProcessID, runID: UInt64, pid pgid: pid_t, status: Termination, stopWith: UnixSignal?,
        within: Duration
    ) {
        let eventSink = self.eventSink
        guard let io else { return }
        let ended: @Sendable () -> Void = {
            io.drain(runID: runID) { eventSink.yield(.groupGone(runID: runID, process: id, status)) }
        }
        let containment = self.containment
        guard containment.isAlive(pgid) else { return ended() }
        if let stopWith { containment.signal(pgid, stopWith.rawValue) }
        let deadline = ContinuousClock.now + within
        // Polling is the only way to learn that a process group has emptied; it lasts at most stop_timeout.
        Task.detached {
            while containment.isAlive(pgid), ContinuousClock.now < deadline {
                try? await Task.sleep(for: .milliseconds(10))
            }
            containment.signal(pgid, SIGKILL)
            ended()
        }
    }

    /// Stops the stack: every running process gets its stop signal; a second request kills what is still
    /// stopping. `signal` is the signal that asked for it; nil: the control API.
    private func requestShutdown(by signal: UnixSignal?) {
        let cause = signal.map { "\($0)" } ?? "shutdown requested"
        if shuttingDown {
            log(nil, SupervisorEvent(.kill, "\(cause) again: killing every process group now"))
            killInShutdown()
            containment.stopStrays(with: SIGKILL)
            return
        }
        shuttingDown = true
        standbys.discardAll(containment: containment)
        containment.stopStrays()
        let received = signal == nil ? cause : "\(cause) received"
        log(nil, SupervisorEvent(.shutdown, "\(received): stopping all processes (again to kill at once)"))
        shutdownInDependencyOrder()
    }

    /// Logs `event` about process `id` (nil: the stack) now, in the terminal or JSON log, its ring buffer and
    /// to the followers of the logs (`output`).
    func log(_ id: ProcessID?, _ event: SupervisorEvent) {
        output.event(id, event)
    }
}
