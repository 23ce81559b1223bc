import Testing

@testable import SuperwatchCore

#if canImport(Glibc)
    import Glibc
#endif

/// Drives a `ProcessLifecycle` as the supervisor does, with no process: a `.spawn` is answered at once with
/// `.spawned` (or `.spawnFailed`), timers fire when a test says so, and time passes when a test says so.
private struct Driver {
    var lifecycle: ProcessLifecycle
    var now = ContinuousClock.now
    var spawnsFail = false
    private var nextRunID: UInt64 = 0
    /// The token of the last timer of each kind that was scheduled.
    private(set) var timers: [LifecycleTimer: UInt64] = [:]
    private(set) var failures: [Termination] = []
    /// The changed paths of each spawn, in order.
    private(set) var spawns: [[String]] = []

    init(_ spec: ProcessSpec, watchesFiles: Bool = false) {
        lifecycle = ProcessLifecycle(spec: spec, watchesFiles: watchesFiles)
    }

    var phase: LifecyclePhase { lifecycle.phase }
    var pid: pid_t { lifecycle.pid }

    /// Feeds `event`, answers what the supervisor would answer at once, and returns every action.
    @discardableResult
    mutating func send(_ event: LifecycleEvent) -> [LifecycleAction] {
        let actions = lifecycle.handle(event)
        var all = actions
        for action in actions {
            switch action {
            case .spawn(let changed):
                spawns.append(changed)
                nextRunID += 1
                all += send(
                    spawnsFail
                        ? .spawnFailed(runID: nextRunID, message: "no such program", at: now)
                        : .spawned(runID: nextRunID, pid: pid_t(1000 + nextRunID), viaStandby: false, at: now))
            case .scheduleTimer(let kind, _, let token): timers[kind] = token
            case .recordFailure(let status): failures.append(status)
            default: break
            }
        }
        return all
    }

    /// The current run's leader exits with `status` and its group is gone.
    @discardableResult
    mutating func exit(_ status: Termination, after ran: Duration = .seconds(1)) -> [LifecycleAction] {
        now += ran
        let runID = lifecycle.runID
        return send(.leaderExited(runID: runID, status)) + send(.groupGone(runID: runID, status, at: now))
    }

    /// The timer of `kind` scheduled last fires.
    @discardableResult
    mutating func fire(_ kind: LifecycleTimer) -> [LifecycleAction] {
        let token = timers[kind] ?? 0
        return send(kind == .backoff ? .backoffElapsed(token: token) : .stopTimeout(token: token))
    }

    /// A burst of changes to `paths`, begun and settled.
    @discardableResult
    mutating func change(_ paths: [String]) -> [LifecycleAction] {
        send(.burstStarted(path: paths[0], at: now)) + send(.settled(paths: paths))
    }
}

/// The log messages among `actions`.
private func said(_ actions: [LifecycleAction]) -> [String] {
    actions.compactMap { if case .log(let event) = $0 { return event.message } else { return nil } }
}

/// The signals among `actions`.
private func signals(_ actions: [LifecycleAction]) -> [UnixSignal] {
    actions.compactMap { if case .signalGroup(_, let signal) = $0 { return signal } else { return nil } }
}

private func spec(
    restart: RestartPolicy = .onFailure, maxRestarts: Int = 5, backoff: Duration = .seconds(1),
    werkzeug: WerkzeugApp? = nil
) -> ProcessSpec {
    ProcessSpec(
        name: "web", command: werkzeug.map(Command.werkzeug) ?? .shell("serve"), cwd: "/srv", restart: restart,
        maxRestarts: maxRestarts, backoff: backoff)
}

