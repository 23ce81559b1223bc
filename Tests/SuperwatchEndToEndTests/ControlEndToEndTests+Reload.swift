import Foundation
import SuperwatchCore
import SuperwatchTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The live config reload against the real `up`: edits of the config file and its env files, and
/// `superwatch reload`. Pids come from `superwatch status --json` and from what each process printed.
extension ControlEndToEndTests {
    /// Three processes that print their pid (`: $PORT` makes `up` show and report their PORT).
    static let reloadStack = """
        processes:
          keep: {command: ": $PORT; echo pid $$; exec sleep 300"}
          change: {command: ": $PORT; echo pid $$; exec sleep 300"}
          gone: {command: ": $PORT; echo pid $$; exec sleep 300"}

        """

    /// Runs `body` on `reloadStack` once its three processes have started, with their statuses then.
    func withReloadStack(
        _ body: (StackRun, TemporaryDirectory, _ before: [String: ProcessStatus]) throws -> Void
    ) throws {
        let runtime = TemporaryDirectory("superwatch-runtime")
        defer { runtime.remove() }
        try withStack(Self.reloadStack, environment: ["XDG_RUNTIME_DIR": runtime.path]) { run in
            for name in ["keep", "change", "gone"] {
                #expect(eventually { printedPids(name, run).count == 1 }, "\(name): \(run.stdout)")
            }
            try body(run, runtime, try statuses(run, runtime))
        }
    }

