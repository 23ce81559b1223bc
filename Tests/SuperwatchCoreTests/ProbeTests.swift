import Foundation
import Testing

@testable import SuperwatchCore

#if canImport(Glibc)
    import Glibc
#endif

/// When probes run and what their results mean, without processes or sockets.
@Suite struct ProbeScheduleTests {
    let start = ContinuousClock.now

    func spec(timeout: Duration = .seconds(1), period: Duration = .milliseconds(250)) -> ProcessSpec {
        var spec = ProcessSpec(name: "db", command: .shell("x"), cwd: "/")
        spec.ready = .tcp(host: "127.0.0.1", port: 5432)
        spec.readyTimeout = timeout
        spec.readyPeriod = period
        return spec
    }

    @Test func readinessIsProbedAtOnceThenEveryPeriodUntilItPasses() {
        var schedule = ProbeSchedule(readinessOf: spec(), startedAt: start)
        #expect(schedule.firstAttempt == start)
        let first = schedule.record(.failed("connection refused"), began: start, now: start + .milliseconds(1))
        #expect(first.verdict == .keepProbing)
        #expect(first.next == start + .milliseconds(250))
        // An attempt that took its whole period (its timeout) is followed at once: attempts never overlap.
        let slow = schedule.record(
            .failed("connecting timed out"), began: start + .milliseconds(250), now: start + .milliseconds(600))
        #expect(slow.next == start + .milliseconds(600))
        let passed = schedule.record(.passed, began: start + .milliseconds(600), now: start + .milliseconds(601))
        #expect(passed.verdict == .ready && passed.next == nil)
    }

    @Test func readyTimeoutIsSaidOnceAndProbingGoesOn() {
        var schedule = ProbeSchedule(readinessOf: spec(timeout: .seconds(1)), startedAt: start)
        #expect(
            schedule.record(.failed("refused"), began: start, now: start + .milliseconds(999)).verdict == .keepProbing)
        let late = schedule.record(.failed("refused"), began: start + .seconds(1), now: start + .seconds(1))
        #expect(late.verdict == .notReadyInTime(lastError: "refused") && late.next != nil)
        let later = schedule.record(.failed("refused"), began: start + .seconds(2), now: start + .seconds(2))
        #expect(later.verdict == .keepProbing)
        #expect(schedule.record(.passed, began: start + .seconds(3), now: start + .seconds(3)).verdict == .ready)
    }

    @Test func livenessRestartsAfterFailuresInARowAndAPassResetsTheCount() {
        var schedule = ProbeSchedule(
            liveness: HealthCheck(probe: .exec("true"), period: .seconds(5), failures: 3), startedAt: start)
        #expect(schedule.firstAttempt == start + .seconds(5))
        var now = start
        func attempt(_ result: ProbeResult) -> ProbeVerdict {
            now += .seconds(5)
            return schedule.record(result, began: now, now: now).verdict
        }
        #expect(attempt(.failed("a")) == .keepProbing)
        #expect(attempt(.failed("b")) == .keepProbing)
        #expect(attempt(.passed) == .keepProbing)
        #expect(attempt(.failed("c")) == .keepProbing)
        #expect(attempt(.failed("d")) == .keepProbing)
        #expect(attempt(.failed("e")) == .unhealthy(failures: 3, lastError: "e"))
    }
}

/// The lifecycle's phases for start order and health, fed events as the supervisor feeds them.
@Suite struct LifecycleDependencyTests {
    let now = ContinuousClock.now

    func started(_ spec: ProcessSpec) -> (ProcessLifecycle, [LifecycleAction]) {
        var lifecycle = ProcessLifecycle(spec: spec, watchesFiles: false)
        #expect(lifecycle.handle(.start) == [.spawn(changed: [])])
        let actions = lifecycle.handle(.spawned(runID: 1, pid: 4242, viaStandby: false, at: now))
        return (lifecycle, actions)
    }

    @Test func aWaitingProcessSaysWhyOnceAndStartsWhenTold() {
        var lifecycle = ProcessLifecycle(
            spec: ProcessSpec(name: "api", command: .shell("x"), cwd: "/"), watchesFiles: false)
        let said = lifecycle.handle(.waitForDependencies(message: "waiting for db (ready)"))
        #expect(said == [.log(SupervisorEvent(.waiting, "waiting for db (ready)"))])
        #expect(lifecycle.state == .waitingForDependencies && lifecycle.keepsStackAlive)
        #expect(lifecycle.handle(.waitForDependencies(message: "waiting for db (ready)")).isEmpty)
        #expect(lifecycle.handle(.start) == [.spawn(changed: [])])
        #expect(lifecycle.waitingFor == nil)
    }

