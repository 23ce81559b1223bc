#if canImport(Glibc)
    import Glibc
#endif

/// Where one process is in its life under superwatch. Only `ProcessLifecycle.handle` changes it.
///
/// New behaviour comes in as a phase and the events that enter and leave it: waiting for dependencies is a
/// phase before the first `.spawn` that `.start` enters while a dependency is not in the condition it needs;
/// readiness splits `running` into starting and ready with a probe event between them.
enum LifecyclePhase: Sendable, Equatable {
    /// Not started yet.
    case idle
    /// Not started yet: a dependency is not in the condition it needs (`waitingFor` says which).
    case waitingForDependencies
    /// A run is started (or its start failed and is being reported as an exit).
    case running
    /// A stop signal was sent; what happens once the group is gone.
    case stopping(StopIntent)
    /// Waiting out a policy backoff before the next start.
    case backingOff
    /// Stopped because files changed; starts again once the burst of changes has settled.
    case awaitingChanges
    /// Exited and not restarted by its policy (it may come back on a file change).
    case exited
    /// `max_restarts` restarts in a row failed.
    case gaveUp
    /// Stopped because the stack is shutting down.
    case stopped
    /// Stopped by the user (the control API): stays down, file changes included, until the user starts it.
    case stoppedByUser
}

/// Why a process is being stopped.
enum StopIntent: Sendable, Equatable {
    /// Files changed or the user asked for a restart: start again once the group is gone (and a burst has
    /// settled).
    case restart
    case shutdown
    /// The user stopped it: it stays down once the group is gone.
    case user
}

/// The timers a lifecycle asks for; each fires as an event carrying the token it was scheduled with.
enum LifecycleTimer: Sendable, Equatable {
    /// A policy backoff: `.backoffElapsed`.
    case backoff
    /// `stop_timeout` after a stop signal: `.stopTimeout`.
    case stopTimeout
}

/// What happened to a process, as the supervisor tells its lifecycle. Times travel with the events that
/// need them, so the lifecycle never reads a clock.
enum LifecycleEvent: Sendable, Equatable {
    /// `up` starts the stack.
    case start
    /// Run `runID` started (after a `.spawn`): `pid` leads its process group.
    case spawned(runID: UInt64, pid: pid_t, viaStandby: Bool, at: ContinuousClock.Instant)
    /// Run `runID` could not be started (after a `.spawn`); it ends as an exit with status 127.
    case spawnFailed(runID: UInt64, message: String, at: ContinuousClock.Instant)
    /// The group leader of run `runID` exited; its group may still have members.
    case leaderExited(runID: UInt64, Termination)
    /// The process group of run `runID` is empty, and what it wrote has been printed.
    case groupGone(runID: UInt64, Termination, at: ContinuousClock.Instant)
    case backoffElapsed(token: UInt64)
    case stopTimeout(token: UInt64)
    /// The first change of a burst to the process's watched files.
    case burstStarted(path: String, at: ContinuousClock.Instant)
    /// The burst is over: every path it changed.
    case settled(paths: [String])
    /// Files were added to the process's watch set at run time (a bootstrap's report): a change can bring
    /// it back.
    case watchingFiles
    /// The stack is stopping (Ctrl-C, SIGTERM, the control API); the second one kills.
    case shutdown
    /// The user's requests (the control API).
    case userStop
    case userStart
    case userRestart
    /// A live config reload changed the process's resolved settings to `spec`: a run stops (with the old stop
    /// settings) and the next starts with the new ones. `watchesFiles` as for `init`. `waitsForDependencies`:
    /// the new settings have `depends_on`, so the next start waits for them as an added process's first does.
    case reconfigured(
        ProcessSpec, watchesFiles: Bool, at: ContinuousClock.Instant, waitsForDependencies: Bool = false)
    /// `up` starts the stack and a dependency does not hold yet, or its reason changed: `message` is
    /// `waiting for db (ready)`.
    case waitForDependencies(message: String)
    /// The readiness probe of run `runID` passed.
    case probePassed(runID: UInt64, at: ContinuousClock.Instant)
    /// `ready_timeout` passed without a pass of run `runID`'s probe (which goes on).
    case readyTimedOut(runID: UInt64, lastError: String)
    /// `failures` liveness attempts in a row failed for run `runID`.
    case unhealthy(runID: UInt64, failures: Int, lastError: String)
    /// A process this one depends on (with `restart_dependents`) is ready again after a restart.
    case dependencyReadyAgain(name: String)
    /// The stack is stopping, and processes that depend on this one still run: it stops after them (a
    /// `.shutdown` follows). Until then it is not restarted. `after` names them.
    case holdForShutdown(after: String)
}

