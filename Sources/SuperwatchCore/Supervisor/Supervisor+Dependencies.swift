import Foundation

/// The supervisor's part of start order and health: what `DependencyGraph` and the lifecycles decide, carried
/// out. Processes start once their dependencies hold (`settleDependencies`, after every event), stop in
/// reverse order at shutdown, and each probing run has one probe off the actor — on the probe engine's thread
/// (`ProbeEngine`) for the socket kinds, a task (`ProbeRunner`) for `exec` and `log` — that reports verdicts as
/// events.
struct DependencyState {
    /// Rebuilt by a live config reload (Supervisor+Reload.swift).
    var graph: DependencyGraph
    /// The probe of each process that is being probed.
    var probes: [ProcessID: RunningProbe] = [:]
    let probeRunIDs = ProbeRunIDs()
    /// Started with the first socket probe; stopped with the stack.
    var engine: ProbeEngine?
    /// When each process's current run was started (wall clock, as log records are stamped): a `log:` probe
    /// also reads the lines of the run written before it subscribed.
    var runStartTimes: [ProcessID: Date] = [:]

    init(_ specs: [ProcessSpec]) {
        graph = DependencyGraph(specs)
    }
}

/// A probe that runs for a process: where it runs, so that it can be ended.
enum RunningProbe {
    case task(Task<Void, Never>)
    case engine(ProbeEngine, id: UInt64)

    func cancel() {
        switch self {
        case .task(let task): task.cancel()
        case .engine(let engine, let id): engine.remove(id)
        }
    }
}

extension Supervisor {
    /// `up`'s first start: every process whose dependencies hold starts, in the config's order; the others
    /// wait, and start from `settleDependencies` as their dependencies come to hold.
    func startInDependencyOrder() {
        for id in processIDs {
            for name in dependencies.graph.absent[id.index] {
                log(id, SupervisorEvent(.notice, "not waiting for \(name), which this run of the stack does not start"))
            }
        }
        for id in processIDs { startOrWait(id) }
        settleDependencies()
    }

    func startOrWait(_ id: ProcessID) {
        let unmet = dependencies.graph.unmet(id.index, status: dependencyStatus)
        if unmet.isEmpty {
            deliver(.start, to: id)
        } else {
            deliver(.waitForDependencies(message: UnmetDependency.describe(unmet)), to: id)
        }
    }

    /// After every event: a waiting process whose dependencies now hold starts (which may let others start);
    /// one that still waits is told why, if that changed. While the stack stops, processes held back for
    /// their dependents stop once those have.
    func settleDependencies() {
        if shuttingDown {
            for id in processIDs where lifecycles[id.index].heldForDependents {
                if !dependencies.graph.hasLiveDependents(id.index, isDown: isDown) { deliver(.shutdown, to: id) }
            }
            return
        }
        var started = true
        while started {
            started = false
            for id in processIDs where lifecycles[id.index].phase == .waitingForDependencies {
                startOrWait(id)
                if lifecycles[id.index].phase != .waitingForDependencies { started = true }
            }
        }
    }

    /// Whether instance `index` has no run up any more (at shutdown, nothing starts again).
    private func isDown(_ index: Int) -> Bool {
        switch lifecycles[index].phase {
        case .running, .stopping: return false
        default: return true
        }
    }

    /// Where instance `index` stands for the processes that depend on it.
    func dependencyStatus(_ index: Int) -> DependencyStatus {
        let lifecycle = lifecycles[index]
        var status = DependencyStatus()
        switch lifecycle.phase {
        case .running where lifecycle.pid > 0:
            status.running = true
            status.ready = lifecycle.isReady || lifecycle.spec.readiness == nil
            status.failure = lifecycle.readinessFailure
        case .exited, .gaveUp:
            status.completed = lifecycle.lastExit == .exited(0)
            if lifecycle.phase == .gaveUp {
                status.failure = "superwatch gave up on it after \(counted(lifecycle.spec.maxRestarts, "restart"))"
            } else if let exit = lifecycle.lastExit {
                status.failure = "it \(exit == .exited(0) ? "exited with code 0" : Self.said(exit))"
            }
        case .stoppedByUser:
            status.failure = "it was stopped by the user"
        case .running, .idle, .waitingForDependencies, .stopping, .backingOff, .awaitingChanges, .stopped:
            break
        }
        return status
    }

    /// `exited with code 1`, `was killed by SIGKILL`.
    private static func said(_ status: Termination) -> String {
        if case .signaled = status { return "was \(status)" }
        return status.description
    }

    /// Stops the stack in reverse dependency order: a process that something still running depends on is held
    /// back (not restarted, not yet signalled) until its dependents have stopped.
    func shutdownInDependencyOrder() {
        for id in processIDs {
            let live = dependencies.graph.dependents[id.index].filter { !isDown($0) }
            if live.isEmpty {
                deliver(.shutdown, to: id)
            } else {
                let names = live.map { lifecycles[$0].spec.name }.joined(separator: ", ")
                deliver(.holdForShutdown(after: names), to: id)
            }
        }
    }

    /// A second request to stop: whatever is held back or still stopping is killed now.
    func killInShutdown() {
        for id in processIDs {
            if lifecycles[id.index].heldForDependents { deliver(.shutdown, to: id) }
            deliver(.shutdown, to: id)
        }
    }

    // MARK: - Probes

