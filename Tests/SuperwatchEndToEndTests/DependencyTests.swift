import Foundation
import SuperwatchTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Start order and health with the real binary: conditions, each probe kind, ready_timeout, the cascade of a
/// failed dependency fixed by a file change, liveness restarts, reverse stop order, restart_dependents.
@Suite(.serialized) struct DependencyTests {
    /// The position of the first line of process `name` containing `text`.
    func line(_ run: StackRun, _ name: String, _ text: String) -> Int? {
        run.stdoutLines.firstIndex { $0.hasPrefix(name + " ") && $0.contains(text) }
    }

    /// Waits for a line of process `name` containing `text`; its position.
    func waitForLine(_ run: StackRun, _ name: String, _ text: String) -> Int? {
        _ = eventually(timeout: .seconds(30)) { line(run, name, text) != nil }
        return line(run, name, text)
    }

    /// Expects a line of process `name` containing `text` within the generous deadline, showing the output if
    /// none comes.
    func expectLine(
        _ run: StackRun, _ name: String, _ text: String, sourceLocation: SourceLocation = #_sourceLocation
    ) {
        #expect(waitForLine(run, name, text) != nil, "\(run.stdout)", sourceLocation: sourceLocation)
    }

    @Test func eachConditionHoldsBeforeItsDependentStarts() throws {
        let port = freePort()
        let yaml = """
            processes:
              db:
                command: 'sleep 1; exec python3 -m http.server \(port) --bind 127.0.0.1'
                ready: {tcp: "127.0.0.1:\(port)"}
              migrate:
                command: 'echo migrating; sleep 1; echo migrated'
                depends_on: {db: ready}
                restart: never
              worker:
                command: 'echo worker up; exec sleep 1000'
                depends_on: {migrate: started}
              web:
                command: 'echo web up; exec sleep 1000'
                depends_on: {migrate: completed, db: ready}
            """
        try withStack(yaml) { run in
            let webUp = waitForLine(run, "web", "| web up")
            #expect(webUp != nil, "\(run.stdout)")
            let dbReady = line(run, "db", "* ready after")
            let migrateStarted = line(run, "migrate", "* started")
            let migrateExited = line(run, "migrate", "* exited with code 0")
            let workerStarted = line(run, "worker", "* started")
            #expect(line(run, "web", "* waiting for migrate (completed), db (ready)") != nil, "\(run.stdout)")
            #expect(line(run, "migrate", "* waiting for db (ready)") != nil, "\(run.stdout)")
            #expect(dbReady != nil && migrateStarted != nil && dbReady! < migrateStarted!, "\(run.stdout)")
            #expect(workerStarted != nil && migrateStarted! < workerStarted!, "\(run.stdout)")
            #expect(migrateExited != nil && migrateExited! < line(run, "web", "* started")!, "\(run.stdout)")
        }
    }