/// What the supervisor is to do for a process, in order.
enum LifecycleAction: Sendable, Equatable {
    /// Start a run (from the standby interpreter when there is one) with `changed` as SUPERWATCH_CHANGED;
    /// answered at once with `.spawned` or `.spawnFailed`.
    case spawn(changed: [String])
    case signalGroup(pid_t, UnixSignal)
    case scheduleTimer(LifecycleTimer, after: Duration, token: UInt64)
    /// Once process group `pid` of run `runID` is empty (after `stopWith`, then SIGKILL after `within`, if it
    /// is not), report `.groupGone` with `status`.
    case awaitGroupGone(runID: UInt64, pid: pid_t, status: Termination, stopWith: UnixSignal?, within: Duration)
    /// Report `.groupGone(runID, status)` in turn with the other events (a start that failed).
    case reportRunEnd(runID: UInt64, status: Termination)
    /// Run `pid` has ended: forget its group.
    case releaseGroup(pid_t)
    case log(SupervisorEvent)
    /// This failure keeps the process down: the first one decides `up`'s exit status.
    case recordFailure(Termination)
    /// End the process's standby interpreter, if it has one.
    case discardStandby
    /// Start probing run `runID` for readiness or liveness (replacing any probe of the process).
    case startProbe(ProbeRole, runID: UInt64)
    /// Stop probing the process. (The supervisor also stops the probes of a process whose run is not up.)
    case stopProbes
    /// It is ready again after a restart, and has `restart_dependents`: restart what depends on it.
    case restartDependents
}

/// One process's life as a pure state machine: fed events, it returns the actions that carry them out. It
/// makes no system call and reads no clock, so every interleaving of exits, timers, file changes and requests
/// can be tested in milliseconds without a process; `Supervisor` feeds it and performs what it returns.
struct ProcessLifecycle: Sendable {
    /// Replaced by a live config reload (`.reconfigured`).
    private(set) var spec: ProcessSpec
    private(set) var phase: LifecyclePhase = .idle
    private(set) var tracker = RestartTracker()
    /// Identifies the current run; events of earlier runs are ignored.
    private(set) var runID: UInt64 = 0
    /// The current run's group leader; 0 before the first start and when a start failed.
    private(set) var pid: pid_t = 0
    private(set) var startedAt: ContinuousClock.Instant?
    /// Identifies the current timer (backoff or stop timeout); older timers are stale.
    private var timerToken: UInt64 = 0
    /// A burst of file changes has begun and not yet settled.
    private(set) var burstOpen = false
    /// The changed paths to pass to the next start as SUPERWATCH_CHANGED.
    private(set) var changedPaths: [String] = []
    /// The path the open burst's `restarting` event named.
    private var announcedChange: String?
    /// When the change that the next start answers began, for `lastReload`.
    private var changeNoticedAt: ContinuousClock.Instant?
    /// Whether a start was logged: the first shows the command, later ones only the pid.
    private var startedBefore = false
    private(set) var shuttingDown = false
    /// Whether a file change can bring the process back: it has watch globs or extra files, or files were
    /// added to its watch set at run time (which may not exist yet).
    private(set) var watchesFiles: Bool
    /// Runs started (or failed to start), for the control API.
    private(set) var starts = 0
    private(set) var lastExit: Termination?
    /// From the change to the start of the run that answered it, for the last such restart.
    private(set) var lastReload: Duration?
    /// While waiting for dependencies: which, and why (`waiting for db (ready)`).
    private(set) var waitingFor: String?
    /// The current run's readiness probe passed (a process without a probe never sets it).
    private(set) var isReady = false
    /// From the current run's start to its readiness probe's pass.
    private(set) var readyAfter: Duration?
    /// Why dependents no longer wait for the current run to get ready (its `ready_timeout` passed), said of
    /// it: `it was not ready within 30s (connection refused)`.
    private(set) var readinessFailure: String?
    /// Some run was ready before: the next ready is a ready *again*, which `restart_dependents` acts on.
    private var wasReadyBefore = false
    /// Waiting at shutdown for its dependents to stop (`holdForShutdown`).
    private(set) var heldForDependents = false
    /// A live reload gave it new settings: its next start waits for its dependencies, as an added process's
    /// first start does, instead of spawning at once (`depends_on` may name processes that are not ready).
    private(set) var startsAfterDependencies = false

