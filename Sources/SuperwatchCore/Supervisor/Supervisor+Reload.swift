import Foundation

/// What a live config reload needs and keeps between reloads.
struct ReloadState: Sendable {
    /// Where the plan came from; nil when the supervisor was given a config rather than a file: nothing to
    /// reload.
    var source: PlanSource?
    /// The plan running now.
    var current: PlanSource.Planned?
    /// The processes that run, in the config's order, once a reload has changed them (nil before: all, in
    /// the order of their ids): `superwatch status` lists them as the file does. A process a reload removed
    /// is not among them; its id is never given to another process (events of its last run may still come).
    var order: [ProcessID]?
    /// The files each `werkzeug:` bootstrap reported, to watch again when a reload replaces the watcher.
    var reportedFiles: [ProcessID: Set<String>] = [:]
    /// Watches the config file and the env files it read.
    var configWatcher: FileWatcher?
    /// What `configWatcher` watches: the config's absolute path, then its env files.
    var configFiles: [String] = []
    /// Settled changes of the config seen so far: each reads the config and finds interpreters off the actor
    /// before it is applied (`readConfigForReload`), and only the read of the latest change is applied.
    var changesSeen: UInt64 = 0
    /// Whether the event loop is to start the read of the latest change.
    var readPending = false

    init(source: PlanSource? = nil, current: PlanSource.Planned? = nil) {
        self.source = source
        self.current = current
    }
}

/// A reload ready to apply: everything that can fail (reading and planning the config, binding new sockets,
/// setting up a new watcher) is done, nothing running has changed yet.
private struct PreparedReload {
    var planned: PlanSource.Planned
    var difference: ReloadDifference
    /// By process id, the current ones first and then the added ones; nil for a retired or removed process.
    var specs: [ProcessSpec?]
    var added: [ProcessID]
    var removed: [ProcessID]
    var changed: [ProcessID]
    /// The processes of the new plan, in its order.
    var order: [ProcessID]
    var sockets: HeldSockets
    /// A watcher for the new watch sets, when they differ from the running one's; `.some(nil)`: none is needed.
    var watcher: FileWatcher??
    var pythonFiles: PythonFiles?
    /// The interpreters of changed and added `werkzeug:` processes, found off the actor before (`InterpreterLookup`).
    var interpreters: [InterpreterQuestion: PythonInterpreter] = [:]
}

/// A config read for a reload, and the interpreters its changed and added `werkzeug:` processes need, found off the
/// actor; the reload itself plans the config again against what runs then.
struct ReadConfig: Sendable {
    var config: Config
    var interpreters: [InterpreterQuestion: PythonInterpreter]
}

/// The live config reload: `superwatch reload`, the control API's `POST /v1/reload`, and a change to the config
/// file or one of its env files read the config again (`PlanSource`) and apply the difference
/// (`ReloadDifference`): new processes start, removed ones stop, those whose resolved settings changed restart,
/// the others are left alone. All or nothing: an invalid config, or a `listen:` address that cannot be bound,
/// changes nothing and is logged (and answered) with its position.
extension Supervisor {
    /// The processes `up` runs now, in the config's order: those a reload removed left out.
    var liveProcessIDs: [ProcessID] { reloading.order ?? processIDs }

    /// Reads the config again and applies the difference; returns what changed. A refusal is logged in `up`'s
    /// output as well as thrown.
    public func reload() async throws(SuperwatchError) -> ReloadSummary {
        guard acceptsRequests, !shuttingDown else { throw SuperwatchError(.notRunning, "the stack is not running") }
        let read = await readConfigForReload()
        guard acceptsRequests, !shuttingDown else { throw SuperwatchError(.notRunning, "the stack is not running") }
        // The lifecycles' timers are scheduled by the event loop.
        defer { eventSink.yield(.wake) }
        return try applyReload(read)
    }

    /// A settled change to the config file or an env file: the event loop reads the config and finds the
    /// interpreters a reload of it needs off the actor (`readConfigForReload`); `reloadForChange(_:change:)`
    /// applies it then.
    func reloadForChange() {
        guard acceptsRequests, !shuttingDown else { return }
        reloading.changesSeen += 1
        reloading.readPending = true
    }

    /// Applies the reload of the config read for change number `change`, unless a later change came meanwhile
    /// (its own read is applied instead).
    func reloadForChange(_ read: ReadConfig?, change: UInt64) {
        guard acceptsRequests, !shuttingDown, change == reloading.changesSeen else { return }
        do {
            _ = try applyReload(read)
        } catch {
            // Logged by `applyReload`; the stack runs on as it was, and the next change tries again.
        }
    }

