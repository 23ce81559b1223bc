import CSuperwatchShim
import Dispatch
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Keeps everything superwatch starts within its reach, whatever those processes do and however superwatch
/// ends. Every start goes through here; so does every signal to a run and every "is it gone yet?".
///
/// - The **keeper** (a forked process in the C shim) holds the process group — and cgroup — of every run
///   and stops them when superwatch dies, even by SIGKILL. Its pidfd is watched: a keeper that dies is
///   reported at once and replaced by a new one that gets every live group.
/// - superwatch is a **child subreaper**, so what a run's processes orphan (a double-forked daemon) is
///   re-parented to superwatch rather than to init, and superwatch reaps it.
/// - Where cgroup v2 is writable, **each run has its own cgroup** (`CgroupTree`), which nothing can leave
///   by changing session or process group: stopping a run signals its whole cgroup and ends with
///   `cgroup.kill`. Elsewhere, a **scan of /proc** once a second (and before each stop) finds processes
///   that left their run's group; they are logged, registered with the keeper and stopped with their run,
///   or with the stack when their origin is unknown.
/// - superwatch's own descriptor limit is raised (`DescriptorLimit`); children get the original back.
///
/// Thread safety: all state is behind one mutex, which a start holds from fork to registration, so the scan
/// never mistakes a child being started for an orphan, and never reaps a child superwatch reaps through its
/// pidfd.
final class Containment: Sendable {
    /// A process group superwatch started: a run or a standby interpreter.
    struct Run: Sendable {
        var process: ProcessID
        var name: String
        var stopSignal: Int32
        var timeoutMilliseconds: Int32
        /// Its cgroup's name in the tree, when processes run in cgroups.
        var cgroup: String?
    }

    /// The process group of something that left its run's group (found by the scan, without cgroups).
    struct Escape: Sendable {
        /// The run it came from (its process group); nil once that run has ended or when its parent had
        /// already exited when the scan found it.
        var run: pid_t?
        var stopSignal: Int32
        var timeoutMilliseconds: Int32
        var signalled = false
    }

    /// The running keeper: its pid, its pidfd (watched) and the write end of its pipe. The descriptors are
    /// owned by the containment: the pidfd by the Dispatch source watching it (closed by its cancel handler),
    /// the write end by `State.keeper` (closed when the keeper is replaced or superwatch closes).
    struct Keeper: Sendable {
        var pid: pid_t
        var pidfd: Int32
        var writeFD: Int32

        /// Tells the keeper to stop group `pgid` (and the members of its cgroup `cgroup`) if superwatch dies.
        func register(_ pgid: pid_t, signal: Int32, timeoutMilliseconds: Int32, cgroup: String? = nil) {
            send(SW_KEEPER_REGISTER, pgid, signal: signal, timeoutMilliseconds: timeoutMilliseconds, cgroup: cgroup)
        }

        func unregister(_ pgid: pid_t) { send(SW_KEEPER_UNREGISTER, pgid, signal: 0, timeoutMilliseconds: 0) }

        private func send(
            _ op: sw_keeper_op, _ pgid: pid_t, signal: Int32, timeoutMilliseconds: Int32, cgroup: String? = nil
        ) {
            let result = sw_keeper_send(writeFD, op, pgid, signal, timeoutMilliseconds, cgroup)
            // EPIPE: the keeper died. Its pidfd says so at once, `keeperDied` reports it and registers every
            // live group with its successor, so nothing is lost here. Anything else (a cgroup name too long for
            // the record) is a bug.
            assert(result == 0 || result == -EPIPE, "sw_keeper_send: \(Errno(rawValue: -result))")
        }
    }

    /// A Dispatch source (the keeper's pidfd, the scan's timer). Dispatch sources may be cancelled from any
    /// thread, which is all that is done with them once they run; Swift does not know that.
    private struct Source: @unchecked Sendable {
        let source: any DispatchSourceProtocol
        init(_ source: any DispatchSourceProtocol) { self.source = source }
    }

    private struct State: Sendable {
        var keeper: Keeper?
        var runs: [pid_t: Run] = [:]
        var escapes: [pid_t: Escape] = [:]
        /// Run cgroups whose last member was still exiting when the run ended: removed by the next scan.
        var leftoverCgroups: [String] = []
        var cgroups: CgroupTree?
        var descriptors = DescriptorLimit(original: 0, current: 0)
        var closed = false
    }

    /// How often the scan runs (reaping adopted orphans; without cgroups, finding escapes).
    static let scanInterval: Duration = .seconds(1)