    init(spec: ProcessSpec, watchesFiles: Bool) {
        self.spec = spec
        self.watchesFiles = watchesFiles
    }

    /// Whether `up` has to keep running for this process: it runs, will run, or a file change (or, when the
    /// user stopped it, the user) can bring it back.
    var keepsStackAlive: Bool {
        switch phase {
        case .running, .stopping, .backingOff, .awaitingChanges, .waitingForDependencies: return true
        case .exited, .gaveUp: return !shuttingDown && watchesFiles
        case .stoppedByUser: return !shuttingDown
        case .idle, .stopped: return false
        }
    }

    /// Whether a standby interpreter may be prepared for the next start.
    var acceptsStandby: Bool { phase == .running && !shuttingDown }

    /// The phase as the control API names it.
    var state: ProcessState {
        switch phase {
        case .idle, .stopped: return .stopped
        case .waitingForDependencies: return .waitingForDependencies
        case .running:
            guard pid > 0, spec.readiness != nil else { return .running }
            return isReady ? .ready : .starting
        case .stopping: return .stopping
        case .backingOff: return .backingOff
        case .awaitingChanges: return .waitingForChange
        case .exited: return keepsStackAlive ? .waitingForChange : .exited
        case .gaveUp: return .gaveUp
        case .stoppedByUser: return .stoppedByUser
        }
    }

    mutating func handle(_ event: LifecycleEvent) -> [LifecycleAction] {
        switch event {
        case .start:
            guard phase == .idle || phase == .waitingForDependencies, !shuttingDown else { return [] }
            waitingFor = nil
            startsAfterDependencies = false  // they hold: that is why it is told to start
            return spawn()
        case .spawned(let runID, let pid, let viaStandby, let now):
            return spawned(runID: runID, pid: pid, viaStandby: viaStandby, at: now)
        case .spawnFailed(let runID, let message, let now):
            self.runID = runID
            pid = 0
            startedAt = now
            starts += 1
            // Reported like an exit with the shell's "cannot execute" status, so the policy applies.
            return [
                .log(SupervisorEvent(.startFailed, "cannot start: \(message)")),
                .reportRunEnd(runID: runID, status: .exited(127)),
            ]
        case .leaderExited(let runID, let status):
            guard runID == self.runID else { return [] }
            // Anything left in its group (a backgrounded grandchild) is stopped too, so nothing outlives it.
            let stopping: Bool
            if case .stopping = phase { stopping = true } else { stopping = false }
            return [
                .awaitGroupGone(
                    runID: runID, pid: pid, status: status, stopWith: stopping ? nil : spec.stopSignal,
                    within: spec.stopTimeout)
            ]
        case .groupGone(let runID, let status, let now):
            guard runID == self.runID else { return [] }
            let release: [LifecycleAction] = pid > 0 ? [.releaseGroup(pid)] : []
            return release + runEnded(status, at: now)
        case .backoffElapsed(let token):
            guard token == timerToken, phase == .backingOff, !burstOpen else { return [] }
            return spawn()
        case .stopTimeout(let token):
            guard token == timerToken, case .stopping = phase, pid > 0 else { return [] }
            return [
                .log(
                    SupervisorEvent(
                        .stopTimeout,
                        "did not stop within \(spec.stopTimeout.humanReadable); sending SIGKILL to its process group")),
                .signalGroup(pid, .kill),
            ]
        case .burstStarted(let path, let now):
            return changeBegan(path: path, at: now)
        case .settled(let paths):
            return changeSettled(paths: paths)
        case .watchingFiles:
            watchesFiles = true
            return []
        case .shutdown:
            return shutdown()
        case .userStop:
            return userStop()
        case .userStart:
            return userStart()
        case .userRestart:
            return userRestart()
        case .reconfigured(let spec, let watchesFiles, let now, let waits):
            return reconfigure(spec, watchesFiles: watchesFiles, at: now, waitsForDependencies: waits)
        case .waitForDependencies(let message):
            guard phase == .idle || phase == .waitingForDependencies, !shuttingDown, message != waitingFor else {
                return []
            }
            phase = .waitingForDependencies
            waitingFor = message
            return [.log(SupervisorEvent(.waiting, message))]
        case .probePassed(let runID, let now):
            guard runID == self.runID, phase == .running, pid > 0, !isReady else { return [] }
            return becameReady(at: now)
        case .readyTimedOut(let runID, let lastError):
            guard runID == self.runID, phase == .running, !isReady else { return [] }
            readinessFailure = "it was not ready within \(spec.readyTimeout.humanReadable) (\(lastError))"
            return [
                .log(
                    SupervisorEvent(
                        .notReady,
                        "not ready within \(spec.readyTimeout.humanReadable): \(lastError); still probing"))
            ]
        case .unhealthy(let runID, let failures, let lastError):
            guard runID == self.runID, phase == .running, !shuttingDown else { return [] }
            return [
                .log(
                    SupervisorEvent(
                        .unhealthy,
                        "health check failed \(counted(failures, "time")) in a row (last: \(lastError)); restarting",
                        [("failures", .int(failures))]))
            ] + stop(.restart)
        case .dependencyReadyAgain(let name):
            guard phase == .running, !shuttingDown else { return [] }
            return [.log(SupervisorEvent(.restarting, "restarting: \(name) is ready again"))] + stop(.restart)
        case .holdForShutdown(let after):
            guard !shuttingDown else { return [] }
            guard phase == .running else { return shutdown() }
            shuttingDown = true
            heldForDependents = true
            return [.stopProbes, .log(SupervisorEvent(.waiting, "stopping after \(after)"))]
        }
    }