    /// Starts the probe task for run `runID` of process `id` (replacing the one it had).
    func startProbe(_ id: ProcessID, role: ProbeRole, runID: UInt64) {
        stopProbes(id)
        let spec = lifecycles[id.index].spec
        let eventSink = self.eventSink
        let report: @Sendable (ProbeVerdict) -> Void = { eventSink.yield(.probe(process: id, runID: runID, $0)) }
        let now = ContinuousClock.now
        let probe: Probe
        let schedule: ProbeSchedule
        switch role {
        case .readiness:
            guard let readiness = spec.readiness else { return }
            probe = readiness
            schedule = ProbeSchedule(readinessOf: spec, startedAt: lifecycles[id.index].startedAt ?? now)
        case .liveness:
            guard let health = spec.health else { return }
            probe = health.probe
            schedule = ProbeSchedule(liveness: health, startedAt: now)
        }
        if case .log(let pattern) = probe {
            let compiled: LogPattern
            do { compiled = try LogPattern(pattern) } catch {
                // The loader compiled it already; the C library would have to change its mind.
                log(id, SupervisorEvent(.notice, "cannot compile the log probe `\(pattern)`: \(error.message)"))
                return
            }
            // The lines the run wrote before this subscription are in the backlog.
            let follow = output.subscribe(processes: [id], tail: Self.logProbeBacklog)
            let since = dependencies.runStartTimes[id] ?? .distantPast
            let earlier = follow.backlog.filter { $0.time >= since }
            dependencies.probes[id] = .task(
                Task.detached {
                    await ProbeRunner.watchLog(
                        compiled, earlier: earlier, lines: follow.batches, schedule: schedule, report: report)
                })
            return
        }
        guard let target = probeTarget(id, probe) else {
            log(id, SupervisorEvent(.notice, "nothing to probe for \(probe): it has no socket superwatch holds"))
            return
        }
        guard target.isSocket else {
            dependencies.probes[id] = .task(
                Task.detached { await ProbeRunner.run(target, schedule: schedule, report: report) })
            return
        }
        let engine: ProbeEngine
        if let running = dependencies.engine {
            engine = running
        } else {
            do {
                engine = try ProbeEngine(onFailure: { eventSink.yield(.ioFailed($0)) })
            } catch {
                log(id, SupervisorEvent(.notice, "cannot probe \(probe): \(error.message)"))
                return
            }
            engine.start()
            dependencies.engine = engine
        }
        if let probeID = engine.add(target, schedule: schedule, report: report) {
            dependencies.probes[id] = .engine(engine, id: probeID)
        }
    }

    /// How many of a process's latest lines a `log:` probe looks at for those its run wrote before the probe
    /// subscribed (a woken standby starts running at once; the probe subscribes a moment later).
    private static let logProbeBacklog = 256

    func stopProbes(_ id: ProcessID) {
        dependencies.probes.removeValue(forKey: id)?.cancel()
    }

    /// Ends every probe and the probe engine (the stack has ended).
    func stopAllProbes() {
        for probe in dependencies.probes.values { probe.cancel() }
        dependencies.probes.removeAll()
        dependencies.engine?.stop()
        dependencies.engine = nil
    }

    /// What `probe` connects to or runs for process `id`.
    private func probeTarget(_ id: ProcessID, _ probe: Probe) -> ProbeTarget? {
        let spec = lifecycles[id.index].spec
        switch probe {
        case .tcp(let host, let port):
            return .tcp(host: host, port: port)
        case .http(let target):
            return .http(target, anyStatus: false)
        case .exec(let command):
            let request = LaunchRequest(
                arguments: ["/bin/sh", "-c", command], cwd: spec.cwd,
                environment: ChildLaunch.processEnvironment(spec, base: baseEnvironment), stopSignal: .kill,
                stopTimeoutMilliseconds: 0)
            let containment = self.containment
            let runIDs = dependencies.probeRunIDs
            // `.probe`: no process name has a dot other than a replica's number, so no run's cgroup can take it.
            let name = "\(spec.name).probe"
            let runner = PythonInterpreter.Runner(
                launch: { request throws(SuperwatchError) in
                    try containment.launch(request, process: id, name: name, runID: runIDs.next())
                },
                kill: { containment.signal($0, SIGKILL) }, release: { containment.release($0) })
            return .exec(request, runner)
        case .log:
            return nil
        case .heldSocket:
            let held = sockets[id]
            if spec.werkzeug != nil, let socket = held.first {
                switch socket.bound {
                case .tcp(let host, let port):
                    let connectTo = SocketProbe.loopback(for: host)
                    return .http(
                        HTTPProbeTarget(url: socket.url, host: connectTo, port: port, path: "/"), anyStatus: true)
                case .unix(let path):
                    return .unixHTTP(path: path)
                }
            }
            guard let socket = held.first(where: { if case .tcp = $0.bound { return true } else { return false } })
            else { return nil }
            return .acceptQueue(socket)
        }
    }

    /// A probe task's verdict on run `runID` of process `id`.
    func handleProbe(_ id: ProcessID, runID: UInt64, _ verdict: ProbeVerdict) {
        switch verdict {
        case .keepProbing:
            break
        case .ready:
            deliver(.probePassed(runID: runID, at: .now), to: id)
        case .notReadyInTime(let lastError):
            deliver(.readyTimedOut(runID: runID, lastError: lastError), to: id)
        case .unhealthy(let failures, let lastError):
            deliver(.unhealthy(runID: runID, failures: failures, lastError: lastError), to: id)
        }
    }

    /// Process `id` is ready again after a restart and has `restart_dependents`: its running dependents
    /// restart.
    func restartDependents(of id: ProcessID) {
        let name = lifecycles[id.index].spec.replicaOf ?? lifecycles[id.index].spec.name
        for dependent in dependencies.graph.dependents[id.index] {
            deliver(.dependencyReadyAgain(name: name), to: ProcessID(dependent))
        }
    }
}
