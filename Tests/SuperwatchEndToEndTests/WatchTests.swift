import Foundation
import SuperwatchTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// How many times process `name` has been started so far.
func starts(of name: String, in run: StackRun) -> Int {
    run.stdout.split(separator: "\n").filter { $0.hasPrefix(name) && $0.contains(" * started (pid ") }.count
}

/// Waits for `count` starts of `name`, then gives stragglers a moment to show up: a further restart that
/// should not happen would follow within the debounce, so this is a check that can fail, not a sleep to hope.
func settledStarts(of name: String, in run: StackRun, atLeast count: Int) -> Int {
    _ = eventually { starts(of: name, in: run) >= count }
    usleep(500_000)
    return starts(of: name, in: run)
}

@Suite(.serialized) struct WatchTests {
    @Test func aChangeRestartsOnlyTheProcessWhoseGlobsMatch() throws {
        let yaml = """
            processes:
              api:
                command: 'echo "api up [$SUPERWATCH_CHANGED]"; exec sleep 1000'
                watch: ["api/**/*.py"]
              web:
                command: 'echo web up; exec sleep 1000'
                watch: ["web/*.html"]
            """
        try withStack(yaml, files: ["api/app.py": "1", "web/index.html": "1"]) { run in
            #expect(run.waitFor("api        | api up []") && run.waitFor("web        | web up"))
            run.write("api/app.py", "2")
            #expect(run.waitFor("api        * restarting: api/app.py changed"))
            #expect(run.waitFor("api        | api up [api/app.py]"))
            #expect(settledStarts(of: "api", in: run, atLeast: 2) == 2)
            #expect(starts(of: "web", in: run) == 1, "web's globs do not match")
            run.write("web/index.html", "2")
            #expect(settledStarts(of: "web", in: run, atLeast: 2) == 2)
            #expect(starts(of: "api", in: run) == 2)
        }
    }

    @Test func ignoredPathsAndDefaultIgnoresDoNotRestart() throws {
        let yaml = """
            processes:
              app:
                command: 'echo "up [$SUPERWATCH_CHANGED]"; exec sleep 1000'
                watch: ["**"]
                ignore: ["logs/"]
            """
        try withStack(yaml, files: ["src/a.py": "1", "node_modules/pkg/index.js": "1"]) { run in
            #expect(run.waitFor("app        | up []"))
            run.write("logs/today.log", "x")
            run.write("node_modules/pkg/index.js", "2")
            run.write("src/__pycache__/a.cpython-311.pyc", "x")
            run.write("src/.a.py.swp", "x")
            run.write(".git/index", "x")
            // Then one change that counts: only it may be reported.
            run.write("src/a.py", "2")
            #expect(run.waitFor("app        | up [src/a.py]"))
            #expect(settledStarts(of: "app", in: run, atLeast: 2) == 2)
        }
    }

    @Test func extraFilesOutsideTheWorkingDirectoryTrigger() throws {
        let yaml = """
            processes:
              svc:
                command: 'echo up; exec sleep 1000'
                cwd: service
                watch: ["*.py"]
                extra_files: [../shared/settings.toml]  # relative to cwd
            """
        try withStack(yaml, files: ["service/main.py": "1", "shared/settings.toml": "a = 1"]) { run in
            #expect(run.waitFor("svc        | up"))
            let settings = run.write("shared/settings.toml", "a = 2")
            #expect(run.waitFor("svc        * restarting: \(settings) changed"))
            #expect(settledStarts(of: "svc", in: run, atLeast: 2) == 2)
        }
    }

    @Test func anAtomicSaveAndABurstOfWritesEachRestartOnce() throws {
        let yaml = """
            processes:
              app:
                command: 'echo up; exec sleep 1000'
                watch: ["*.txt"]
                debounce: 200ms
            """
        try withStack(yaml, files: ["notes.txt": "1"]) { run in
            #expect(run.waitFor("app        | up"))
            // An editor's safe write: a temporary file renamed over the original.
            run.write("notes.txt.tmp-save", "2")
            rename("\(run.path)/notes.txt.tmp-save", "\(run.path)/notes.txt")
            #expect(settledStarts(of: "app", in: run, atLeast: 2) == 2)
            // 200 writes in a row.
            for i in 0..<200 { run.write("notes.txt", "\(i)") }
            #expect(settledStarts(of: "app", in: run, atLeast: 3) == 3)
            #expect(run.stdout.contains("restarting: notes.txt changed\n"))
        }
    }