    /// The readiness probe passed: say how long it took, start the liveness probe, and after a restart
    /// restart the dependents if asked to.
    private mutating func becameReady(at now: ContinuousClock.Instant) -> [LifecycleAction] {
        isReady = true
        readinessFailure = nil
        let after = startedAt.map { now - $0 } ?? .zero
        readyAfter = after
        var actions: [LifecycleAction] = [
            .log(SupervisorEvent(.ready, "ready after \(after.humanReadable)", [("ms", .int(Int(after.milliseconds)))]))
        ]
        if spec.health != nil { actions.append(.startProbe(.liveness, runID: runID)) }
        if wasReadyBefore && spec.restartDependents { actions.append(.restartDependents) }
        wasReadyBefore = true
        return actions
    }

    // MARK: - Runs

    private mutating func spawn() -> [LifecycleAction] {
        if startsAfterDependencies {
            // The supervisor starts it (`.start`) once they hold, or says what it waits for.
            startsAfterDependencies = false
            phase = .waitingForDependencies
            return []
        }
        let changed = changedPaths
        changedPaths = []
        phase = .running
        return [.spawn(changed: changed)]
    }

    private mutating func spawned(
        runID: UInt64, pid: pid_t, viaStandby: Bool, at now: ContinuousClock.Instant
    ) -> [LifecycleAction] {
        self.runID = runID
        self.pid = pid
        startedAt = now
        starts += 1
        if let changeNoticedAt {
            lastReload = now - changeNoticedAt
            self.changeNoticedAt = nil
        }
        let how =
            viaStandby
            ? "started (pid \(pid), a standby interpreter with its packages imported)" : "started (pid \(pid))"
        // The command the first time only: a process restarting every few seconds would repeat it each time.
        let command = startedBefore ? "" : ": \(spec.command)"
        startedBefore = true
        isReady = false
        readyAfter = nil
        readinessFailure = nil
        var actions: [LifecycleAction] = [.log(SupervisorEvent(.started, how + command, [("pid", .int(Int(pid)))]))]
        if spec.readiness != nil {
            actions.append(.startProbe(.readiness, runID: runID))
        } else {
            if spec.health != nil { actions.append(.startProbe(.liveness, runID: runID)) }
            // Without a probe a run is ready once started: a restart of it is a ready again.
            if wasReadyBefore && spec.restartDependents { actions.append(.restartDependents) }
            wasReadyBefore = true
        }
        return actions
    }