    @Test func aProbedProcessIsStartingThenReadyWithTheTimeItTook() {
        var spec = ProcessSpec(name: "db", command: .shell("x"), cwd: "/")
        spec.ready = .tcp(host: "127.0.0.1", port: 5432)
        spec.health = HealthCheck(probe: .exec("true"))
        var (lifecycle, actions) = started(spec)
        #expect(actions.contains(.startProbe(.readiness, runID: 1)))
        #expect(lifecycle.state == .starting)
        #expect(lifecycle.handle(.probePassed(runID: 0, at: now)).isEmpty, "an earlier run's probe does not count")
        let ready = lifecycle.handle(.probePassed(runID: 1, at: now + .milliseconds(1500)))
        #expect(ready.first == .log(SupervisorEvent(.ready, "ready after 1.5s", [("ms", .int(1500))])))
        #expect(ready.contains(.startProbe(.liveness, runID: 1)))
        #expect(lifecycle.state == .ready && lifecycle.readyAfter == .milliseconds(1500))
    }

    @Test func anUnhealthyRunIsRestarted() {
        var spec = ProcessSpec(name: "api", command: .shell("x"), cwd: "/")
        spec.health = HealthCheck(probe: .exec("false"), failures: 2)
        var (lifecycle, actions) = started(spec)
        #expect(actions.contains(.startProbe(.liveness, runID: 1)))
        #expect(lifecycle.state == .running)
        let restart = lifecycle.handle(.unhealthy(runID: 1, failures: 2, lastError: "exited with code 1"))
        #expect(
            restart.first
                == .log(
                    SupervisorEvent(
                        .unhealthy, "health check failed 2 times in a row (last: exited with code 1); restarting",
                        [("failures", .int(2))])))
        #expect(restart.contains(.signalGroup(4242, .terminate)))
        #expect(lifecycle.phase == .stopping(.restart))
    }

    @Test func aProcessHeldForItsDependentsStopsWhenReleased() {
        var (lifecycle, _) = started(ProcessSpec(name: "db", command: .shell("x"), cwd: "/"))
        #expect(
            lifecycle.handle(.holdForShutdown(after: "api"))
                == [.stopProbes, .log(SupervisorEvent(.waiting, "stopping after api"))])
        #expect(lifecycle.phase == .running && lifecycle.heldForDependents)
        // Not restarted while it waits: an exit now is the end.
        let stop = lifecycle.handle(.shutdown)
        #expect(stop.contains(.signalGroup(4242, .terminate)))
        #expect(lifecycle.phase == .stopping(.shutdown) && !lifecycle.heldForDependents)
        #expect(lifecycle.handle(.shutdown) == [.signalGroup(4242, .kill)], "a second request kills")
    }

    /// A reload may give it dependencies that do not hold: with `depends_on`, its next start goes through the
    /// supervisor's check (`.start` once they hold), as an added process's first start does; the user's start
    /// does not wait.
    @Test func aReconfiguredProcessWaitsForItsDependenciesBeforeItStartsAgain() {
        let spec = ProcessSpec(name: "api", command: .shell("x"), cwd: "/")
        var (lifecycle, _) = started(spec)
        let stop = lifecycle.handle(.reconfigured(spec, watchesFiles: false, at: now, waitsForDependencies: true))
        #expect(stop.contains(.signalGroup(4242, .terminate)))
        _ = lifecycle.handle(.leaderExited(runID: 1, .signaled(SIGTERM)))
        let gone = lifecycle.handle(.groupGone(runID: 1, .signaled(SIGTERM), at: now))
        #expect(!gone.contains(.spawn(changed: [])), "\(gone)")
        #expect(lifecycle.phase == .waitingForDependencies)
        #expect(lifecycle.handle(.waitForDependencies(message: "waiting for db (ready)")).count == 1)
        #expect(lifecycle.handle(.start) == [.spawn(changed: [])])

        var down = ProcessLifecycle(spec: spec, watchesFiles: false)
        _ = down.handle(.userStop)
        #expect(down.phase == .stoppedByUser)
        #expect(
            down.handle(.reconfigured(spec, watchesFiles: false, at: now, waitsForDependencies: true))
                == [.discardStandby])
        #expect(down.handle(.userStart) == [.spawn(changed: [])], "the user's start does not wait")
    }

    @Test func readyAgainAfterARestartRestartsDependentsOnlyWhenAskedTo() {
        for restartDependents in [false, true] {
            var spec = ProcessSpec(name: "db", command: .shell("x"), cwd: "/")
            spec.ready = .exec("true")
            spec.restartDependents = restartDependents
            var (lifecycle, _) = started(spec)
            #expect(!lifecycle.handle(.probePassed(runID: 1, at: now)).contains(.restartDependents))
            _ = lifecycle.handle(.userRestart)
            _ = lifecycle.handle(.leaderExited(runID: 1, .exited(0)))
            _ = lifecycle.handle(.groupGone(runID: 1, .exited(0), at: now))
            _ = lifecycle.handle(.spawned(runID: 2, pid: 4343, viaStandby: false, at: now))
            #expect(lifecycle.state == .starting)
            #expect(lifecycle.handle(.probePassed(runID: 2, at: now)).contains(.restartDependents) == restartDependents)
        }
    }
}