    private let state = Mutex(State())
    private let queue = DispatchQueue(label: "superwatch.containment")
    private let sources = Mutex<[Source]>([])
    private let log: @Sendable (ProcessID?, SupervisorEvent) -> Void
    private let cgroupsDisabled: Bool
    private let spawnMode: SpawnMode
    private let selfPID = getpid()

    /// `log` receives superwatch's own events (a lost keeper, an escape, the cgroup fallback) from any thread.
    /// `SUPERWATCH_NO_CGROUP=1` in `environment` turns cgroups off; `SUPERWATCH_SPAWN=fork` creates children
    /// and the keeper with fork + pidfd_open instead of clone3.
    init(environment: [String: String], log: @escaping @Sendable (ProcessID?, SupervisorEvent) -> Void) {
        self.log = log
        cgroupsDisabled = environment["SUPERWATCH_NO_CGROUP"].map { !$0.isEmpty && $0 != "0" } ?? false
        spawnMode = SpawnMode(environment: environment)
    }

    /// Raises the descriptor limit, becomes a subreaper, creates the cgroup tree (or says why not) and
    /// starts the keeper.
    func start() throws(SuperwatchError) {
        let descriptors = DescriptorLimit.raise()
        if spawnMode == .fork {
            log(nil, SupervisorEvent(.notice, "processes are created with fork and pidfd_open (SUPERWATCH_SPAWN=fork)"))
        }
        if case let result = sw_become_subreaper(), result != 0 {
            log(
                nil,
                SupervisorEvent(
                    .notice,
                    "cannot become a child subreaper (\(Errno(rawValue: -result))): processes "
                        + "whose parent exits are re-parented to init, out of superwatch's reach"))
        }
        var cgroups: CgroupTree?
        let why: String?
        if cgroupsDisabled {
            why = "SUPERWATCH_NO_CGROUP is set"
        } else {
            switch CgroupTree.create() {
            case .success(let tree):
                cgroups = tree
                why = nil
            case .failure(let unavailable): why = unavailable.reason
            }
        }
        if let why {
            log(
                nil,
                SupervisorEvent(
                    .notice,
                    "processes do not get cgroups (\(why)): a process that leaves its "
                        + "process group is found by a scan of /proc once a second and stopped with its process or the stack"
                ))
        }
        let keeper: Keeper
        do {
            keeper = try Self.startKeeper(cgroupParent: cgroups?.parent, mode: spawnMode)
        } catch {
            if let cgroups, let failure = cgroups.removeAllNow() {
                log(nil, SupervisorEvent(.notice, "cannot remove the cgroup \(cgroups.parent): \(failure)"))
            }
            throw error
        }
        state.withLock {
            $0.descriptors = descriptors
            $0.cgroups = cgroups
            $0.keeper = keeper
        }
        watch(keeper)
        let timer = DispatchSource.makeTimerSource(queue: queue)
        timer.schedule(deadline: .now() + Self.dispatchInterval(Self.scanInterval), leeway: .milliseconds(100))
        timer.setEventHandler { [weak self, timer] in
            guard let self else { return }
            let took = ContinuousClock().measure { self.scan() }
            // A scan of /proc costs time in proportion to the processes it reads: with thousands of them,
            // wait longer, so that the scan takes at most a twentieth of superwatch's time.
            timer.schedule(
                deadline: .now() + Self.dispatchInterval(max(Self.scanInterval, took * 20)),
                leeway: .milliseconds(100))
        }
        timer.resume()
        sources.withLock { $0.append(Source(timer)) }
    }

    /// Starts one run of process `process` (`name` for its cgroup and the log): in its own cgroup when there
    /// are cgroups, registered with the keeper, with the descriptor limit superwatch was given.
    func launch(_ request: LaunchRequest, process: ProcessID, name: String, runID: UInt64)
        throws(SuperwatchError) -> LaunchedProcess
    {
        try state.withLock { (state: inout State) throws(SuperwatchError) -> LaunchedProcess in
            var request = request
            request.keeperFD = state.keeper?.writeFD ?? -1
            request.mode = spawnMode
            if state.descriptors.current > state.descriptors.original {
                request.descriptorLimit = state.descriptors.original
            }
            var cgroup: String?
            // The run's cgroup.procs, open until the start is done (the child writes itself into it).
            var procs: OwnedDescriptor?
            if let tree = state.cgroups {
                let runName = CgroupTree.runName(process: name, runID: runID)
                do throws(SuperwatchError) {
                    procs = try tree.makeRun(runName)
                } catch {
                    throw Launcher.explain(error)
                }
                cgroup = runName
            }
            request.cgroupProcsFD = procs?.rawValue ?? -1
            request.cgroupName = cgroup
            let launched: LaunchedProcess
            do throws(SuperwatchError) {
                launched = try Launcher.launch(request)
            } catch {
                if let cgroup, let tree = state.cgroups, !tree.remove(cgroup) { state.leftoverCgroups.append(cgroup) }
                throw error
            }
            state.runs[launched.pid] = Run(
                process: process, name: name, stopSignal: request.stopSignal.rawValue,
                timeoutMilliseconds: request.stopTimeoutMilliseconds, cgroup: cgroup)
            return launched
        }
    }