    private mutating func stop(_ intent: StopIntent) -> [LifecycleAction] {
        phase = .stopping(intent)
        guard pid > 0 else { return [] }
        timerToken += 1
        return [
            .signalGroup(pid, spec.stopSignal),
            .scheduleTimer(.stopTimeout, after: spec.stopTimeout, token: timerToken),
        ]
    }

    /// The run's group is gone: what comes next depends on why it ended.
    private mutating func runEnded(_ status: Termination, at now: ContinuousClock.Instant) -> [LifecycleAction] {
        lastExit = status
        switch phase {
        case .stopping(.shutdown):
            phase = .stopped
            return [log(.exited, "stopped (\(status))", status)]
        case .stopping(.user):
            phase = .stoppedByUser
            return [log(.exited, "stopped (\(status))", status)]
        case .stopping(.restart):
            let said = log(.exited, "stopped for restart (\(status))", status)
            if burstOpen {
                phase = .awaitingChanges
                return [said]
            }
            return [said] + spawn()
        default:
            break
        }
        var actions = [log(.exited, status.description, status)]
        if shuttingDown {
            phase = .stopped
            return actions
        }
        if spec.reportsFiles, case .exited(let code) = status,
            code == PythonProtocol.exitImportFailed
                || (spec.werkzeug != nil && code == PythonProtocol.exitWerkzeugMissing)
        {
            // Starting again cannot help until a file changes: down, and waiting only if one can.
            phase = .exited
            actions.append(.recordFailure(status))
            if code == PythonProtocol.exitImportFailed {
                let why =
                    watchesFiles ? "; waiting for a change to one of its files" : "; nothing to watch, not restarting"
                let failed = spec.werkzeug != nil ? "the app failed to import" : "the app failed to start"
                actions.append(.log(SupervisorEvent(.down, failed + why)))
            } else {
                let why = watchesFiles ? "; waiting for a file change" : "; not restarting"
                let python = spec.werkzeug?.python ?? "python3"
                actions.append(.log(SupervisorEvent(.down, "Werkzeug is not installed for \(python)" + why)))
            }
            return actions
        }
        let ranFor = startedAt.map { now - $0 } ?? .zero
        let decision = tracker.decide(status, ranFor: ranFor, spec: spec)
        if tracker.stormBegan {
            actions.append(
                .log(
                    SupervisorEvent(
                        .restartStorm,
                        "exit code \(status.shellStatus) asked for a restart "
                            + "\(RestartTracker.quickRestartLimit) times in a row, each within "
                            + "\(RestartTracker.quickRun.humanReadable) of starting: treating it as a failure until "
                            + "a run lasts longer")))
        }
        let waiting = watchesFiles ? "; waiting for a file change" : ""
        switch decision {
        case .restartNow:
            actions.append(
                .log(SupervisorEvent(.restarting, "restarting: exit code \(status.shellStatus) asks for a restart")))
            actions += spawn()
        case .restartAfter(let delay, let attempt):
            actions.append(
                .log(
                    SupervisorEvent(
                        .backoff,
                        "restarting in \(delay.humanReadable) (restart \(attempt) of \(spec.maxRestarts), "
                            + "restart: \(spec.restart.rawValue))",
                        [("delay_ms", .int(Int(delay.milliseconds))), ("attempt", .int(attempt))])))
            phase = .backingOff
            timerToken += 1
            actions.append(.scheduleTimer(.backoff, after: delay, token: timerToken))
        case .stayDown:
            phase = .exited
            if status != .exited(0) { actions.append(.recordFailure(status)) }
            actions.append(.log(SupervisorEvent(.down, "not restarting (restart: \(spec.restart.rawValue))\(waiting)")))
        case .giveUp:
            phase = .gaveUp
            // `restart: always` gives up on clean exits too; only a failure decides the exit status.
            if status != .exited(0) { actions.append(.recordFailure(status)) }
            actions.append(
                .log(
                    SupervisorEvent(
                        .gaveUp, "gave up after \(counted(spec.maxRestarts, "restart")) in a row\(waiting)")))
        }
        return actions
    }