@Suite("Process lifecycle")
struct ProcessLifecycleTests {
    @Test func startsOnceAndShowsTheCommandOnlyTheFirstTime() {
        var driver = Driver(spec())
        #expect(said(driver.send(.start)) == ["started (pid 1001): serve"])
        #expect(driver.send(.start).isEmpty, "a second start request does nothing")
        #expect(
            said(driver.exit(.exited(3))).suffix(2) == [
                "restarting: exit code 3 asks for a restart", "started (pid 1002)",
            ])
        #expect(driver.lifecycle.starts == 2 && driver.lifecycle.state == .running)
    }

    @Test func aLeaderThatExitsOnItsOwnHasItsGroupStoppedFirst() {
        var driver = Driver(spec())
        driver.send(.start)
        let actions = driver.send(.leaderExited(runID: driver.lifecycle.runID, .exited(1)))
        #expect(
            actions == [
                .awaitGroupGone(
                    runID: 1, pid: 1001, status: .exited(1), stopWith: .terminate, within: .seconds(5))
            ])
    }

    // MARK: - A live config reload

    @Test func aReconfiguredProcessStopsWithItsOldSettingsAndStartsWithTheNewOnes() {
        var driver = Driver(spec())
        driver.send(.start)
        var new = spec()
        new.command = .shell("serve --new")
        new.stopSignal = .interrupt
        let actions = driver.send(.reconfigured(new, watchesFiles: false, at: driver.now))
        #expect(actions.first == .discardStandby)
        #expect(signals(actions) == [.terminate], "the run is stopped as it was started")
        #expect(driver.phase == .stopping(.restart))
        #expect(
            said(driver.exit(.signaled(SIGTERM))) == [
                "stopped for restart (killed by SIGTERM)", "started (pid 1002): serve --new",
            ])
        #expect(driver.lifecycle.spec == new && driver.lifecycle.lastReload != nil)
        #expect(signals(driver.send(.userStop)) == [.interrupt], "the next stop uses the new signal")
    }

    @Test func aReconfiguredProcessThatIsDownStartsUnlessTheUserStoppedIt() {
        var gaveUp = Driver(spec(maxRestarts: 0))
        gaveUp.send(.start)
        gaveUp.exit(.exited(1))
        #expect(gaveUp.phase == .gaveUp)
        gaveUp.send(.reconfigured(spec(), watchesFiles: false, at: gaveUp.now))
        #expect(gaveUp.phase == .running && gaveUp.spawns.count == 2)

        var stopped = Driver(spec())
        stopped.send(.start)
        stopped.send(.userStop)
        stopped.exit(.signaled(SIGTERM))
        #expect(stopped.phase == .stoppedByUser)
        var new = spec()
        new.command = .shell("other")
        #expect(stopped.send(.reconfigured(new, watchesFiles: false, at: stopped.now)) == [.discardStandby])
        #expect(stopped.phase == .stoppedByUser)
        #expect(said(stopped.send(.userStart)) == ["started (pid 1002): other"])
    }

    // MARK: - Policies and backoff

    @Test func onFailureBacksOffDoublingAndGivesUp() {
        var driver = Driver(spec(maxRestarts: 2))
        driver.send(.start)
        #expect(said(driver.exit(.exited(1))).last == "restarting in 1s (restart 1 of 2, restart: on-failure)")
        #expect(driver.phase == .backingOff && driver.lifecycle.state == .backingOff)
        #expect(said(driver.fire(.backoff)) == ["started (pid 1002)"])
        #expect(
            said(driver.exit(.signaled(9))).suffix(2) == [
                "killed by SIGKILL", "restarting in 2s (restart 2 of 2, restart: on-failure)",
            ])
        driver.fire(.backoff)
        #expect(said(driver.exit(.exited(1))).last == "gave up after 2 restarts in a row")
        #expect(driver.phase == .gaveUp && driver.failures == [.exited(1)])
        #expect(!driver.lifecycle.keepsStackAlive, "nothing can bring it back")
    }

    @Test func onFailureLeavesACleanExitDown() {
        var driver = Driver(spec())
        driver.send(.start)
        #expect(said(driver.exit(.exited(0))) == ["exited with code 0", "not restarting (restart: on-failure)"])
        #expect(driver.phase == .exited && driver.failures.isEmpty && driver.lifecycle.state == .exited)
    }

    @Test func alwaysRestartsACleanExitAndGivesUpWithoutAFailure() {
        var driver = Driver(spec(restart: .always, maxRestarts: 1))
        driver.send(.start)
        #expect(said(driver.exit(.exited(0))).last == "restarting in 1s (restart 1 of 1, restart: always)")
        driver.fire(.backoff)
        #expect(said(driver.exit(.exited(0))).last == "gave up after 1 restart in a row")
        #expect(driver.failures.isEmpty, "a clean exit never decides the exit status")
    }

    @Test func neverLeavesAFailureDownAndRecordsIt() {
        var driver = Driver(spec(restart: .never), watchesFiles: true)
        driver.send(.start)
        let actions = driver.exit(.exited(2))
        #expect(said(actions).last == "not restarting (restart: never); waiting for a file change")
        #expect(driver.failures == [.exited(2)] && driver.lifecycle.state == .waitingForChange)
        #expect(driver.lifecycle.keepsStackAlive)
    }

    @Test func aLongRunForgetsEarlierFailures() {
        var driver = Driver(spec())
        driver.send(.start)
        driver.exit(.exited(1))
        driver.fire(.backoff)
        #expect(
            said(driver.exit(.exited(1), after: .seconds(10))).last?.hasPrefix("restarting in 1s (restart 1 of") == true
        )
    }

    @Test func aRestartCodeStormBecomesAFailure() {
        var driver = Driver(spec())
        driver.send(.start)
        for _ in 0..<RestartTracker.quickRestartLimit {
            let restarted = said(driver.exit(.exited(3), after: .milliseconds(5)))
            #expect(restarted.last == "started (pid \(driver.pid))")
        }
        let stormed = said(driver.exit(.exited(3), after: .milliseconds(5)))
        #expect(stormed.contains { $0.hasPrefix("exit code 3 asked for a restart 10 times in a row") })
        #expect(stormed.last == "restarting in 1s (restart 1 of 5, restart: on-failure)")
        #expect(driver.phase == .backingOff)
    }

    @Test func aStartThatFailsIsAnExitWith127() {
        var driver = Driver(spec())
        driver.spawnsFail = true
        let actions = driver.send(.start)
        #expect(said(actions) == ["cannot start: no such program"])
        #expect(actions.last == .reportRunEnd(runID: 1, status: .exited(127)))
        #expect(driver.pid == 0 && driver.phase == .running)
        let ended = driver.send(.groupGone(runID: 1, .exited(127), at: driver.now))
        #expect(!ended.contains { if case .releaseGroup = $0 { return true } else { return false } })
        #expect(said(ended) == ["exited with code 127", "restarting in 1s (restart 1 of 5, restart: on-failure)"])
    }

    // MARK: - Werkzeug exits

    @Test func anImportFailureWaitsForAChange() {
        var driver = Driver(spec(werkzeug: WerkzeugApp(target: "app:app")))
        driver.send(.start)
        #expect(
            said(driver.exit(.exited(PythonProtocol.exitImportFailed))).last
                == "the app failed to import; nothing to watch, not restarting")
        #expect(driver.failures.count == 1 && !driver.lifecycle.keepsStackAlive)

        var watched = Driver(spec(werkzeug: WerkzeugApp(target: "app:app")))
        watched.send(.start)
        watched.send(.watchingFiles)
        let actions = watched.exit(.exited(PythonProtocol.exitImportFailed))
        #expect(said(actions).last == "the app failed to import; waiting for a change to one of its files")
        #expect(watched.phase == .exited && watched.lifecycle.keepsStackAlive && watched.timers.isEmpty)
        #expect(said(watched.change(["app.py"])) == ["restarting: app.py changed", "started (pid 1002)"])
        #expect(watched.spawns.last == ["app.py"])
    }

    @Test func werkzeugMissingNamesTheInterpreter() {
        var driver = Driver(spec(werkzeug: WerkzeugApp(target: "app:app", python: ".venv/bin/python")))
        driver.send(.start)
        #expect(
            said(driver.exit(.exited(PythonProtocol.exitWerkzeugMissing))).last
                == "Werkzeug is not installed for .venv/bin/python; not restarting")
        #expect(driver.failures == [.exited(PythonProtocol.exitWerkzeugMissing)])
    }

    // MARK: - File changes

    @Test func aChangeStopsAtOnceAndStartsOnceSettled() {
        var driver = Driver(spec())
        driver.send(.start)
        let began = driver.send(.burstStarted(path: "app.py", at: driver.now))
        #expect(said(began) == ["restarting: app.py changed"] && signals(began) == [.terminate])
        #expect(driver.phase == .stopping(.restart))
        // The group ends before the burst settles: it waits for the burst.
        #expect(said(driver.exit(.exited(0))) == ["stopped for restart (exited with code 0)"])
        #expect(driver.phase == .awaitingChanges && driver.lifecycle.state == .waitingForChange)
        let settled = driver.send(.settled(paths: ["app.py", "models.py", "views.py"]))
        #expect(said(settled) == ["also changed: models.py (+1 more)", "started (pid 1002)"])
        #expect(driver.spawns.last == ["app.py", "models.py", "views.py"])
    }

    @Test func aBurstThatSettlesWhileStoppingStartsOnceTheGroupIsGone() {
        var driver = Driver(spec())
        driver.send(.start)
        driver.send(.burstStarted(path: "a.py", at: driver.now))
        #expect(driver.send(.settled(paths: ["a.py"])).isEmpty, "still stopping")
        // Another burst while still stopping is folded into the same restart.
        #expect(signals(driver.send(.burstStarted(path: "b.py", at: driver.now))).isEmpty)
        driver.send(.settled(paths: ["b.py", "a.py"]))
        let ended = driver.exit(.exited(0))
        #expect(said(ended) == ["stopped for restart (exited with code 0)", "started (pid 1002)"])
        #expect(driver.spawns.last == ["a.py", "b.py"], "every path of both bursts")
    }

    @Test func anExitDuringAStopIsTheStopsEnd() {
        var driver = Driver(spec())
        driver.send(.start)
        driver.send(.burstStarted(path: "a.py", at: driver.now))
        // Stopping: the group is not stopped again, and the policy does not apply.
        let exited = driver.send(.leaderExited(runID: driver.lifecycle.runID, .exited(1)))
        guard case .awaitGroupGone(_, _, _, let stopWith, _) = exited.first else {
            Issue.record("no wait for the group")
            return
        }
        #expect(stopWith == nil)
        let ended = driver.send(.groupGone(runID: driver.lifecycle.runID, .exited(1), at: driver.now))
        #expect(said(ended) == ["stopped for restart (exited with code 1)"] && driver.failures.isEmpty)
    }

    @Test func aChangeDuringBackoffStartsAtOnceWithFailuresForgotten() {
        var driver = Driver(spec(maxRestarts: 1))
        driver.send(.start)
        driver.exit(.exited(1))
        let stale = driver.timers[.backoff]
        #expect(said(driver.change(["a.py"])) == ["restarting: a.py changed", "started (pid 1002)"])
        #expect(driver.send(.backoffElapsed(token: stale ?? 0)).isEmpty, "the backoff is over")
        #expect(said(driver.exit(.exited(1))).last == "restarting in 1s (restart 1 of 1, restart: on-failure)")
    }

    @Test func aBackoffThatEndsDuringABurstWaitsForIt() {
        var driver = Driver(spec())
        driver.send(.start)
        driver.exit(.exited(1))
        driver.send(.burstStarted(path: "a.py", at: driver.now))
        #expect(driver.fire(.backoff).isEmpty)
        #expect(said(driver.send(.settled(paths: ["a.py"]))) == ["started (pid 1002)"])
    }

    @Test func giveUpThenAChangeBringsItBack() {
        var driver = Driver(spec(restart: .always, maxRestarts: 0), watchesFiles: true)
        driver.send(.start)
        #expect(said(driver.exit(.exited(1))).last == "gave up after 0 restarts in a row; waiting for a file change")
        #expect(driver.lifecycle.state == .gaveUp && driver.lifecycle.keepsStackAlive)
        #expect(said(driver.change(["x"])).last == "started (pid 1002)")
        #expect(driver.phase == .running)
    }

    @Test func theReloadTimeRunsFromTheChangeToTheStart() {
        var driver = Driver(spec())
        driver.send(.start)
        driver.send(.burstStarted(path: "a.py", at: driver.now))
        driver.exit(.exited(0), after: .milliseconds(30))
        driver.now += .milliseconds(20)
        driver.send(.settled(paths: ["a.py"]))
        #expect(driver.lifecycle.lastReload == .milliseconds(50))
    }

    // MARK: - Shutdown

    @Test func shutdownStopsAndASecondOneKills() {
        var driver = Driver(spec())
        driver.send(.start)
        let first = driver.send(.shutdown)
        #expect(said(first) == ["stopping (SIGTERM)"] && signals(first) == [.terminate])
        guard case .log = first.first else {
            Issue.record("'stopping' is said before the signal is sent")
            return
        }
        #expect(signals(driver.send(.shutdown)) == [.kill])
        #expect(said(driver.exit(.signaled(9))) == ["stopped (killed by SIGKILL)"])
        #expect(driver.phase == .stopped && !driver.lifecycle.keepsStackAlive)
    }

    @Test func shutdownIgnoresChangesAndLeavesDownProcessesDown() {
        var driver = Driver(spec(), watchesFiles: true)
        driver.send(.start)
        driver.exit(.exited(1))
        #expect(driver.send(.shutdown).isEmpty)
        #expect(driver.phase == .stopped && !driver.lifecycle.keepsStackAlive)
        #expect(driver.change(["a.py"]).isEmpty && driver.fire(.backoff).isEmpty)
        #expect(driver.send(.userStart).isEmpty && driver.send(.userRestart).isEmpty)
    }

    @Test func shutdownDuringARestartStopEndsIt() {
        var driver = Driver(spec())
        driver.send(.start)
        driver.send(.burstStarted(path: "a.py", at: driver.now))
        #expect(driver.send(.shutdown).isEmpty, "already stopping")
        driver.send(.settled(paths: ["a.py"]))
        #expect(said(driver.exit(.exited(0))) == ["stopped (exited with code 0)"])
        #expect(driver.spawns.count == 1)
    }

    // MARK: - Timers and runs

    @Test func aStopTimeoutKillsTheGroupOnlyWhileItsStopLasts() {
        var driver = Driver(spec())
        driver.send(.start)
        driver.send(.userRestart)
        let firstStop = driver.timers[.stopTimeout]
        let killed = driver.fire(.stopTimeout)
        #expect(said(killed) == ["did not stop within 5s; sending SIGKILL to its process group"])
        #expect(signals(killed) == [.kill])
        driver.exit(.signaled(9))
        #expect(driver.send(.stopTimeout(token: firstStop ?? 0)).isEmpty, "that stop is over")
        driver.send(.userRestart)
        #expect(driver.send(.stopTimeout(token: firstStop ?? 0)).isEmpty, "a stale token")
        #expect(signals(driver.fire(.stopTimeout)) == [.kill])
    }

    @Test func eventsOfAnEarlierRunAreIgnored() {
        var driver = Driver(spec())
        driver.send(.start)
        let first = driver.lifecycle.runID
        driver.exit(.exited(3))
        #expect(driver.lifecycle.runID != first)
        #expect(driver.send(.leaderExited(runID: first, .exited(1))).isEmpty)
        #expect(driver.send(.groupGone(runID: first, .exited(1), at: driver.now)).isEmpty)
        #expect(driver.phase == .running)
    }

    @Test func theGroupIsReleasedOnceItIsGone() {
        var driver = Driver(spec())
        driver.send(.start)
        let ended = driver.exit(.exited(0))
        #expect(ended.contains(.releaseGroup(1001)))
    }

    // MARK: - The user's requests

    @Test func stoppedByTheUserStaysDownOnChangesUntilStarted() {
        var driver = Driver(spec(), watchesFiles: true)
        driver.send(.start)
        let stop = driver.send(.userStop)
        #expect(stop.first == .discardStandby)
        #expect(said(stop) == ["stopping (SIGTERM) at the user's request"] && signals(stop) == [.terminate])
        #expect(said(driver.exit(.exited(0))) == ["stopped (exited with code 0)"])
        #expect(driver.lifecycle.state == .stoppedByUser && driver.lifecycle.keepsStackAlive)
        #expect(driver.change(["a.py", "b.py"]).isEmpty, "a change does not start it")
        #expect(driver.phase == .stoppedByUser && driver.spawns.count == 1)
        #expect(driver.send(.userStop).isEmpty)
        #expect(said(driver.send(.userStart)) == ["started (pid 1002)"])
        #expect(driver.spawns.last == ["a.py", "b.py"], "the changes made meanwhile are passed on")
    }

    @Test func aChangeDuringTheUsersStopDoesNotRestartIt() {
        var driver = Driver(spec())
        driver.send(.start)
        driver.send(.userStop)
        #expect(driver.change(["a.py"]).isEmpty)
        driver.exit(.exited(0))
        #expect(driver.phase == .stoppedByUser && driver.spawns.count == 1)
    }

    @Test func aStartDuringABurstStartsOnceItSettles() {
        var driver = Driver(spec())
        driver.send(.start)
        driver.send(.userStop)
        driver.exit(.exited(0))
        driver.send(.burstStarted(path: "a.py", at: driver.now))
        #expect(driver.send(.userStart).isEmpty)
        #expect(driver.phase == .awaitingChanges)
        #expect(said(driver.send(.settled(paths: ["a.py"]))) == ["restarting: a.py changed", "started (pid 1002)"])
    }

    @Test func theUserStopsADownProcessAtOnce() {
        var driver = Driver(spec())
        driver.send(.start)
        driver.exit(.exited(1))
        #expect(said(driver.send(.userStop)) == ["stopped at the user's request"])
        #expect(driver.fire(.backoff).isEmpty, "its backoff is over")
        #expect(driver.phase == .stoppedByUser)
    }

    @Test func startDuringTheUsersStopStartsOnceTheGroupIsGone() {
        var driver = Driver(spec())
        driver.send(.start)
        driver.send(.userStop)
        driver.send(.userStart)
        #expect(said(driver.exit(.exited(0))) == ["stopped for restart (exited with code 0)", "started (pid 1002)"])
    }

    @Test func theUserRestartsARunningProcessAndADownOne() {
        var driver = Driver(spec(maxRestarts: 0))
        driver.send(.start)
        let restart = driver.send(.userRestart)
        #expect(said(restart) == ["restarting at the user's request"] && signals(restart) == [.terminate])
        #expect(said(driver.exit(.exited(0))) == ["stopped for restart (exited with code 0)", "started (pid 1002)"])
        #expect(said(driver.exit(.exited(1))).last == "gave up after 0 restarts in a row")
        #expect(said(driver.send(.userRestart)) == ["restarting at the user's request", "started (pid 1003)"])
        #expect(driver.lifecycle.starts == 3 && driver.phase == .running)
    }

    @Test func theUserStartsAGivenUpProcessWithItsFailuresForgotten() {
        var driver = Driver(spec(maxRestarts: 1))
        driver.send(.start)
        driver.exit(.exited(1))
        driver.fire(.backoff)
        driver.exit(.exited(1))
        #expect(driver.phase == .gaveUp && driver.lifecycle.state == .gaveUp)
        #expect(said(driver.send(.userStart)) == ["started (pid 1003)"])
        #expect(said(driver.exit(.exited(1))).last == "restarting in 1s (restart 1 of 1, restart: on-failure)")
        #expect(driver.send(.userStart).isEmpty == false, "a backing-off process starts now")
        #expect(driver.fire(.backoff).isEmpty, "and its backoff is over")
    }
}