    /// Reads the config and finds, off the actor, the interpreters of the `werkzeug:` processes a reload of it
    /// would change or add, so that applying it never waits for a wrapper script (a pyenv shim can take
    /// seconds). Nil when there is nothing to read or it cannot be planned: the reload itself then reads it
    /// again and reports why.
    func readConfigForReload() async -> ReadConfig? {
        guard let source = reloading.source, let current = reloading.current else { return nil }
        let config: Config
        let planned: PlanSource.Planned
        do {
            config = try source.load()
            planned = try source.plan(config, keeping: current)
        } catch {
            return nil  // refused, with its position, by `applyReload`
        }
        let difference = ReloadDifference.compute(old: current.plan, new: planned.plan)
        let affected = Set(difference.changed.map(\.name)).union(difference.added)
        let live = liveProcessIDs
        let idByName = Dictionary(live.map { (lifecycles[$0.index].spec.name, $0) }) { first, _ in first }
        var nextID = lifecycles.count  // added processes get the next ids, in the config's order
        var specs: [(ProcessID, ProcessSpec)] = []
        for spec in planned.plan.processes {
            let id = idByName[spec.name] ?? ProcessID(nextID)
            if idByName[spec.name] == nil { nextID += 1 }
            if affected.contains(spec.name) { specs.append((id, spec)) }
        }
        let base = ChildLaunch.baseEnvironment(
            inherited: ProcessInfo.processInfo.environment, stack: planned.plan.env)
        let interpreters = await interpreterLookup(for: specs, base: base).run()
        return ReadConfig(config: config, interpreters: interpreters)
    }

    private func applyReload(_ read: ReadConfig?) throws(SuperwatchError) -> ReloadSummary {
        guard let source = reloading.source, let current = reloading.current else {
            throw SuperwatchError(.usage, "this stack was not started from a config file; there is nothing to reload")
        }
        let began = ContinuousClock.now
        var prepared: PreparedReload
        do {
            prepared = try prepareReload(source, current, config: read?.config)
        } catch {
            log(
                nil,
                SupervisorEvent(
                    .reloadFailed, "\(error.description) (config not reloaded; the stack runs as before)",
                    [("error", .string(error.description))]))
            throw error
        }
        prepared.interpreters = read?.interpreters ?? [:]
        for warning in prepared.planned.config.warnings { log(nil, SupervisorEvent(.notice, warning.description)) }
        // A replaced watcher never reports the end of a burst of changes it saw begin (a `git checkout` that
        // changes the config and source files together): those processes, stopped for it, would wait for the
        // next change. Their bursts end with the reload.
        let openBursts =
            prepared.watcher == nil
            ? [] : liveProcessIDs.filter { lifecycles[$0.index].burstOpen && !prepared.removed.contains($0) }
        commit(prepared)
        var event = prepared.difference.event
        event.fields.append(("duration_ms", .int(Int((ContinuousClock.now - began).milliseconds))))
        log(nil, event)
        announceAddresses(of: prepared.added)
        for id in prepared.removed { deliver(.shutdown, to: id) }
        let now = ContinuousClock.now
        for id in prepared.changed {
            guard let spec = prepared.specs[id.index] else { continue }
            deliver(
                .reconfigured(
                    spec, watchesFiles: WatchSpec(process: id, spec: spec).namesFiles, at: now,
                    waitsForDependencies: !spec.dependsOn.isEmpty),
                to: id)
        }
        for id in openBursts { deliver(.settled(paths: []), to: id) }
        for id in prepared.added { startOrWait(id) }
        settleDependencies()
        watchConfig()
        return prepared.difference.summary
    }

    /// Everything that can fail, before anything running changes.
    private func prepareReload(_ source: PlanSource, _ current: PlanSource.Planned, config: Config?)
        throws(SuperwatchError) -> PreparedReload
    {
        let read: Config
        if let config { read = config } else { read = try source.load() }
        let planned = try source.plan(read, keeping: current)
        let difference = ReloadDifference.compute(old: current.plan, new: planned.plan)
        let live = liveProcessIDs
        let idByName = Dictionary(live.map { (lifecycles[$0.index].spec.name, $0) }) { first, _ in first }
        let changedNames = Set(difference.changed.map(\.name))
        var specs = [ProcessSpec?](repeating: nil, count: lifecycles.count)
        var added: [ProcessID] = []
        var changed: [ProcessID] = []
        var unchangedListen = Set<ProcessID>()
        var order: [ProcessID] = []
        for spec in planned.plan.processes {
            guard let id = idByName[spec.name] else {
                added.append(ProcessID(specs.count))
                order.append(ProcessID(specs.count))
                specs.append(spec)
                continue
            }
            order.append(id)
            specs[id.index] = spec
            if changedNames.contains(spec.name) { changed.append(id) }
            let old = lifecycles[id.index].spec
            if old.listen.map(\.address) == spec.listen.map(\.address) && old.replicaOf == spec.replicaOf {
                unchangedListen.insert(id)
            }
        }
        let removedNames = Set(difference.removed)
        let removed = live.filter { removedNames.contains(lifecycles[$0.index].spec.name) }
        // New addresses are bound first: one in use refuses the whole reload.
        let sockets = try HeldSockets.bind(for: specs, keeping: self.sockets, unchanged: unchangedListen)
        var prepared = PreparedReload(
            planned: planned, difference: difference, specs: specs, added: added, removed: removed, changed: changed,
            order: order, sockets: sockets)
        let oldWatchSets = live.map { WatchSpec(process: $0, spec: lifecycles[$0.index].spec) }.filter { !$0.isEmpty }
        let newWatchSets = specs.enumerated().compactMap { index, spec in
            spec.map { WatchSpec(process: ProcessID(index), spec: $0) }
        }.filter { !$0.isEmpty }
        if newWatchSets != oldWatchSets {
            if newWatchSets.isEmpty {
                prepared.watcher = .some(nil)
            } else {
                let eventSink = self.eventSink
                prepared.watcher = try FileWatcher(specs: newWatchSets) { eventSink.yield(.watch($0)) }
            }
        }
        // As at startup: `werkzeug:` processes and Python commands that report their files (reloader: superwatch)
        // need superwatch's Python.
        let python = specs.contains { $0?.reportsFiles == true } || sockets.anyServesWerkzeug
        if python && pythonFiles == nil {
            if let pythonDirectory {
                prepared.pythonFiles = try PythonFiles.install(at: pythonDirectory)
            } else {
                prepared.pythonFiles = try PythonFiles.installTemporary()
            }
        }
        return prepared
    }