    // MARK: - File changes

    /// The first change of a burst: say so, and stop the process now, so that stopping overlaps the debounce.
    private mutating func changeBegan(path: String, at now: ContinuousClock.Instant) -> [LifecycleAction] {
        guard !shuttingDown else { return [] }
        burstOpen = true
        if isStoppedByUser {
            // Nothing restarts; the paths are kept for the next start (SUPERWATCH_CHANGED, stale bytecode).
            announcedChange = nil
            return []
        }
        announcedChange = path
        changeNoticedAt = changeNoticedAt ?? now
        let said = LifecycleAction.log(
            SupervisorEvent(.restarting, "restarting: \(path) changed", [("changed", .string(path))]))
        return phase == .running ? [said] + stop(.restart) : [said]
    }

    /// The burst is over: start the process with the changed paths, once it is down.
    private mutating func changeSettled(paths: [String]) -> [LifecycleAction] {
        guard !shuttingDown else { return [] }
        burstOpen = false
        // Added to the paths of a burst that settled while the process was still stopping: the next start
        // needs them all (SUPERWATCH_CHANGED, stale bytecode).
        let earlier = Set(changedPaths)
        changedPaths += paths.filter { !earlier.contains($0) }
        if isStoppedByUser { return [] }
        var actions: [LifecycleAction] = []
        var others = paths
        if announcedChange == nil, let first = paths.first {
            // The burst began while the user had the process stopped, and the user has started it since.
            actions.append(
                .log(SupervisorEvent(.restarting, "restarting: \(first) changed", [("changed", .string(first))])))
            announcedChange = first
        }
        // The restart was announced with the burst's first path; the others are named now that all are known.
        others = paths.filter { $0 != announcedChange }
        announcedChange = nil
        if let first = others.first {
            let more = others.count > 1 ? " (+\(others.count - 1) more)" : ""
            actions.append(
                .log(
                    SupervisorEvent(
                        .changed, "also changed: \(first)\(more)",
                        [("changed", .string(paths.prefix(100).joined(separator: "\n")))])))
        }
        switch phase {
        case .running:
            // Started during the burst (a backoff ended): stop it again, it predates some of the changes.
            actions += stop(.restart)
        case .awaitingChanges, .backingOff, .exited, .gaveUp, .idle:
            // A process that is down comes back on a change, with its failures forgotten.
            tracker.reset()
            actions += spawn()
        case .stopping, .stopped, .stoppedByUser:
            break  // it starts again once its group is gone
        case .waitingForDependencies:
            break  // it starts once they hold, with the changed paths
        }
        return actions
    }

    /// Stopped by the user, or being stopped by the user.
    private var isStoppedByUser: Bool { phase == .stoppedByUser || phase == .stopping(.user) }

    // MARK: - Shutdown and the user's requests

    private mutating func shutdown() -> [LifecycleAction] {
        if heldForDependents {
            // Its dependents have stopped (or a second request came): stop it now.
            heldForDependents = false
            guard phase == .running else { return [] }
            return [.log(SupervisorEvent(.stopping, "stopping (\(spec.stopSignal))"))] + stop(.shutdown)
        }
        if shuttingDown {
            // Again: kill what is still stopping.
            if case .stopping = phase, pid > 0 { return [.signalGroup(pid, .kill)] }
            return []
        }
        shuttingDown = true
        switch phase {
        case .running:
            // Said before the signal is sent, so that what the process prints on it comes after.
            return [.log(SupervisorEvent(.stopping, "stopping (\(spec.stopSignal))"))] + stop(.shutdown)
        case .stopping:
            phase = .stopping(.shutdown)
        case .backingOff, .exited, .gaveUp, .idle, .awaitingChanges, .stoppedByUser, .stopped,
            .waitingForDependencies:
            phase = .stopped
        }
        return []
    }