    @Test func newAndRecreatedDirectoriesAreWatched() throws {
        let yaml = """
            processes:
              app:
                command: 'echo "up [$SUPERWATCH_CHANGED]"; exec sleep 1000'
                watch: ["src/**/*.py"]
            """
        try withStack(yaml, files: ["src/main.py": "1"]) { run in
            #expect(run.waitFor("app        | up []"))
            run.write("src/pkg/sub/mod.py", "1")
            #expect(run.waitFor("app        | up [src/pkg/sub/mod.py]"))
            // Remove a watched directory and create it again: files in it still count.
            try FileManager.default.removeItem(atPath: "\(run.path)/src/pkg")
            #expect(run.waitFor("app        * restarting: src/pkg/sub/mod.py changed"))
            #expect(eventually { starts(of: "app", in: run) >= 3 })
            run.write("src/pkg/sub/again.py", "1")
            #expect(run.waitFor("app        | up [src/pkg/sub/again.py]"))
        }
    }

    @Test func pollingNoticesModifiedNewAndDeletedFiles() throws {
        let yaml = """
            processes:
              app:
                command: 'echo "up [$SUPERWATCH_CHANGED]"; exec sleep 1000'
                watch: ["*.cfg"]
                watcher: poll
                interval: 200ms
            """
        try withStack(yaml, files: ["a.cfg": "1", "gone.cfg": "1"]) { run in
            #expect(run.waitFor("app        | up []"))
            run.write("a.cfg", "22")
            #expect(run.waitFor("app        | up [a.cfg]"))
            run.write("new.cfg", "1")
            #expect(run.waitFor("app        | up [new.cfg]"))
            unlink("\(run.path)/gone.cfg")
            #expect(run.waitFor("app        | up [gone.cfg]"))
        }
    }

    @Test func aCrashedProcessComesBackOnAChangeWithItsFailuresForgotten() throws {
        let yaml = """
            processes:
              app:
                command: 'echo "run [$SUPERWATCH_CHANGED]"; exit 1'
                watch: ["*.py"]
                max_restarts: 1
                backoff: 10ms
            """
        try withStack(yaml, files: ["app.py": "1"]) { run in
            #expect(run.waitFor("gave up after 1 restart in a row; waiting for a file change"))
            #expect(run.process.isRunning, "up keeps running while a stopped process is watched")
            run.write("app.py", "2")
            #expect(run.waitFor("app        | run [app.py]"))
            #expect(
                run.waitFor("gave up after 1 restart in a row", count: 2), "a fresh set of restarts after the change")
        }
    }

    /// In the JSON log, `restarting` carries the burst's first path and `changed` all of them.
    @Test func theJSONLogNamesTheFirstChangeThenTheBurst() throws {
        let yaml = "processes:\n  app:\n    command: exec sleep 1000\n    watch: ['*.txt']\n    debounce: 300ms\n"
        try withStack(yaml, arguments: ["up", "--log-format", "json"]) { run in
            #expect(run.waitFor(#""event":"started""#))
            run.write("a.txt", "1")
            run.write("b.txt", "1")
            #expect(run.waitFor(#""event":"started""#, count: 2), "\(run.stdout)")
            let events = run.stdoutLines.compactMap { line in
                (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any]
            }
            let changes = events.filter { ["restarting", "changed"].contains($0["event"] as? String) }
            #expect(changes.map { $0["event"] as? String } == ["restarting", "changed"], "\(run.stdout)")
            #expect(changes.map { $0["changed"] as? String } == ["a.txt", "a.txt\nb.txt"], "\(run.stdout)")
        }
    }

    @Test func superwatchChangedListsTheChangedPathsOnePerLine() throws {
        let yaml = """
            processes:
              app:
                command: 'printf "%s" "$SUPERWATCH_CHANGED" > changed.out; exec sleep 1000'
                watch: ["*.txt"]
                debounce: 300ms
            """
        try withStack(yaml, files: ["a.txt": "1", "b.txt": "1"]) { run in
            #expect(run.waitFor("app        * started"))
            run.write("a.txt", "2")
            run.write("b.txt", "2")
            // The restart is announced at the burst's first change; the rest are named once it has settled.
            #expect(run.waitFor("app        * also changed: b.txt\n"), "\(run.stdout)")
            let log = run.stdoutLines
            #expect(
                log.filter { $0.hasPrefix("app        * restarting") || $0.hasPrefix("app        * also changed") }
                    == ["app        * restarting: a.txt changed", "app        * also changed: b.txt"])
            let stopped = log.firstIndex { $0.hasPrefix("app        * stopped for restart") }
            #expect(
                stopped != nil && log.firstIndex(of: "app        * restarting: a.txt changed")! < stopped!,
                "\(run.stdout)")
            #expect(eventually { run.read("changed.out") == "a.txt\nb.txt" })
        }
    }
}