    @Test func eachProbeKindGatesItsDependent() throws {
        let port = freePort()
        let yaml = """
            processes:
              httpd:
                command: 'sleep 1; exec python3 -m http.server \(port) --bind 127.0.0.1'
                ready: {http: "http://127.0.0.1:\(port)/"}
              flag:
                command: 'sleep 1; touch flag; echo flagged; exec sleep 1000'
                ready: {exec: "test -e flag"}
              talker:
                command: 'echo booting; sleep 1; echo "listening now"; exec sleep 1000'
                ready: {log: "listen(ing)? now$"}
              server:
                command: [python3, server.py]
                listen: "127.0.0.1:0"
              a1: {command: 'echo a1 up; exec sleep 1000', depends_on: [httpd]}
              a2: {command: 'echo a2 up; exec sleep 1000', depends_on: [flag]}
              a3: {command: 'echo a3 up; exec sleep 1000', depends_on: [talker]}
              a4: {command: 'echo a4 up; exec sleep 1000', depends_on: [server]}
            """
        // Accepts only after a pause: the kernel completes connections to the held socket before that, so
        // only the accept-queue probe can tell.
        let server = """
            import socket, time
            held = socket.socket(fileno=3)
            time.sleep(1.5)
            print("accepting", flush=True)
            while True:
                connection, _ = held.accept()
                connection.close()
            """
        try withStack(yaml, files: ["server.py": server]) { run in
            for (dependency, dependent, before) in [
                ("httpd", "a1", "* started"), ("flag", "a2", "| flagged"), ("talker", "a3", "| listening now"),
                ("server", "a4", "| accepting"),
            ] {
                let up = waitForLine(run, dependent, "| \(dependent) up")
                #expect(up != nil, "\(run.stdout)")
                let ready = line(run, dependency, "* ready after")
                let precondition = line(run, dependency, before)
                #expect(
                    ready != nil && up != nil && ready! < up!, "\(dependency) ready before \(dependent):\n\(run.stdout)"
                )
                #expect(precondition != nil && precondition! < ready!, "\(dependency): \(run.stdout)")
                #expect(line(run, dependent, "* waiting for \(dependency) (ready)") != nil, "\(run.stdout)")
            }
        }
    }

    @Test func aReadyTimeoutLeavesDependentsWaitingWithTheReasonAndStatusShowsIt() throws {
        let port = freePort()
        let yaml = """
            processes:
              db:
                command: 'exec sleep 1000'
                ready: {tcp: "127.0.0.1:\(port)"}
                ready_timeout: 1s
              api:
                command: 'echo api up; exec sleep 1000'
                depends_on: [db]
            """
        try withStack(yaml) { run in
            expectLine(run, "db", "* not ready within 1s: connection refused; still probing")
            expectLine(run, "api", "* waiting for db (ready): it was not ready within 1s (connection refused)")
            let status = try runCommand([superwatchBinary, "status"], in: run.path)
            #expect(status.stdout.contains("waiting for db (ready): it was not ready within 1s"), "\(status.stdout)")
            #expect(status.stdout.split(separator: "\n").contains { $0.hasPrefix("db ") && $0.contains("starting") })
            #expect(line(run, "api", "* started") == nil)
        }
    }

    @Test func aFailedDependencyLeavesItsDependentWaitingUntilAFileChangeFixesIt() throws {
        let yaml = """
            processes:
              migrate:
                command: [sh, migrate.sh]
                restart: never
                watch: [migrate.sh]
              web:
                command: 'echo web up; exec sleep 1000'
                depends_on: {migrate: completed}
            """
        try withStack(yaml, files: ["migrate.sh": "echo migration failed; exit 1\n"]) { run in
            expectLine(run, "web", "* waiting for migrate (completed): it exited with code 1")
            let status = try runCommand([superwatchBinary, "status"], in: run.path)
            #expect(
                status.stdout.contains("waiting for migrate (completed): it exited with code 1"), "\(status.stdout)")
            run.write("migrate.sh", "echo migrated; exit 0\n")
            expectLine(run, "web", "| web up")
            #expect(line(run, "migrate", "| migrated")! < line(run, "web", "* started")!)
        }
    }

    /// A dependency that failed for good (restart: never, nothing watched) leaves nothing to wait for: `up`
    /// ends, with the failure's status, instead of waiting forever.
    @Test func aDependencyThatCannotComeBackEndsUp() throws {
        let yaml = """
            processes:
              migrate:
                command: 'echo migration failed; exit 1'
                restart: never
              web:
                command: 'echo web up; exec sleep 1000'
                depends_on: {migrate: completed}
            """
        try withStack(yaml) { run in
            #expect(run.waitForExit(timeout: .seconds(60)) == 1, "\(run.stdout)")
            #expect(run.stdout.contains("waiting for migrate (completed): it exited with code 1"), "\(run.stdout)")
            #expect(!run.stdout.contains("web up"))
        }
    }

    @Test func aFailingLivenessProbeRestartsTheProcessAfterItsFailures() throws {
        let yaml = """
            processes:
              app:
                command: 'echo app up; exec sleep 1000'
                health: {exec: "test -e alive", period: 200ms, failures: 2}
            """
        try withStack(yaml, files: ["alive": "1"]) { run in
            #expect(run.waitFor("| app up"))
            try FileManager.default.removeItem(atPath: "\(run.path)/alive")
            expectLine(run, "app", "* health check failed 2 times in a row (last: exited with code 1); restarting")
            #expect(eventually { starts(of: "app", in: run) == 2 }, "\(run.stdout)")
        }
    }

    @Test func theStackStopsInReverseDependencyOrder() throws {
        func process(_ name: String) -> String {
            "command: 'trap \"echo \(name) got TERM; exit 0\" TERM; echo \(name) up; while :; do sleep 0.1; done'"
        }
        let yaml = """
            processes:
              db:
                \(process("db"))
              web:
                \(process("web"))
                depends_on: {api: started}
              api:
                \(process("api"))
                depends_on: [db]
              other:
                \(process("other"))
            """
        try withStack(yaml) { run in
            #expect(run.waitFor("| web up") && run.waitFor("| api up") && run.waitFor("| other up"))
            run.signal(SIGINT)
            #expect(run.waitForExit() == 0, "\(run.stdout)")
            let web = line(run, "web", "| web got TERM")
            let api = line(run, "api", "| api got TERM")
            let db = line(run, "db", "| db got TERM")
            #expect(web != nil && api != nil && db != nil && web! < api! && api! < db!, "\(run.stdout)")
            #expect(line(run, "db", "* stopping after api") != nil, "\(run.stdout)")
            #expect(line(run, "other", "| other got TERM") != nil)
        }
    }

    @Test func aRestartForAFileChangeKeepsDependentsUnlessRestartDependentsIsSet() throws {
        let yaml = """
            processes:
              db:
                command: 'echo db up; exec sleep 1000'
                watch: [db.conf]
              api:
                command: 'echo api up; exec sleep 1000'
                depends_on: [db]
              cache:
                command: 'echo cache up; exec sleep 1000'
                watch: [cache.conf]
                restart_dependents: true
              worker:
                command: 'echo worker up; exec sleep 1000'
                depends_on: [cache]
            """
        try withStack(yaml, files: ["db.conf": "1", "cache.conf": "1"]) { run in
            #expect(run.waitFor("| api up") && run.waitFor("| worker up"))
            run.write("db.conf", "2")
            #expect(eventually { starts(of: "db", in: run) == 2 }, "\(run.stdout)")
            run.write("cache.conf", "2")
            expectLine(run, "worker", "* restarting: cache is ready again")
            #expect(eventually { starts(of: "worker", in: run) == 2 }, "\(run.stdout)")
            // The worker's restart came after db's: had db's restart touched api, it would show by now.
            #expect(starts(of: "api", in: run) == 1, "\(run.stdout)")
            #expect(line(run, "api", "* stopping") == nil, "\(run.stdout)")
        }
    }
}