    /// Sends `signal` to run `pgid`: its process group and everything that left it (its cgroup, or the
    /// escapes the scan attributed to it). SIGKILL to a cgroup is `cgroup.kill`.
    func signal(_ pgid: pid_t, _ signal: Int32) {
        guard pgid > 0 else { return }
        // Without cgroups, find what left the group while the tree of parents still leads back to the run.
        report(findEscapes())
        let (run, tree, escapes) = state.withLock { state in
            (
                state.runs[pgid], state.cgroups,
                state.escapes.filter { $0.value.run == pgid }.map(\.key)
            )
        }
        signalGroup(pgid, signal)
        if let cgroup = run?.cgroup, let tree,
            let failure = signal == SIGKILL ? tree.kill(cgroup) : tree.signal(cgroup, signal, skippingGroup: pgid)
        {
            // The group itself got the signal; what left it may not have. Said, since it may outlive the run.
            log(
                run?.process,
                SupervisorEvent(.notice, "cannot signal the cgroup \(tree.path(cgroup)): \(failure)"))
        }
        for group in escapes { signalGroup(group, signal) }
    }

    /// Whether run `pgid` still has a live process: in its cgroup, or in its group or the groups of its
    /// escapes. Zombies do not count.
    func isAlive(_ pgid: pid_t) -> Bool {
        let (run, tree, escapes) = state.withLock { state in
            (state.runs[pgid], state.cgroups, state.escapes.filter { $0.value.run == pgid }.map(\.key))
        }
        if let cgroup = run?.cgroup, let tree { return tree.isPopulated(cgroup) }
        if escapes.isEmpty { return processGroupIsAlive(pgid) }
        return anyAlive(in: Set(escapes + [pgid]))
    }

    /// Whether a live process (not a zombie) of superwatch's own tree is in one of `groups`.
    private func anyAlive(in groups: Set<pid_t>) -> Bool {
        ProcessTable.read(under: selfPID).entries.values.contains { !$0.isZombie && groups.contains($0.group) }
    }

    /// Run `pgid` has ended (its group is gone): unregisters it from the keeper and removes its cgroup. What
    /// it left behind that still runs is stopped with the stack.
    func release(_ pgid: pid_t) {
        state.withLock { state in
            guard let run = state.runs.removeValue(forKey: pgid) else { return }
            state.keeper?.unregister(pgid)
            if let cgroup = run.cgroup, let tree = state.cgroups, !tree.remove(cgroup) {
                state.leftoverCgroups.append(cgroup)
            }
            for (group, escape) in state.escapes where escape.run == pgid {
                if processGroupIsAlive(group) {
                    state.escapes[group]?.run = nil
                } else {
                    state.escapes[group] = nil
                    state.keeper?.unregister(group)
                }
            }
        }
    }

    private static func dispatchInterval(_ duration: Duration) -> DispatchTimeInterval {
        .milliseconds(Int(duration.milliseconds))
    }

    /// The stack is shutting down: sends the escapes that no run will stop their stop signal (once), or
    /// `signal` (a second Ctrl-C's SIGKILL).
    func stopStrays(with signal: Int32? = nil) {
        let strays = state.withLock { state in
            var strays: [(pid_t, Int32)] = []
            for (group, escape) in state.escapes where escape.run == nil && (signal != nil || !escape.signalled) {
                state.escapes[group]?.signalled = true
                strays.append((group, signal ?? escape.stopSignal))
            }
            return strays
        }
        for (group, signal) in strays { signalGroup(group, signal) }
    }