    /// Makes the prepared reload the running state; the lifecycles are told afterwards.
    private func commit(_ prepared: PreparedReload) {
        if let files = prepared.pythonFiles { pythonFiles = files }
        baseEnvironment = ChildLaunch.baseEnvironment(
            inherited: ProcessInfo.processInfo.environment, stack: prepared.planned.plan.env)
        if !prepared.added.isEmpty {
            let specs = prepared.added.compactMap { prepared.specs[$0.index] }
            // The I/O loop learns the names before it can read a line of theirs.
            io?.setFormatter(output.addProcesses(specs.map(\.name), capacities: specs.map(\.logBuffer)))
            for (id, spec) in zip(prepared.added, specs) {
                lifecycles.append(
                    ProcessLifecycle(spec: spec, watchesFiles: WatchSpec(process: id, spec: spec).namesFiles))
            }
        }
        sockets = prepared.sockets
        for id in prepared.removed {
            standbys.discard(id, containment: containment)
            reloading.reportedFiles[id] = nil
            interpreters[id] = nil
        }
        // `python` may have changed: found before the reload, off the actor (else again at their next start).
        for id in prepared.changed + prepared.added {
            interpreters[id] = prepared.specs[id.index].flatMap { spec in
                InterpreterQuestion(spec, base: baseEnvironment).flatMap { prepared.interpreters[$0] }
            }
        }
        if let replacement = prepared.watcher {
            watcher?.stop()
            watcher = replacement
            replacement?.start()
            // What the bootstraps of the processes that keep running reported is still what they import.
            for (id, files) in reloading.reportedFiles where !prepared.changed.contains(id) {
                replacement?.addFiles(process: id, paths: files.sorted())
            }
        }
        reloading.current = prepared.planned
        reloading.order = prepared.order
        // Added processes have ids past the old graph's end, and `depends_on` may have changed.
        dependencies.graph = DependencyGraph(slots: prepared.specs)
    }

    /// Watches the config file and the env files it read, when that set is not what is watched already; a
    /// settled change reloads the config.
    func watchConfig() {
        guard let source = reloading.source, let current = reloading.current else { return }
        let path = URL(fileURLWithPath: source.path).standardizedFileURL
        // A config that is a symbolic link changes where the link points: both are watched.
        let target = path.resolvingSymlinksInPath().path
        let files = [path.path] + (target == path.path ? [] : [target]) + current.config.envFiles
        guard files != reloading.configFiles else { return }
        reloading.configWatcher?.stop()
        reloading.configWatcher = nil
        reloading.configFiles = files
        let eventSink = self.eventSink
        // Each file is watched through its directory, by name, so an editor that saves by renaming a new file
        // over the old one is seen too. The debounce lets an editor finish writing before the file is read.
        let spec = WatchSpec(
            process: ProcessID(0), root: current.config.directory, globs: [], extraFiles: files,
            debounce: .milliseconds(100))
        do {
            let watcher = try FileWatcher(specs: [spec]) { event in
                // Only a settled burst reloads; the watcher's notices speak of restarting a process.
                if case .settled = event { eventSink.yield(.configChanged) }
            }
            watcher.start()
            reloading.configWatcher = watcher
        } catch {
            log(
                nil,
                SupervisorEvent(
                    .notice,
                    "cannot watch \(source.path) for changes: \(error.message); `superwatch reload` still reloads it"))
        }
    }
}