    private mutating func userStop() -> [LifecycleAction] {
        guard !shuttingDown else { return [] }
        switch phase {
        case .running:
            return [
                .discardStandby,
                .log(SupervisorEvent(.stopping, "stopping (\(spec.stopSignal)) at the user's request")),
            ]
                + stop(.user)
        case .stopping(.restart):
            phase = .stopping(.user)
            return [.discardStandby]
        case .backingOff, .awaitingChanges, .exited, .gaveUp, .idle, .waitingForDependencies:
            phase = .stoppedByUser
            waitingFor = nil
            return [.discardStandby, .log(SupervisorEvent(.down, "stopped at the user's request"))]
        case .stopping(.user), .stopping(.shutdown), .stopped, .stoppedByUser:
            return []
        }
    }

    private mutating func userStart() -> [LifecycleAction] {
        guard !shuttingDown else { return [] }
        switch phase {
        case .stoppedByUser, .exited, .gaveUp, .backingOff, .idle, .waitingForDependencies:
            // The user's start does not wait for dependencies.
            waitingFor = nil
            startsAfterDependencies = false
            return startAgain()
        case .stopping(.user):
            phase = .stopping(.restart)
            return []
        case .running, .stopping, .awaitingChanges, .stopped:
            return []
        }
    }

    private mutating func userRestart() -> [LifecycleAction] {
        guard !shuttingDown else { return [] }
        switch phase {
        case .running:
            return [.log(SupervisorEvent(.restarting, "restarting at the user's request"))] + stop(.restart)
        case .stopping(.user):
            phase = .stopping(.restart)
            return []
        case .stoppedByUser, .exited, .gaveUp, .backingOff, .idle, .waitingForDependencies:
            waitingFor = nil
            startsAfterDependencies = false
            return [.log(SupervisorEvent(.restarting, "restarting at the user's request"))] + startAgain()
        case .stopping, .awaitingChanges, .stopped:
            return []
        }
    }

    /// The new settings apply from the next start, which comes now: a running process is stopped for a restart,
    /// one that is down (exited, given up, backing off) starts again with its failures forgotten. A process the
    /// user stopped stays stopped, and the stack's shutdown goes on; both start with the new settings if they
    /// start again. The standby interpreter was made with the old settings. With `waitsForDependencies`, the
    /// next start waits for the new settings' dependencies (`startsAfterDependencies`).
    private mutating func reconfigure(
        _ new: ProcessSpec, watchesFiles: Bool, at now: ContinuousClock.Instant, waitsForDependencies: Bool
    ) -> [LifecycleAction] {
        // The stop signal and timeout of a run that is stopped now are the old ones: taken before `spec` changes.
        var actions: [LifecycleAction] = [.discardStandby]
        if !shuttingDown {
            startsAfterDependencies = waitsForDependencies
            switch phase {
            case .running:
                changeNoticedAt = changeNoticedAt ?? now
                actions += stop(.restart)
            case .exited, .gaveUp, .backingOff, .idle:
                changeNoticedAt = changeNoticedAt ?? now
                actions += startAgain()
            case .stopping, .awaitingChanges, .stopped, .stoppedByUser, .waitingForDependencies:
                break  // starts (or not) as it would have, with the new settings
            }
        }
        spec = new
        self.watchesFiles = watchesFiles || self.watchesFiles && new.werkzeug != nil
        // The next start shows the new command.
        startedBefore = false
        return actions
    }

    /// A process that is down starts now, its failures forgotten; during a burst, once it settles.
    private mutating func startAgain() -> [LifecycleAction] {
        tracker.reset()
        timerToken += 1  // a pending backoff is over
        if burstOpen {
            phase = .awaitingChanges
            return []
        }
        return spawn()
    }

    // MARK: - Log lines

    private func log(_ kind: SupervisorEvent.Kind, _ message: String, _ status: Termination) -> LifecycleAction {
        var fields: [(String, SupervisorEvent.Value)] = []
        switch status {
        case .exited(let code): fields.append(("code", .int(Int(code))))
        case .signaled(let signal): fields.append(("signal", .string(UnixSignal(rawValue: signal).description)))
        }
        return .log(SupervisorEvent(kind, message, fields))
    }
}