/// Probe attempts against real sockets, on a probe engine of their own. Each attempt gets a generous period
/// (a loaded machine may take seconds between two of them); only the timeout cases have a short one, on purpose.
@Suite struct ProbeAttemptTests {
    var deadline: ContinuousClock.Instant { .now + .seconds(30) }

    /// Runs `body` with a started engine, stopped afterwards.
    func withEngine<T>(_ body: (ProbeEngine) async throws -> T) async throws -> T {
        let engine = try ProbeEngine(onFailure: { Issue.record("the probe engine failed: \($0.message)") })
        engine.start()
        defer { engine.stop() }
        return try await body(engine)
    }

    @Test func aTCPProbePassesOnAListeningPortAndSaysWhyItFails() async throws {
        try await withEngine { engine in
            let socket = try HeldSocket.bind(.tcp(host: "127.0.0.1", port: 0))
            let port = try #require(socket.port)
            let open = try #require(engine.addOnRequest(.tcp(host: "127.0.0.1", port: port)))
            #expect(await engine.attempt(open, period: .seconds(30)) == .passed)
            // A port that was free a moment ago, with nothing listening on it now.
            let closedPort = try #require(try HeldSocket.bind(.tcp(host: "127.0.0.1", port: 0)).port)
            // Each probe keeps the addresses it resolved: a new one for the other port.
            let closed = try #require(engine.addOnRequest(.tcp(host: "127.0.0.1", port: closedPort)))
            #expect(await engine.attempt(closed, period: .seconds(30)) == .failed("connection refused"))
        }
    }