    /// Every run has ended: stops what is left (escapes whose run ended or is unknown, a last scan's
    /// finds), SIGKILLs it after its timeout, reaps it and removes the cgroups.
    func finish() async {
        report(findEscapes())
        stopStrays()
        let (groups, timeout, tree) = state.withLock { state in
            (Set(state.escapes.keys), state.escapes.values.map(\.timeoutMilliseconds).max() ?? 0, state.cgroups)
        }
        if !groups.isEmpty {
            let deadline = ContinuousClock.now + .milliseconds(Int64(timeout))
            while anyAlive(in: groups), ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(10)) }
            if anyAlive(in: groups) {
                log(
                    nil,
                    SupervisorEvent(
                        .stopTimeout,
                        "processes that left their process group did not stop "
                            + "within \(Duration.milliseconds(Int64(timeout)).humanReadable); sending them SIGKILL"))
                for group in groups { signalGroup(group, SIGKILL) }
            }
        }
        if let tree, let failure = await tree.removeAll() {
            log(nil, SupervisorEvent(.notice, "cannot remove the cgroup \(tree.parent): \(failure)"))
        }
        state.withLock { state in
            for group in groups {
                state.escapes[group] = nil
                state.keeper?.unregister(group)
            }
            reapAdopted(state)
        }
    }

    /// Ends the keeper (its pipe closes; it has nothing left to stop) and the scan.
    func close() {
        let keeper = state.withLock { state in
            state.closed = true
            defer { state.keeper = nil }
            return state.keeper
        }
        sources.withLock { sources in
            sources.forEach { $0.source.cancel() }
            sources.removeAll()
        }
        if let keeper { closeAsserting(keeper.writeFD) }
    }

    // MARK: - The keeper

    /// Starts a keeper (clone3 or fork) that will kill `cgroupParent` too, with its pidfd.
    static func startKeeper(cgroupParent: String?, mode: SpawnMode) throws(SuperwatchError) -> Keeper {
        var writeFD: Int32 = -1
        var pidfd: Int32 = -1
        let pid =
            cgroupParent.map { parent in parent.withCString { sw_keeper_start(&writeFD, &pidfd, $0, mode.shim) } }
            ?? sw_keeper_start(&writeFD, &pidfd, nil, mode.shim)
        guard pid > 0 else {
            let failure = Errno(rawValue: -pid)
            throw SuperwatchError(
                .system(syscall: "sw_keeper_start", errno: failure), "cannot start the keeper process: \(failure)")
        }
        return Keeper(pid: pid, pidfd: pidfd, writeFD: writeFD)
    }

    /// Replaces the keeper as soon as it dies (its pidfd becomes readable).
    private func watch(_ keeper: Keeper) {
        let source = DispatchSource.makeReadSource(fileDescriptor: keeper.pidfd, queue: queue)
        source.setEventHandler { [weak self, source] in
            source.cancel()
            self?.keeperDied(keeper)
        }
        source.setCancelHandler { closeAsserting(keeper.pidfd) }
        sources.withLock { $0.append(Source(source)) }
        source.resume()
    }

    private func keeperDied(_ dead: Keeper) {
        let (event, replacement): (SupervisorEvent?, Keeper?) = state.withLock { state in
            guard !state.closed, state.keeper?.pid == dead.pid else { return (nil, nil) }
            var code: Int32 = 0
            var signal: Int32 = 0
            let reaped = sw_pidfd_reap(dead.pidfd, &code, &signal)
            let how = reaped <= 0 ? "" : ", " + (signal != 0 ? Termination.signaled(signal) : .exited(code)).description
            closeAsserting(dead.writeFD)
            state.keeper = nil
            let keeper: Keeper
            do throws(SuperwatchError) {
                keeper = try Self.startKeeper(cgroupParent: state.cgroups?.parent, mode: spawnMode)
            } catch {
                return (
                    SupervisorEvent(
                        .keeperLost,
                        "the keeper process is gone (pid \(dead.pid)\(how)) and no new "
                            + "one could be started (\(error.message)): if superwatch is killed with SIGKILL, its "
                            + "processes will be left running"), nil
                )
            }
            for (pgid, run) in state.runs {
                keeper.register(
                    pgid, signal: run.stopSignal, timeoutMilliseconds: run.timeoutMilliseconds, cgroup: run.cgroup)
            }
            for (group, escape) in state.escapes {
                keeper.register(group, signal: escape.stopSignal, timeoutMilliseconds: escape.timeoutMilliseconds)
            }
            state.keeper = keeper
            let groups = state.runs.count + state.escapes.count
            return (
                SupervisorEvent(
                    .keeperLost,
                    "the keeper process is gone (pid \(dead.pid)\(how)); a new "
                        + "keeper (pid \(keeper.pid)) now holds the \(groups) running process group\(groups == 1 ? "" : "s")",
                    [("pid", .int(Int(keeper.pid)))]), keeper
            )
        }
        if let replacement { watch(replacement) }
        if let event { log(nil, event) }
    }

    // MARK: - The scan

    /// Once a second: reaps orphans that died, removes leftover cgroups and, without cgroups, finds escapes.
    private func scan() {
        state.withLock { state in
            guard !state.closed else { return }
            if let tree = state.cgroups {
                state.leftoverCgroups.removeAll { tree.remove($0) }
            }
            reapAdopted(state)
        }
        report(findEscapes())
    }

    /// Reaps the zombies among superwatch's children that it did not start (orphans re-parented to it).
    /// Its own runs are reaped through their pidfds by the I/O loop: a zombie is only looked at (WNOWAIT)
    /// until it is known not to be one of them, then reaped by its pid, never with waitpid(-1). A run's
    /// zombie not yet reaped by the I/O loop hides the others until the next scan.
    private func reapAdopted(_ state: State) {
        // sw_next_zombie's -ECHILD (no children at all) ends the loop like 0 (none has exited).
        while case let pid = sw_next_zombie(), pid > 0, state.runs[pid] == nil, pid != state.keeper?.pid {
            // A zombie that cannot be reaped (only if something else reaped it meanwhile) would be found again
            // and again: stop until the next scan.
            guard sw_reap_pid(pid) == 1 else { break }
        }
    }

    /// Without cgroups: finds processes that left their run's group, registers their groups with the
    /// keeper and says so. /proc is read without the lock (starts may go on meanwhile); each find is read
    /// again under it, where no start is half done, so a child being started is never taken for an orphan.
    private func findEscapes() -> [(ProcessID?, SupervisorEvent)] {
        guard state.withLock({ $0.cgroups == nil && !$0.closed }) else { return [] }
        let table = ProcessTable.read(under: selfPID)
        return state.withLock { state in findEscapes(&state, in: table) }
    }

    private func findEscapes(_ state: inout State, in table: ProcessTable) -> [(ProcessID?, SupervisorEvent)] {
        var own = Set(state.runs.keys)
        if let keeper = state.keeper { own.insert(keeper.pid) }
        let groups = own.union(state.escapes.keys)
        var events: [(ProcessID?, SupervisorEvent)] = []
        let ownGroup = getpgrp()
        for (entry, origin) in table.escapees(from: groups, reaper: selfPID, own: own) {
            // Never superwatch's own group or init's; each new group once (its members found together).
            guard entry.group > 1, entry.group != ownGroup, state.escapes[entry.group] == nil, !own.contains(entry.pid),
                let now = ProcessTable.readStat(entry.pid), !now.isZombie, now.group == entry.group,
                now.parent == entry.parent
            else { continue }
            let run = origin.flatMap { state.runs[$0] != nil ? $0 : state.escapes[$0]?.run }
            let record = run.flatMap { state.runs[$0] }
            // One whose run is unknown is stopped as a process with the default stop settings would be.
            let escape = Escape(
                run: run, stopSignal: record?.stopSignal ?? ProcessSpec.defaultStopSignal.rawValue,
                timeoutMilliseconds: record?.timeoutMilliseconds
                    ?? Int32(clamping: ProcessSpec.defaultStopTimeout.milliseconds))
            state.escapes[entry.group] = escape
            state.keeper?.register(
                entry.group, signal: escape.stopSignal, timeoutMilliseconds: escape.timeoutMilliseconds)
            let fields: [(String, SupervisorEvent.Value)] = [("pid", .int(Int(entry.pid)))]
            if let record {
                events.append(
                    (
                        record.process,
                        SupervisorEvent(
                            .escaped,
                            "pid \(entry.pid) (\(entry.name)) left its "
                                + "process group; it is stopped with \(record.name)", fields)
                    ))
            } else {
                events.append(
                    (
                        nil,
                        SupervisorEvent(
                            .escaped,
                            "pid \(entry.pid) (\(entry.name)) left its process "
                                + "group and its parent exited; it is stopped with the stack", fields)
                    ))
            }
        }
        return events
    }

    private func report(_ events: [(ProcessID?, SupervisorEvent)]) {
        for (process, event) in events { log(process, event) }
    }
}
