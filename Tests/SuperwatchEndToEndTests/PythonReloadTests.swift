import Foundation
import SuperwatchTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// This machine sets both globally; a user's machine has neither. With PYTHONDONTWRITEBYTECODE no `.pyc` is
/// ever written, so a test about stale bytecode would pass whatever superwatch does.
let variablesThatHidePythonBytecode = ["PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED"]

/// Replaces `name` in `dir` with `contents` the way editors and `sed -i` save (a new file renamed over the old
/// one), its mtime set to `seconds` + `nanoseconds` first: a whole second shared by every edit of a test, as
/// when edits follow each other within one second.
func saveWithMtime(_ dir: TemporaryDirectory, _ name: String, _ contents: String, seconds: Int, nanoseconds: Int) {
    let temporary = dir.write(name + ".new", contents)
    var times = [timespec(tv_sec: seconds, tv_nsec: nanoseconds), timespec(tv_sec: seconds, tv_nsec: nanoseconds)]
    precondition(utimensat(AT_FDCWD, temporary, &times, 0) == 0, "utimensat \(temporary)")
    precondition(rename(temporary, "\(dir.path)/\(name)") == 0, "rename \(temporary)")
}

/// Python validates a `.pyc` by its source's size and whole-second mtime only, so an edit that keeps the size
/// within the second of the cached bytecode would run the old code. A restart must always run the bytes on
/// disk.
@Suite(.enabled(if: flaskAvailable, "needs Flask (.ci/run installs it)"))
struct FreshCodeTests {
    enum Mode: String, CaseIterable, Sendable {
        /// `werkzeug:`: superwatch's bootstrap, restarted through a standby interpreter.
        case werkzeug
        /// `python3 app.py` calling `app.run(debug=True)`, with `listen:` and a `watch:` glob.
        case plainApp
        /// `flask run --debug`, reloaded through superwatch's reload path only (no `watch:`).
        case flaskRun
        /// Django's `manage.py runserver`, reloaded through superwatch's reload path only.
        case runserver

        static var available: [Mode] { allCases.filter { $0 != .runserver || djangoAvailable } }
    }

    @Test(arguments: Mode.available)
    func twentySameSizeEditsWithinOneSecondAreEachServedByTheNewCode(mode: Mode) throws {
        let process: String
        switch mode {
        case .werkzeug:
            process = "werkzeug: app:app\n    listen: 127.0.0.1:0"
        case .plainApp:
            process = "command: python3 app.py\n    listen: 127.0.0.1:0\n    watch: [\"**/*.py\"]"
        case .flaskRun:
            process = "command: \(PythonCommand.flaskRun.command)\n    listen: 127.0.0.1:0"
        case .runserver:
            process = "command: \(PythonCommand.runserver.command)\n    listen: 127.0.0.1:0"
        }
        var files: [String: String] = [:]
        if mode == .runserver {
            files = PythonCommand.runserver.files(body: "helpers.VERSION")
            files["helpers.py"] = nil  // written below, with its mtime
        }
        let app = """
            from flask import Flask
            import helpers
            app = Flask(__name__)
            @app.route("/")
            def index():
                return helpers.VERSION
            if __name__ == "__main__":
                app.run(debug=True)
            """
        let second = Int(time(nil))
        let version = { (n: Int) in String(format: "v%02d", n) }
        if mode != .runserver { files["app.py"] = app }
        try withStack(
            "processes:\n  api:\n    \(process)\n",
            prepare: { dir in
                for (name, text) in files { dir.write(name, text) }
                saveWithMtime(dir, "helpers.py", "VERSION = \"\(version(0))\"\n", seconds: second, nanoseconds: 0)
            }, unsetting: variablesThatHidePythonBytecode
        ) { run in
            let port = try #require(listeningPort(run))
            #expect(eventually { httpGet(port) == version(0) }, "\(run.stdout)")
            let cache = "\(run.path)/__pycache__"
            let bytecodeWritten = {
                ((try? FileManager.default.contentsOfDirectory(atPath: cache)) ?? [])
                    .contains { $0.hasPrefix("helpers.") && $0.hasSuffix(".pyc") }
            }
            try #require(bytecodeWritten(), "Python wrote helpers.py's bytecode (else this test proves nothing)")

            var answers: [String?] = []
            let restarting = "api        * restarting: helpers.py changed"
            for edit in 1...20 {
                let restarts = run.stdout.components(separatedBy: restarting).count - 1
                // Same size, same whole second as every earlier version: only the sub-second part differs.
                saveWithMtime(
                    run.dir, "helpers.py", "VERSION = \"\(version(edit))\"\n", seconds: second,
                    nanoseconds: edit * 10_000_000)
                // A start logged after this edit's restart began (Werkzeug's own reloader may restart the plain app
                // once more, but never before the edit): the process that answers has read the new file.
                let restarted = eventually {
                    let parts = run.stdout.components(separatedBy: restarting)
                    return parts.count - 1 > restarts && parts.last!.contains("api        * started (pid")
                }
                #expect(restarted, "edit \(edit) restarts the process")
                answers.append(httpGet(port))
                #expect(bytecodeWritten(), "the new process wrote helpers.py's bytecode")
            }
            #expect(answers == (1...20).map(version), "\(run.stdout)")
        }
    }
}

@Suite(.enabled(if: flaskAvailable, "needs Flask (.ci/run installs it)"))
struct WerkzeugIgnoreTests {
    /// `ignore:` applies to the modules a `werkzeug:` app reports, as Werkzeug's `exclude_patterns` does.
    @Test func anIgnoredImportedModuleDoesNotRestartTheApp() throws {
        let yaml = """
            processes:
              api:
                werkzeug: app:app
                listen: 127.0.0.1:0
                ignore: ["local_*.py"]
            """
        try withStack(
            yaml,
            files: [
                "local_settings.py": "GREETING = 'hi'\n", "helpers.py": "VERSION = 1\n",
                "app.py": """
                from flask import Flask
                import helpers, local_settings
                app = Flask(__name__)
                @app.route("/")
                def index():
                    return f"{local_settings.GREETING} v{helpers.VERSION}"
                """,
            ]
        ) { run in
            let port = try #require(listeningPort(run))
            #expect(eventually { httpGet(port) == "hi v1" })
            // The first report (both modules) has been taken in once an edit of one of them restarts the app.
            run.write("helpers.py", "VERSION = 2\n")
            #expect(eventually { httpGet(port) == "hi v2" })
            // inotify reports changes in order: had the ignored module been watched, its change would be part of
            // the restart that the next edit causes, or a restart of its own before it.
            run.write("local_settings.py", "GREETING = 'hello'\n")
            run.write("helpers.py", "VERSION = 3\n")
            #expect(eventually { httpGet(port) == "hello v3" })
            let restarts = run.stdoutLines.filter { $0.contains(" * restarting") }
            #expect(
                restarts == [
                    "api        * restarting: helpers.py changed", "api        * restarting: helpers.py changed",
                ],
                "\(run.stdout)")
        }
    }
}
