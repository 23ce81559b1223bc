import Testing

@testable import SuperwatchCore

/// `depends_on`, `ready`, `health`, `ready_timeout`, `ready_period` and `restart_dependents` as the loader reads
/// them, and the errors it gives at their positions.
@Suite struct DependencyConfigTests {
    @Test func theIssuesExampleIsReadWithEveryKey() throws {
        let config = try parse(
            """
            processes:
              db:
                command: postgres -D data
                ready: {tcp: 127.0.0.1:5432}
                ready_timeout: 30s
                ready_period: 100ms
                restart_dependents: true
              api:
                command: python3 api.py
                depends_on: [db]
                health: {http: "http://127.0.0.1:8000/health", period: 5s, failures: 3}
              migrate:
                command: ./migrate.sh
                depends_on: {db: ready}
              web:
                command: python3 web.py
                depends_on: {migrate: completed, api: started}
              tail:
                command: tail -f log
                ready: {log: "ready to accept"}
                health: {exec: "test -e log"}
            """)
        let db = config.processes[0]
        #expect(db.ready == .tcp(host: "127.0.0.1", port: 5432))
        #expect(db.readyTimeout == .seconds(30))
        #expect(db.readyPeriod == .milliseconds(100))
        #expect(db.restartDependents)
        let api = config.processes[1]
        // The short form waits for `ready`: db has a probe.
        #expect(api.dependsOn.map(\.name) == ["db"])
        #expect(api.dependsOn.map(\.condition) == [.ready])
        #expect(api.dependsOn[0].location?.description == "superwatch.yaml:10:18")
        #expect(
            api.health
                == HealthCheck(
                    probe: .http(
                        HTTPProbeTarget(
                            url: "http://127.0.0.1:8000/health", host: "127.0.0.1", port: 8000, path: "/health")),
                    period: .seconds(5), failures: 3))
        #expect(api.readyTimeout == ProcessSpec.defaultReadyTimeout)
        #expect(api.readyPeriod == .milliseconds(250))
        #expect(!api.restartDependents)
        #expect(config.processes[2].dependsOn.map(\.condition) == [.ready])
        #expect(config.processes[3].dependsOn.map(\.name) == ["migrate", "api"])
        #expect(config.processes[3].dependsOn.map(\.condition) == [.completed, .started])
        #expect(config.processes[4].ready == .log("ready to accept"))
        #expect(config.processes[4].health == HealthCheck(probe: .exec("test -e log")))
    }

    @Test func theShortFormWaitsForStartedWhenThereIsNoProbeAndReadyForAHeldSocket() throws {
        let config = try parse(
            """
            processes:
              worker: {command: x}
              web: {command: y, listen: "127.0.0.1:0"}
              app: {werkzeug: "app:app", listen: "unix:app.sock"}
              plain: {command: z, listen: "unix:plain.sock"}
              all: {command: w, depends_on: [worker, web, app, plain]}
            """)
        #expect(config.processes[1].readiness == .heldSocket)
        #expect(config.processes[2].readiness == .heldSocket)
        #expect(config.processes[3].readiness == nil)
        #expect(config.processes[4].dependsOn.map(\.condition) == [.started, .ready, .ready, .started])
    }

    @Test(
        arguments: [
            (
                "  api: {command: x, depends_on: [db]}\n  db: {command: y, depends_on: [api]}\n",
                "superwatch.yaml:2:34: error: dependency cycle: api -> db -> api; remove one of these `depends_on` entries"
            ),
            (
                "  a: {command: x, depends_on: [b]}\n  b: {command: x, depends_on: {c: started}}\n"
                    + "  c: {command: x, depends_on: [a]}\n",
                "superwatch.yaml:2:32: error: dependency cycle: a -> b -> c -> a; remove one of these `depends_on` entries"
            ),
            (
                "  a: {command: x, depends_on: [a]}\n",
                "superwatch.yaml:2:32: error: dependency cycle: a -> a; remove one of these `depends_on` entries"
            ),
            (
                "  api: {command: x, depends_on: [dbb]}\n  db: {command: y}\n",
                "superwatch.yaml:2:34: error: `depends_on`: no process named `dbb`; did you mean `db`?"
            ),
            (
                "  api: {command: x, depends_on: {zzz: ready}}\n  db: {command: y}\n",
                "superwatch.yaml:2:34: error: `depends_on`: no process named `zzz`; the processes are api, db"
            ),
            (
                "  api: {command: x, depends_on: {db: ready}}\n  db: {command: y}\n",
                "superwatch.yaml:2:34: error: `db` has no readiness probe, so it is never `ready`; give it one with "
                    + "`ready:` (e.g. {tcp: 127.0.0.1:5432}) or wait for it to be `started`"
            ),
            (
                "  api: {command: x, depends_on: {db: up}}\n  db: {command: y}\n",
                "superwatch.yaml:2:38: error: the condition for `db` must be one of started, ready, completed; found `up`"
            ),
            (
                "  api: {command: x, depends_on: [db, db]}\n  db: {command: y}\n",
                "superwatch.yaml:2:38: error: `depends_on` names `db` twice; remove one"
            ),
            (
                "  api: {command: x, depends_on: db}\n  db: {command: y}\n",
                "superwatch.yaml:2:33: error: `depends_on` must be a list of process names or a mapping of names to "
                    + "conditions, found the string `db`; write e.g. [db] or {db: ready}"
            ),
        ] as [(String, String)])
    func dependencyErrorsArePositionedAndSpellTheCycle(yaml: String, expected: String) {
        #expect(configError("processes:\n" + yaml) == expected)
    }

    @Test(
        arguments: [
            (
                "ready: {}",
                "superwatch.yaml:4:12: error: `ready` needs a probe: one of tcp, http, exec, log (e.g. {tcp: 127.0.0.1:5432})"
            ),
            (
                "ready: {tcp: \":1\", http: \"http://a/\"}",
                "superwatch.yaml:4:24: error: `ready` takes one probe; found both `tcp` and `http`"
            ),
            (
                "ready: {tcp: \"127.0.0.1\"}",
                "superwatch.yaml:4:18: error: `ready`: `tcp`: `127.0.0.1` is not a TCP address with a port from 1 to 65535; write HOST:PORT, such as 127.0.0.1:5432"
            ),
            (
                "ready: {tcp: 5432}",
                "superwatch.yaml:4:18: error: `ready`: `tcp` must be a string, found the number `5432`; write HOST:PORT, such as 127.0.0.1:5432"
            ),
            (
                "ready: {http: \"https://a/\"}",
                "superwatch.yaml:4:19: error: `ready`: `http`: https is not supported; probe the server over plain http://"
            ),
            (
                "ready: {http: \"http://:80/\"}",
                "superwatch.yaml:4:19: error: `ready`: `http`: the URL needs a host, such as http://127.0.0.1:8000/"
            ),
            (
                "ready: {http: \"http://a:99999/\"}",
                "superwatch.yaml:4:19: error: `ready`: `http`: the URL's port must be a number from 1 to 65535"
            ),
            (
                "ready: {log: \"a(\"}",
                "superwatch.yaml:4:18: error: `ready`: `log`: `a(` is not an extended regular expression: Unmatched ( or \\("
            ),
            (
                "ready: {exec: x, period: 1s}",
                "superwatch.yaml:4:22: error: unknown key `period` in `ready`; allowed keys: tcp, http, exec, log"
            ),
            (
                "health: {log: x}",
                "superwatch.yaml:4:19: error: a `log` probe can only say when a process is ready; use tcp, http or exec for `health`"
            ),
            (
                "health: {exec: x, failures: 0}",
                "superwatch.yaml:4:33: error: `health`: `failures` must be between 1 and 1000, found 0"
            ),
            ("health: {exec: x, period: 0}", "superwatch.yaml:4:31: error: `health`: `period` must be more than 0"),
            (
                "health: {exec: x, period: 99999999999999999999h}",
                "superwatch.yaml:4:31: error: `health`: `period` must be at most 1h, found `99999999999999999999h`"
            ),
            (
                "ready_timeout: 99999999999999999999999",
                "superwatch.yaml:4:20: error: `ready_timeout` must be at most 1h, found `99999999999999999999999`"
            ),
            (
                "ready_period: -1",
                "superwatch.yaml:4:19: error: `ready_period`: `-1` is not a duration; write e.g. 250ms, 1.5s, 2m or a number of seconds"
            ),
            (
                "restart_dependents: yes please",
                "superwatch.yaml:4:25: error: `restart_dependents` must be true or false, found the string `yes please`"
            ),
        ] as [(String, String)])
    func probeErrorsArePositioned(line: String, expected: String) {
        #expect(configError("processes:\n  web:\n    command: x\n    \(line)\n") == expected)
    }
}

