import Foundation
import SuperwatchTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// How many times process `name` has been started so far.
func starts(of name: String, in run: SuperwatchRun) -> Int {
    run.stdout.split(separator: "\n").filter { $0.hasPrefix(name) && $0.contains(" * started (pid ") }.count
}

/// Waits for `count` starts of `name`, then gives stragglers a moment to show up: a further restart that
/// should not happen would follow within the debounce, so this is a check that can fail, not a sleep to hope.
func settledStarts(of name: String, in run: SuperwatchRun, atLeast count: Int) -> Int {
    _ = eventually { starts(of: name, in: run) >= count }
    usleep(500_000)
    return starts(of: name, in: run)
}

@Suite(.serialized) struct WatchTests {
    @Test func aChangeRestartsOnlyTheProcessWhoseGlobsMatch() throws {
        let dir = stack(
            """
            processes:
              api:
                command: 'echo "api up [$SUPERWATCH_CHANGED]"; exec sleep 1000'
                watch: ["api/**/*.py"]
              web:
                command: 'echo web up; exec sleep 1000'
                watch: ["web/*.html"]
            """)
        dir.write("api/app.py", "1")
        dir.write("web/index.html", "1")
        defer { dir.remove() }
        let run = try SuperwatchRun(["up"], in: dir.path)
        defer {
            run.signal(SIGINT)
            _ = run.waitForExit()
        }
        #expect(run.waitFor("api        | api up []") && run.waitFor("web        | web up"))
        dir.write("api/app.py", "2")
        #expect(run.waitFor("api        * restarting: api/app.py changed"))
        #expect(run.waitFor("api        | api up [api/app.py]"))
        #expect(settledStarts(of: "api", in: run, atLeast: 2) == 2)
        #expect(starts(of: "web", in: run) == 1, "web's globs do not match")
        dir.write("web/index.html", "2")
        #expect(settledStarts(of: "web", in: run, atLeast: 2) == 2)
        #expect(starts(of: "api", in: run) == 2)
    }

    @Test func ignoredPathsAndDefaultIgnoresDoNotRestart() throws {
        let dir = stack(
            """
            processes:
              app:
                command: 'echo "up [$SUPERWATCH_CHANGED]"; exec sleep 1000'
                watch: ["**"]
                ignore: ["logs/"]
            """)
        dir.write("src/a.py", "1")
        dir.write("node_modules/pkg/index.js", "1")
        defer { dir.remove() }
        let run = try SuperwatchRun(["up"], in: dir.path)
        defer {
            run.signal(SIGINT)
            _ = run.waitForExit()
        }
        #expect(run.waitFor("app        | up []"))
        dir.write("logs/today.log", "x")
        dir.write("node_modules/pkg/index.js", "2")
        dir.write("src/__pycache__/a.cpython-311.pyc", "x")
        dir.write("src/.a.py.swp", "x")
        dir.write(".git/index", "x")
        // Then one change that counts: only it may be reported.
        dir.write("src/a.py", "2")
        #expect(run.waitFor("app        | up [src/a.py]"))
        #expect(settledStarts(of: "app", in: run, atLeast: 2) == 2)
    }

    @Test func extraFilesOutsideTheWorkingDirectoryTrigger() throws {
        let dir = stack(
            """
            processes:
              svc:
                command: 'echo up; exec sleep 1000'
                cwd: service
                watch: ["*.py"]
                extra_files: [../shared/settings.toml]  # relative to cwd
            """)
        dir.write("service/main.py", "1")
        let settings = dir.write("shared/settings.toml", "a = 1")
        defer { dir.remove() }
        let run = try SuperwatchRun(["up"], in: dir.path)
        defer {
            run.signal(SIGINT)
            _ = run.waitForExit()
        }
        #expect(run.waitFor("svc        | up"))
        dir.write("shared/settings.toml", "a = 2")
        #expect(run.waitFor("svc        * restarting: \(settings) changed"))
        #expect(settledStarts(of: "svc", in: run, atLeast: 2) == 2)
    }

    @Test func anAtomicSaveAndABurstOfWritesEachRestartOnce() throws {
        let dir = stack(
            """
            processes:
              app:
                command: 'echo up; exec sleep 1000'
                watch: ["*.txt"]
                debounce: 200ms
            """)
        dir.write("notes.txt", "1")
        defer { dir.remove() }
        let run = try SuperwatchRun(["up"], in: dir.path)
        defer {
            run.signal(SIGINT)
            _ = run.waitForExit()
        }
        #expect(run.waitFor("app        | up"))
        // An editor's safe write: a temporary file renamed over the original.
        dir.write("notes.txt.tmp-save", "2")
        rename("\(dir.path)/notes.txt.tmp-save", "\(dir.path)/notes.txt")
        #expect(settledStarts(of: "app", in: run, atLeast: 2) == 2)
        // 200 writes in a row.
        for i in 0..<200 { dir.write("notes.txt", "\(i)") }
        #expect(settledStarts(of: "app", in: run, atLeast: 3) == 3)
        #expect(run.stdout.contains("restarting: notes.txt changed\n"))
    }

