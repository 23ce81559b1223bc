import Foundation

/// The verbs the control API calls on a running stack. Each request becomes an event of the named processes'
/// lifecycles, handled like any other; the timers it schedules are picked up by the event loop (`.wake`).
extension Supervisor: StackControl {
    public func status() -> [ProcessStatus] {
        let wallNow = Date()
        let now = ContinuousClock.now
        let watchedFiles = watcher?.watchedFileCounts() ?? [:]
        return liveProcessIDs.map { id in
            let lifecycle = lifecycles[id.index]
            let running = lifecycle.phase == .running && lifecycle.pid > 0
            let held = sockets[id]
            var addresses = held.map(\.url)
            var port = held.first(where: { $0.port != nil })?.port.map(Int.init)
            if held.isEmpty, let own = portWithoutSocket(id) {
                addresses = ["http://127.0.0.1:\(own)"]
                port = own
            }
            return ProcessStatus(
                name: lifecycle.spec.name, state: lifecycle.state, pid: running ? lifecycle.pid : nil,
                startedAt: running ? lifecycle.startedAt.map { wallNow - TimeInterval(seconds: now - $0) } : nil,
                restarts: max(0, lifecycle.starts - 1), lastExit: lifecycle.lastExit?.description,
                lastExitStatus: lifecycle.lastExit?.shellStatus, addresses: addresses, port: port,
                watchedFiles: watchedFiles[id] ?? 0,
                lastReloadMilliseconds: lifecycle.lastReload.map { Int($0.milliseconds) }, detail: detail(lifecycle),
                readyAfterMilliseconds: running ? lifecycle.readyAfter.map { Int($0.milliseconds) } : nil)
        }
    }

    public func restart(_ names: [String]) throws(SuperwatchError) -> [String] {
        try request(.userRestart, for: names)
    }

    public func stop(_ names: [String]) throws(SuperwatchError) -> [String] {
        try request(.userStop, for: names)
    }

    public func start(_ names: [String]) throws(SuperwatchError) -> [String] {
        try request(.userStart, for: names)
    }

    public func shutdown() {
        eventSink.yield(.shutdownRequested)
    }

    public func logs(_ names: [String], tail: Int) throws(SuperwatchError) -> [LogRecord] {
        output.recent(processes: try names.isEmpty ? nil : Set(select(names)), tail: tail)
    }

    public func follow(_ names: [String], tail: Int) throws(SuperwatchError) -> LogFollow {
        output.subscribe(processes: try names.isEmpty ? nil : Set(select(names)), tail: tail)
    }

    /// Feeds `event` to the lifecycle of every process `names` selects, once all names are known; returns the
    /// names of those it changed.
    private func request(_ event: LifecycleEvent, for names: [String]) throws(SuperwatchError) -> [String] {
        let selected = try select(names)
        guard acceptsRequests else { throw SuperwatchError(.notRunning, "the stack is not running") }
        var acted: [String] = []
        for id in selected {
            let before = lifecycles[id.index].phase
            let actions = lifecycles[id.index].handle(event)
            if !actions.isEmpty || lifecycles[id.index].phase != before { acted.append(lifecycles[id.index].spec.name) }
            perform(actions, for: id)
        }
        eventSink.yield(.wake)
        return acted
    }

    /// The processes `names` name, in the config's order: a name selects a process and all its replicas
    /// (`web`), or one replica (`web.2`). An unknown name is an error, and then nothing is selected.
    func select(_ names: [String]) throws(SuperwatchError) -> [ProcessID] {
        let live = liveProcessIDs.map { lifecycles[$0.index].spec }
        for name in names where !live.contains(where: { $0.name == name || $0.replicaOf == name }) {
            let known = live.map(\.name).joined(separator: ", ")
            throw SuperwatchError(.unknownProcess(name: name), "no process named `\(name)`; the stack has \(known)")
        }
        return liveProcessIDs.filter { id in
            let spec = lifecycles[id.index].spec
            return names.contains(spec.name) || spec.replicaOf.map(names.contains) == true
        }
    }

    /// Why a process is in its state, when that needs saying.
    private func detail(_ lifecycle: ProcessLifecycle) -> String? {
        switch lifecycle.phase {
        case .gaveUp: return "gave up after \(counted(lifecycle.spec.maxRestarts, "restart")) in a row"
        case .exited: return lifecycle.lastExit?.description
        case .waitingForDependencies: return lifecycle.waitingFor
        case .running:
            if let after = lifecycle.readyAfter { return "after \(after.humanReadable)" }
            return lifecycle.readinessFailure
        default: return nil
        }
    }
}

extension TimeInterval {
    /// `duration` in seconds.
    init(seconds duration: Duration) {
        let (seconds, attoseconds) = duration.components
        self = Double(seconds) + Double(attoseconds) / 1e18
    }
}