/// The dependency graph's decisions, without processes.
@Suite struct DependencyGraphTests {
    func spec(_ name: String, _ needs: [(String, DependencyCondition)] = [], replicaOf: String? = nil) -> ProcessSpec {
        var spec = ProcessSpec(name: name, command: .shell("x"), cwd: "/")
        spec.dependsOn = needs.map { Dependency($0.0, $0.1) }
        spec.replicaOf = replicaOf
        return spec
    }

    @Test func aDependencyOnAProcessWithReplicasIsMetOnceAllOfThemAre() {
        let graph = DependencyGraph([
            spec("db.1", replicaOf: "db"), spec("db.2", replicaOf: "db"), spec("api", [("db", .ready)]),
        ])
        #expect(graph.needs[2].map(\.target) == [0, 1])
        #expect(graph.dependents[0] == [2] && graph.dependents[1] == [2])
        var ready: Set<Int> = [0]
        let status = { (index: Int) in DependencyStatus(running: true, ready: ready.contains(index)) }
        #expect(graph.unmet(2, status: status) == [UnmetDependency(name: "db", condition: .ready)])
        ready.insert(1)
        #expect(graph.unmet(2, status: status).isEmpty)
    }

    @Test func eachConditionIsMetByItsOwnState() {
        let running = DependencyStatus(running: true)
        let ready = DependencyStatus(running: true, ready: true)
        let completed = DependencyStatus(completed: true)
        let failed = DependencyStatus(failure: "it exited with code 1")
        #expect(running.satisfies(.started) && !running.satisfies(.ready) && !running.satisfies(.completed))
        #expect(ready.satisfies(.started) && ready.satisfies(.ready) && !ready.satisfies(.completed))
        #expect(completed.satisfies(.started) && !completed.satisfies(.ready) && completed.satisfies(.completed))
        #expect(!failed.satisfies(.started) && !failed.satisfies(.ready) && !failed.satisfies(.completed))
    }

    @Test func theWaitingMessageNamesEachDependencyAndWhyItFailed() {
        #expect(
            UnmetDependency.describe([
                .init(name: "db", condition: .ready), .init(name: "migrate", condition: .completed),
            ])
                == "waiting for db (ready), migrate (completed)")
        #expect(
            UnmetDependency.describe([.init(name: "migrate", condition: .completed, failure: "it exited with code 1")])
                == "waiting for migrate (completed): it exited with code 1")
    }

    @Test func namesOutsideThePlanAreAbsentNotEdges() {
        let graph = DependencyGraph([spec("api", [("db", .ready)])])
        #expect(graph.needs[0].isEmpty)
        #expect(graph.absent[0] == ["db"])
        #expect(graph.cycle() == nil)
    }

    @Test func aProcessWithLiveDependentsIsStoppedAfterThem() {
        let graph = DependencyGraph([spec("db"), spec("api", [("db", .ready)]), spec("web", [("api", .started)])])
        #expect(graph.hasLiveDependents(0) { _ in false })
        #expect(!graph.hasLiveDependents(0) { $0 == 1 })
        #expect(!graph.hasLiveDependents(2) { _ in false })
    }
}