    @Test func editingTheConfigStartsAddedStopsRemovedAndRestartsOnlyChangedProcesses() throws {
        try withReloadStack { run, runtime, before in
            #expect(before.mapValues(\.port) == ["keep": 5000, "change": 5100, "gone": 5200])
            let gonePid = try #require(before["gone"]?.pid)
            // `added` comes first: by position it would take keep's PORT.
            run.write(
                "superwatch.yaml",
                """
                processes:
                  added: {command: ": $PORT; echo pid $$; exec sleep 300"}
                  keep: {command: ": $PORT; echo pid $$; exec sleep 300"}
                  change: {command: ": $PORT; echo changed; echo pid $$; exec sleep 300"}

                """)
            #expect(
                run.waitFor(
                    "superwatch * config reloaded: started added; stopped gone; restarted change (command changed)\n"),
                "\(run.stdout)")
            #expect(eventually { printedPids("added", run).count == 1 && printedPids("change", run).count == 2 })
            #expect(eventually { !isAlive(gonePid) }, "the removed process is stopped, nothing of it left")
            #expect(run.stdout.contains("change     | changed\n"))
            #expect(eventually { (try? statuses(run, runtime)["change"]?.pid) == printedPids("change", run).last })
            let after = try statuses(run, runtime)
            #expect(Set(after.keys) == ["added", "keep", "change"])
            #expect(after["keep"]?.pid == before["keep"]?.pid, "untouched: the same run")
            #expect(printedPids("keep", run).count == 1)
            #expect(after.mapValues(\.port) == ["keep": 5000, "change": 5100, "added": 5200])
            #expect(after["change"]?.state == .running && after["added"]?.state == .running)
            #expect(after["change"]?.lastReloadMilliseconds != nil)
            // The status lists the processes as the file does now.
            let table = try client(["status"], run, runtime)
            #expect(
                table.stdout.split(separator: "\n").dropFirst().map { $0.prefix(6) } == ["added ", "keep  ", "change"])
            // The removed process is no longer a name the stack knows.
            let unknown = try client(["restart", "gone"], run, runtime)
            #expect(unknown.status == 1 && unknown.stderr.contains("no process named `gone`"), "\(unknown.stderr)")
        }
    }

    @Test func anInvalidEditIsReportedWhereItIsAndTheStackRunsOnUnchanged() throws {
        try withReloadStack { run, runtime, before in
            let invalid = """
                processes:
                  keep: {command: ": $PORT; echo pid $$; exec sleep 300", restart: sometimes}
                  change: {command: "echo changed; exec sleep 300"}

                """
            run.write("superwatch.yaml", invalid)
            let message =
                "superwatch.yaml:2:68: error: `restart` must be one of never, on-failure, always; found `sometimes`"
            #expect(
                run.waitFor("superwatch * \(message) (config not reloaded; the stack runs as before)\n"),
                "\(run.stdout)")
            // `superwatch reload` is refused the same way, and says where.
            let refused = try client(["reload"], run, runtime)
            #expect(refused.status == 1)
            #expect(refused.stderr == "superwatch: \(message)\n")
            #expect(refused.stdout.isEmpty)
            let after = try statuses(run, runtime)
            #expect(after.mapValues(\.pid) == before.mapValues(\.pid))
            #expect(after.values.allSatisfy { $0.state == .running })
            #expect(!run.stdout.contains("config reloaded"))
            #expect(!run.stdout.contains("changed"))

            // Fixed, it applies.
            run.write("superwatch.yaml", invalid.replacingOccurrences(of: ", restart: sometimes", with: ""))
            #expect(run.waitFor("superwatch * config reloaded: stopped gone; restarted change (command changed)\n"))
            #expect(eventually { (try? statuses(run, runtime)["keep"]?.pid) == before["keep"]?.pid })
        }
    }

    @Test func anEnvFileSavedByRenamingRestartsTheProcessesThatReadIt() throws {
        let runtime = TemporaryDirectory("superwatch-runtime")
        defer { runtime.remove() }
        let yaml = """
            processes:
              reader: {command: "echo greeting $GREETING; echo pid $$; exec sleep 300", env_file: app.env}
              other: {command: "echo pid $$; exec sleep 300", watch: ["*.txt"]}

            """
        try withStack(
            yaml, files: ["app.env": "GREETING=hello\n", "notes.txt": "1\n", "todo.txt": "2\n"],
            environment: ["XDG_RUNTIME_DIR": runtime.path]
        ) { run in
            #expect(run.waitFor("reader     | greeting hello\n"), "\(run.stdout)")
            #expect(eventually { printedPids("other", run).count == 1 && printedPids("reader", run).count == 1 })
            #expect(eventually { (try? statuses(run, runtime)["other"]?.watchedFiles) == 2 })
            let before = try statuses(run, runtime)
            #expect(before["reader"]?.watchedFiles == 0, "the env files are the config's watch, not the process's")
            // As an editor saves: a new file renamed over the old one.
            run.write("app.env.new", "GREETING=bye\n")
            #expect(rename("\(run.path)/app.env.new", "\(run.path)/app.env") == 0)
            #expect(run.waitFor("superwatch * config reloaded: restarted reader (env changed)\n"), "\(run.stdout)")
            #expect(run.waitFor("reader     | greeting bye\n"), "\(run.stdout)")
            #expect(eventually { (try? statuses(run, runtime)["reader"]?.pid) == printedPids("reader", run).last })
            let after = try statuses(run, runtime)
            #expect(after["reader"]?.pid != before["reader"]?.pid)
            #expect(after["other"]?.pid == before["other"]?.pid)
            #expect(printedPids("other", run).count == 1)
        }
    }

    /// A `.env` created after `up` started is not watched yet (it was not there to be read): `superwatch
    /// reload` reads it, says what it did, and from then on it is watched.
    @Test func theReloadCommandAppliesAndPrintsWhatChanged() throws {
        let runtime = TemporaryDirectory("superwatch-runtime")
        defer { runtime.remove() }
        let yaml = """
            processes:
              web: {command: "echo mode ${MODE:-none}; echo pid $$; exec sleep 300"}
              worker: {command: "echo mode ${MODE:-none}; echo pid $$; exec sleep 300"}

            """
        try withStack(yaml, environment: ["XDG_RUNTIME_DIR": runtime.path]) { run in
            #expect(eventually { printedPids("web", run).count == 1 && printedPids("worker", run).count == 1 })
            let unchanged = try client(["reload"], run, runtime)
            #expect(unchanged.status == 0 && unchanged.stdout == "nothing changed\n", "\(unchanged.stderr)")
            #expect(run.waitFor("superwatch * config reloaded: nothing changed\n"))

            run.write(".env", "MODE=fast\n")
            let applied = try client(["reload", "-f", "superwatch.yaml"], run, runtime)
            #expect(applied.status == 0, "\(applied.stderr)")
            #expect(applied.stdout == "restarted web\nrestarted worker\n")
            #expect(run.waitFor("web        | mode fast\n") && run.waitFor("worker     | mode fast\n"), "\(run.stdout)")

            run.write(".env", "MODE=slow\n")
            #expect(
                run.waitFor("superwatch * config reloaded: restarted web (env changed), worker (env changed)\n"),
                "\(run.stdout)")
            #expect(run.waitFor("web        | mode slow\n"), "\(run.stdout)")
        }
    }

    @Test func aReloadAddingAnAddressInUseIsRefusedAndChangesNothing() throws {
        let (fd, port) = occupyLoopbackPort()
        defer { close(fd) }
        try withReloadStack { run, runtime, before in
            run.write(
                "superwatch.yaml",
                """
                processes:
                  keep: {command: ": $PORT; echo pid $$; exec sleep 300"}
                  change: {command: ": $PORT; echo changed; echo pid $$; exec sleep 300"}
                  web:
                    command: "echo pid $$; exec sleep 300"
                    listen: 127.0.0.1:\(port)

                """)
            let message = "superwatch.yaml:6:13: error: port \(port) is already in use by pid \(getpid())"
            #expect(run.waitFor("superwatch * \(message)"), "\(run.stdout)")
            let refused = try client(["reload"], run, runtime)
            #expect(refused.status == 1 && refused.stderr.hasPrefix("superwatch: \(message)"), "\(refused.stderr)")
            let after = try statuses(run, runtime)
            #expect(after.mapValues(\.pid) == before.mapValues(\.pid), "gone still runs, change did not restart")
            #expect(!run.stdout.contains("config reloaded") && !run.stdout.contains("| changed"))
        }
    }

    /// Processes a reload adds take part in start and stop order: one that depends on a running, ready process
    /// starts, one that depends on it in turn waits for it, and `down` stops them in reverse order.
    /// A reload that gives a running process a dependency restarts it through the same wait as an added
    /// process: it starts again only once the new dependency is ready.
    @Test func aProcessWhoseDependenciesAReloadChangedWaitsForThemBeforeItStartsAgain() throws {
        try withReloadStack { run, _, _ in
            run.write(
                "superwatch.yaml",
                """
                processes:
                  keep: {command: ": $PORT; echo pid $$; exec sleep 300"}
                  change:
                    command: ": $PORT; echo pid $$; exec sleep 300"
                    depends_on: [db]
                  gone: {command: ": $PORT; echo pid $$; exec sleep 300"}
                  db:
                    command: "echo pid $$; exec sleep 300"
                    ready: {exec: "test -e db.ready"}

                """)
            let waiting = { (line: String) in line.hasPrefix("change ") && line.contains("* waiting for db (ready)") }
            #expect(eventually { run.stdoutLines.contains(where: waiting) }, "\(run.stdout)")
            #expect(printedPids("change", run).count == 1, "not started again before db is ready: \(run.stdout)")
            run.write("db.ready", "")
            #expect(eventually { printedPids("change", run).count == 2 }, "\(run.stdout)")
            let lines = run.stdoutLines
            let dbReady = try #require(lines.firstIndex { $0.hasPrefix("db ") && $0.contains("* ready after") })
            let restarted = try #require(lines.lastIndex { $0.hasPrefix("change ") && $0.contains("* started") })
            #expect(dbReady < restarted, "\(run.stdout)")
        }
    }

    @Test func processesAReloadAddsWaitForTheirDependenciesAndStopInReverseOrder() throws {
        try withReloadStack { run, runtime, before in
            run.write(
                "superwatch.yaml",
                Self.reloadStack + """
                      api:
                        command: "trap 'echo api stops; exit 0' TERM; echo pid $$; sleep 300 & wait"
                        depends_on: {keep: started}
                        ready: {log: "^pid"}
                      web:
                        command: "trap 'echo web stops; exit 0' TERM; echo pid $$; sleep 300 & wait"
                        depends_on: {api: ready}

                    """)
            #expect(run.waitFor("superwatch * config reloaded: started api, web\n"), "\(run.stdout)")
            #expect(eventually { printedPids("api", run).count == 1 && printedPids("web", run).count == 1 })
            #expect(eventually { (try? statuses(run, runtime)["api"]?.state) == .ready }, "\(run.stdout)")
            let after = try statuses(run, runtime)
            #expect(after["keep"]?.pid == before["keep"]?.pid, "untouched: the same run")
            let down = try client(["down"], run, runtime)
            #expect(down.status == 0, "\(down.stderr)")
            #expect(run.waitForExit(timeout: .seconds(60)) != nil)
            let webStops = try #require(run.stdout.range(of: "web        | web stops\n"), "\(run.stdout)")
            let apiStops = try #require(run.stdout.range(of: "api        | api stops\n"), "\(run.stdout)")
            #expect(webStops.lowerBound < apiStops.lowerBound, "web depends on api: it stops first")
        }
    }
}