    @Test func newAndRecreatedDirectoriesAreWatched() throws {
        let dir = stack(
            """
            processes:
              app:
                command: 'echo "up [$SUPERWATCH_CHANGED]"; exec sleep 1000'
                watch: ["src/**/*.py"]
            """)
        dir.write("src/main.py", "1")
        defer { dir.remove() }
        let run = try SuperwatchRun(["up"], in: dir.path)
        defer {
            run.signal(SIGINT)
            _ = run.waitForExit()
        }
        #expect(run.waitFor("app        | up []"))
        dir.write("src/pkg/sub/mod.py", "1")
        #expect(run.waitFor("app        | up [src/pkg/sub/mod.py]"))
        // Remove a watched directory and create it again: files in it still count.
        try FileManager.default.removeItem(atPath: "\(dir.path)/src/pkg")
        #expect(run.waitFor("app        * restarting: src/pkg/sub/mod.py changed"))
        #expect(eventually { starts(of: "app", in: run) >= 3 })
        dir.write("src/pkg/sub/again.py", "1")
        #expect(run.waitFor("app        | up [src/pkg/sub/again.py]"))
    }

    @Test func pollingNoticesModifiedNewAndDeletedFiles() throws {
        let dir = stack(
            """
            processes:
              app:
                command: 'echo "up [$SUPERWATCH_CHANGED]"; exec sleep 1000'
                watch: ["*.cfg"]
                watcher: poll
                interval: 200ms
            """)
        dir.write("a.cfg", "1")
        dir.write("gone.cfg", "1")
        defer { dir.remove() }
        let run = try SuperwatchRun(["up"], in: dir.path)
        defer {
            run.signal(SIGINT)
            _ = run.waitForExit()
        }
        #expect(run.waitFor("app        | up []"))
        dir.write("a.cfg", "22")
        #expect(run.waitFor("app        | up [a.cfg]"))
        dir.write("new.cfg", "1")
        #expect(run.waitFor("app        | up [new.cfg]"))
        unlink("\(dir.path)/gone.cfg")
        #expect(run.waitFor("app        | up [gone.cfg]"))
    }

    @Test func aCrashedProcessComesBackOnAChangeWithItsFailuresForgotten() throws {
        let dir = stack(
            """
            processes:
              app:
                command: 'echo "run [$SUPERWATCH_CHANGED]"; exit 1'
                watch: ["*.py"]
                max_restarts: 1
                backoff: 10ms
            """)
        dir.write("app.py", "1")
        defer { dir.remove() }
        let run = try SuperwatchRun(["up"], in: dir.path)
        defer {
            run.signal(SIGINT)
            _ = run.waitForExit()
        }
        #expect(run.waitFor("gave up after 1 restart in a row; waiting for a file change"))
        #expect(run.process.isRunning, "up keeps running while a stopped process is watched")
        dir.write("app.py", "2")
        #expect(run.waitFor("app        | run [app.py]"))
        #expect(run.waitFor("gave up after 1 restart in a row", count: 2), "a fresh set of restarts after the change")
    }

    /// In the JSON log, `restarting` carries the burst's first path and `changed` all of them.
    @Test func theJSONLogNamesTheFirstChangeThenTheBurst() throws {
        let dir = stack("processes:\n  app:\n    command: exec sleep 1000\n    watch: ['*.txt']\n    debounce: 300ms\n")
        defer { dir.remove() }
        let run = try SuperwatchRun(["up", "--log-format", "json"], in: dir.path)
        defer {
            run.signal(SIGINT)
            _ = run.waitForExit()
        }
        #expect(run.waitFor(#""event":"started""#))
        dir.write("a.txt", "1")
        dir.write("b.txt", "1")
        #expect(run.waitFor(#""event":"started""#, count: 2), "\(run.stdout)")
        let events = run.stdoutLines.compactMap { line in
            (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any]
        }
        let changes = events.filter { ["restarting", "changed"].contains($0["event"] as? String) }
        #expect(changes.map { $0["event"] as? String } == ["restarting", "changed"], "\(run.stdout)")
        #expect(changes.map { $0["changed"] as? String } == ["a.txt", "a.txt\nb.txt"], "\(run.stdout)")
    }

    @Test func superwatchChangedListsTheChangedPathsOnePerLine() throws {
        let dir = stack(
            """
            processes:
              app:
                command: 'printf "%s" "$SUPERWATCH_CHANGED" > changed.out; exec sleep 1000'
                watch: ["*.txt"]
                debounce: 300ms
            """)
        dir.write("a.txt", "1")
        dir.write("b.txt", "1")
        defer { dir.remove() }
        let run = try SuperwatchRun(["up"], in: dir.path)
        defer {
            run.signal(SIGINT)
            _ = run.waitForExit()
        }
        #expect(run.waitFor("app        * started"))
        dir.write("a.txt", "2")
        dir.write("b.txt", "2")
        // The restart is announced at the burst's first change; the rest are named once it has settled.
        #expect(run.waitFor("app        * also changed: b.txt\n"), "\(run.stdout)")
        let log = run.stdoutLines
        #expect(
            log.filter { $0.hasPrefix("app        * restarting") || $0.hasPrefix("app        * also changed") }
                == ["app        * restarting: a.txt changed", "app        * also changed: b.txt"])
        let stopped = log.firstIndex { $0.hasPrefix("app        * stopped for restart") }
        #expect(
            stopped != nil && log.firstIndex(of: "app        * restarting: a.txt changed")! < stopped!, "\(run.stdout)")
        #expect(eventually { dir.read("changed.out") == "a.txt\nb.txt" })
    }
}