    /// The kernel completes connections to a listening socket by itself: the held-socket probe passes only
    /// once the program has accepted.
    @Test func theAcceptQueueProbePassesOnlyOnceTheConnectionIsAccepted() async throws {
        try await withEngine { engine in
            let socket = try HeldSocket.bind(.tcp(host: "127.0.0.1", port: 0))
            let probe = try #require(engine.addOnRequest(.acceptQueue(socket)))
            #expect(
                await engine.attempt(probe, period: .seconds(30))
                    == .failed("it has not accepted a connection yet (1 waiting)"))
            #expect(
                await engine.attempt(probe, period: .seconds(30))
                    == .failed("it has not accepted a connection yet (1 waiting)"), "no second connection")
            let accepted = accept(socket.fd, nil, nil)
            #expect(accepted >= 0)
            defer { close(accepted) }
            #expect(await engine.attempt(probe, period: .seconds(30)) == .passed)
        }
    }

    /// Serves one connection on `socket`: reads the request, answers `answer` (nothing when nil), closes.
    func serveOnce(_ socket: HeldSocket, answer: String?) -> Thread {
        let fd = socket.fd
        let thread = Thread {
            let connection = accept(fd, nil, nil)
            guard connection >= 0 else { return }
            var buffer = [UInt8](repeating: 0, count: 4096)
            var request: [UInt8] = []
            while !String(decoding: request, as: UTF8.self).contains("\r\n\r\n") {
                let count = read(connection, &buffer, buffer.count)
                if count <= 0 { break }
                request += buffer[..<count]
            }
            if let answer {
                _ = Array(answer.utf8).withUnsafeBytes { write(connection, $0.baseAddress, $0.count) }
                close(connection)
            } else {
                // Holds the connection without an answer until the client gives up.
                while read(connection, &buffer, buffer.count) > 0 {}
                close(connection)
            }
        }
        thread.start()
        return thread
    }

    @Test func anHTTPProbePassesOn2xxAnd3xxAndSaysWhatElseItGot() async throws {
        try await withEngine { engine in
            let socket = try HeldSocket.bind(.tcp(host: "127.0.0.1", port: 0))
            let port = try #require(socket.port)
            let target = HTTPProbeTarget(
                url: "http://127.0.0.1:\(port)/health", host: "127.0.0.1", port: port, path: "/health")
            let probe = try #require(engine.addOnRequest(.http(target, anyStatus: false)))
            _ = serveOnce(socket, answer: "HTTP/1.1 204 No Content\r\n\r\n")
            #expect(await engine.attempt(probe, period: .seconds(30)) == .passed)
            _ = serveOnce(socket, answer: "HTTP/1.0 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n")
            #expect(await engine.attempt(probe, period: .seconds(30)) == .failed("answered 503 Service Unavailable"))
            _ = serveOnce(socket, answer: "SSH-2.0-OpenSSH\r\n")
            #expect(await engine.attempt(probe, period: .seconds(30)) == .failed("did not answer HTTP"))
            // The attempt's period is its timeout.
            _ = serveOnce(socket, answer: nil)
            #expect(await engine.attempt(probe, period: .milliseconds(300)) == .failed("no answer in time"))
        }
    }

    /// On its schedule the engine reports only what changes something: here, failures in a row.
    @Test func aScheduledLivenessProbeReportsUnhealthyAfterItsFailures() async throws {
        try await withEngine { engine in
            let closedPort = try #require(try HeldSocket.bind(.tcp(host: "127.0.0.1", port: 0)).port)
            let (verdicts, sink) = AsyncStream<ProbeVerdict>.makeStream()
            let schedule = ProbeSchedule(
                liveness: HealthCheck(
                    probe: .tcp(host: "127.0.0.1", port: closedPort), period: .milliseconds(20),
                    failures: 3),
                startedAt: .now)
            let probe = engine.add(.tcp(host: "127.0.0.1", port: closedPort), schedule: schedule) { sink.yield($0) }
            #expect(probe != nil)
            var iterator = verdicts.makeAsyncIterator()
            #expect(await iterator.next() == .unhealthy(failures: 3, lastError: "connection refused"))
        }
    }

    @Test func anExecProbeReportsTheStatusAndLastLine() async {
        let request = { (command: String) in
            LaunchRequest(
                arguments: ["/bin/sh", "-c", command], cwd: "/", environment: ProcessInfo.processInfo.environment,
                stopSignal: .kill, stopTimeoutMilliseconds: 0)
        }
        #expect(await ProbeTarget.exec(request("true"), .plain).attempt(until: deadline) == .passed)
        #expect(
            await ProbeTarget.exec(request("echo no db >&2; exit 2"), .plain).attempt(until: deadline)
                == .failed("exited with code 2: no db"))
        let soon = ContinuousClock.now + .milliseconds(300)
        #expect(
            await ProbeTarget.exec(request("sleep 10"), .plain).attempt(until: soon)
                == .failed("did not finish within the probe's period"))
    }

    /// A woken standby interpreter may print its ready line before the probe subscribes: the lines of the run
    /// written before (`earlier`) count.
    @Test func aLogProbeSeesTheLinesItsRunWroteBeforeItSubscribed() async throws {
        let pattern = try LogPattern("^ready$")
        let (lines, _) = AsyncStream<[LogRecord]>.makeStream()
        let (verdicts, sink) = AsyncStream<ProbeVerdict>.makeStream()
        var spec = ProcessSpec(name: "app", command: .shell("x"), cwd: "/")
        spec.ready = .log("^ready$")
        let earlier = [LogRecord(process: "app", stream: .stdout, time: Date(), text: "ready")]
        let watching = Task {
            await ProbeRunner.watchLog(
                pattern, earlier: earlier, lines: lines,
                schedule: ProbeSchedule(readinessOf: spec, startedAt: .now)
            ) { sink.yield($0) }
        }
        var iterator = verdicts.makeAsyncIterator()
        #expect(await iterator.next() == .ready)
        watching.cancel()
    }

    @Test func aLogPatternIsAnExtendedRegularExpression() throws {
        let pattern = try LogPattern("ready (to|for) accept")
        #expect(pattern.matches("LOG: database system is ready to accept connections"))
        #expect(!pattern.matches("starting"))
        #expect(throws: ProbeSyntaxError.self) { try LogPattern("a(") }
    }

    /// A `tty: true` process's lines keep their colour in the records; a pattern matches the text without it.
    @Test func aLogPatternMatchesAColouredLineAsItReads() throws {
        let pattern = try LogPattern("^Listening on [0-9]+$")
        #expect(pattern.matches("\u{1B}[32mListening\u{1B}[0m on \u{1B}[1m8000\u{1B}[0m"))
        #expect(!pattern.matches("\u{1B}[32mStill\u{1B}[0m Listening on 8000"))
    }
}