extension DependencyTests {
    /// A restart wakes the standby interpreter, which prints its ready line at once, maybe before the `log:`
    /// probe subscribes: the probe reads the run's lines written before it subscribed too.
    @Test(.enabled(if: flaskAvailable, "needs Flask (.ci/run installs it)"))
    func aLogProbeSeesTheReadyLineOfARunWokenFromAStandby() throws {
        let yaml = """
            processes:
              app:
                werkzeug: app:app
                listen: 127.0.0.1:0
                ready: {log: "^app ready [0-9]+$"}
            """
        // Flask is an installed package: superwatch keeps a standby interpreter with it imported, and the app
        // says it is ready as it is imported.
        let app = { (version: Int) in
            "from flask import Flask\nprint(\"app ready \(version)\", flush=True)\napp = Flask(__name__)\n"
        }
        try withStack(yaml, files: ["app.py": app(1)]) { run in
            expectLine(run, "app", "* ready after")
            for version in 2...4 {
                // An edit made before the bootstrap reported app.py is not seen: edit again until one is.
                #expect(
                    eventually {
                        run.write("app.py", app(version))
                        return run.waitFor("| app ready \(version)", timeout: .seconds(3))
                    }, "\(run.stdout)")
            }
            // Every run, the standby's included, is ready.
            let readies = { run.stdoutLines.filter { $0.hasPrefix("app ") && $0.contains("* ready after") }.count }
            #expect(eventually { readies() == starts(of: "app", in: run) }, "\(run.stdout)")
            #expect(
                run.stdout.contains("a standby interpreter with its packages imported"),
                "later restarts wake the standby: \(run.stdout)")
        }
    }

    /// Replicas share one held socket, and the kernel does not say which process took a connection off its
    /// accept queue: a replica's readiness says the shared socket is served (README, "Start order and health").
    /// Here replica 2 never accepts, and is ready because replica 1 does.
    @Test func replicasSharingAHeldSocketAreReadyOnceTheSocketIsServed() throws {
        let yaml = """
            processes:
              server:
                command: [python3, server.py]
                listen: "127.0.0.1:0"
                replicas: 2
              client: {command: 'echo client up; exec sleep 1000', depends_on: [server]}
            """
        let server = """
            import os, socket, time
            held = socket.socket(fileno=3)
            if os.environ["SUPERWATCH_REPLICA"] == "2":
                print("never accepting", flush=True)
                time.sleep(300)
            time.sleep(1)
            print("accepting", flush=True)
            while True:
                connection, _ = held.accept()
                connection.close()
            """
        try withStack(yaml, files: ["server.py": server]) { run in
            expectLine(run, "client", "| client up")
            let accepting = try #require(line(run, "server.1", "| accepting"), "\(run.stdout)")
            for replica in ["server.1", "server.2"] {
                let ready = line(run, replica, "* ready after")
                #expect(ready != nil && accepting < ready!, "\(replica): \(run.stdout)")
            }
            #expect(line(run, "server.2", "| never accepting") != nil, "\(run.stdout)")
        }
    }
}

extension ExampleTests {
    /// examples/deps: the start order its README describes, then its edit: the migration runs again while the
    /// API keeps running and serves the new schema version.
    @Test func deps() throws {
        let db = String(freePort())
        let api = String(freePort())
        let patch = { (config: String) in
            config.replacingOccurrences(of: "7432", with: db).replacingOccurrences(of: "7480", with: api)
        }
        try withExample(
            "deps", file: "superwatch.yaml", patch: patch,
            expected: [
                "migrate    * waiting for db (ready)", "api        * waiting for db (ready), migrate (completed)",
                "db         * ready after", "migrate    | migrate: schema is at version 2", "api        * ready after",
            ]
        ) { example in
            #expect(eventually { httpGet(api)?.contains("\"schema\": 2") == true }, "\(example.run.stdout)")
            try example.edit("migrate.py", replacing: "SCHEMA_VERSION = 2", with: "SCHEMA_VERSION = 3")
            #expect(example.waitFor("migrate    | migrate: schema is at version 3"), "\(example.run.stdout)")
            #expect(eventually { httpGet(api)?.contains("\"schema\": 3") == true }, "\(example.run.stdout)")
            #expect(!example.run.stdout.contains("api        * stopping"), "\(example.run.stdout)")
        }
    }

}

/// A TCP port on 127.0.0.1 with nothing listening on it now.
func freePort() -> UInt16 {
    let taken = occupyLoopbackPort()
    close(taken.fd)
    return taken.port
}
