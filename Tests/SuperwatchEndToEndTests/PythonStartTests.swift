import Foundation
import SuperwatchTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

private let werkzeugAvailable = pythonCanImport("werkzeug")

/// A WSGI app without dependencies that answers `text`.
private func wsgiApp(_ text: String) -> String {
    "def app(environ, start_response):\n    start_response('200 OK', [])\n    return [b'\(text)']\n"
}

/// How a `werkzeug:` process starts, and that nothing waits for a change that cannot come.
@Suite(.enabled(if: werkzeugAvailable, "needs Werkzeug (.ci/run installs it)"))
struct PythonStartTests {
    /// Creating the missing module is the fix, so superwatch watches where Python would find it: a module file,
    /// or a package whose directory does not exist yet either.
    @Test(arguments: ["nosuchmodule.py", "nosuchmodule/__init__.py"])
    func anAppModuleThatDoesNotExistYetStartsOnceItIsCreated(file: String) throws {
        try withStack("processes:\n  api:\n    werkzeug: nosuchmodule:app\n    listen: 127.0.0.1:0\n") { run in
            let port = try #require(listeningPort(run))
            #expect(
                run.waitFor("api        * the app failed to import; waiting for a change to one of its files"),
                "\(run.stdout)")
            run.write(file, wsgiApp("created"))
            #expect(run.waitFor("api        * restarting: "), "\(run.stdout)")
            #expect(eventually { httpGet(port) == "created" }, "\(run.stdout)")
        }
    }

    /// A missing interpreter is a failed start like a missing command: the policy applies, then `up` ends.
    @Test func aMissingInterpreterIsAFailedStartAndUpEnds() throws {
        let yaml = """
            processes:
              api:
                werkzeug: app:app
                python: python9
                max_restarts: 1
                backoff: 50ms
            """
        try withStack(yaml, files: ["app.py": wsgiApp("never served")]) { run in
            #expect(run.waitForExit() == 127, "\(run.stdout)")
            #expect(run.stdout.contains("api        * cannot start: command not found: python9"), "\(run.stdout)")
            #expect(run.stdout.contains("api        * gave up after 1 restart in a row\n"), "\(run.stdout)")
            #expect(!run.stdout.contains("waiting"), "nothing is watched: nothing to wait for\n\(run.stdout)")
        }
    }

    /// Werkzeug that cannot be imported (here shadowed by a broken werkzeug.py) is not fixed by a restart; with
    /// nothing watched, the process is down and `up` ends with its status.
    @Test func withoutWerkzeugAndNothingWatchedUpEnds() throws {
        try withStack(
            "processes:\n  api:\n    werkzeug: app:app\n    listen: 127.0.0.1:0\n",
            files: [
                "app.py": wsgiApp("never served"), "werkzeug.py": "raise ImportError('werkzeug hidden by the test')\n",
            ]
        ) { run in
            #expect(run.waitForExit() == 76, "\(run.stdout)")
            #expect(run.stdout.contains("install it with:"), "the bootstrap's hint is shown\n\(run.stdout)")
            #expect(
                run.stdout.contains("api        * Werkzeug is not installed for python3; not restarting"),
                "\(run.stdout)")
        }
    }

    /// With a watch glob, a missing Werkzeug waits for a change, which may come from installing it.
    @Test func withoutWerkzeugAWatchedProcessWaitsForAChange() throws {
        try withStack(
            "processes:\n  api:\n    werkzeug: app:app\n    listen: 127.0.0.1:0\n    watch: ['*.py']\n",
            files: [
                "app.py": wsgiApp("served after the fix"),
                "werkzeug.py": "raise ImportError('werkzeug hidden by the test')\n",
            ]
        ) { run in
            let port = try #require(listeningPort(run))
            #expect(
                run.waitFor("api        * Werkzeug is not installed for python3; waiting for a file change"),
                "\(run.stdout)")
            unlink("\(run.path)/werkzeug.py")
            run.write("app.py", wsgiApp("served after the fix") + "\n")
            #expect(eventually { httpGet(port) == "served after the fix" }, "\(run.stdout)")
        }
    }

    /// pyenv's shim runs Python as a child of bash when its pip-rehash hook applies: a stop signal killed bash
    /// while Python drained, and a clean exit was reported as "killed by SIGTERM". superwatch asks a wrapper
    /// script which interpreter it runs and starts that one, as a file `ps` can name.
    @Test func behindAWrapperScriptPythonItselfIsStartedAndAWatchRestartIsAClean0() throws {
        let real = try runCommand(["python3", "-c", "import sys; print(sys.executable)"])
            .stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        // Like pyenv's shim with its rehash hook: Python runs as a child, not exec'd.
        let shims = TemporaryDirectory("superwatch-shims")
        defer { shims.remove() }
        let shim = shims.write("python3", "#!/usr/bin/env bash\n\(real) \"$@\"\nexit $?\n")
        chmod(shim, 0o755)
        let path = "\(shims.path):" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")
        let yaml = "processes:\n  api:\n    werkzeug: app:app\n    listen: 127.0.0.1:0\n"
        try withStack(yaml, files: ["app.py": wsgiApp("one")], environment: ["PATH": path]) { run in
            let port = try #require(listeningPort(run))
            #expect(eventually { httpGet(port) == "one" }, "\(run.stdout)")
            let pid = try #require(run.stdout.firstMatch(of: /api +\* started \(pid (\d+)\)/).flatMap { pid_t($0.1) })
            let commandLine =
                (try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(pid)/cmdline")))
                .map { $0.split(separator: 0).map { String(decoding: $0, as: UTF8.self) } } ?? []
            #expect(commandLine.first == real, "the interpreter itself, not the shim: \(commandLine)")
            #expect(commandLine.dropFirst().first?.hasSuffix("/superwatch-werkzeug.py") == true, "\(commandLine)")
            #expect(commandLine.dropFirst(2) == ["app:app"])

            run.write("app.py", wsgiApp("two"))
            #expect(run.waitFor("api        * stopped for restart"), "\(run.stdout)")
            #expect(eventually { httpGet(port) == "two" }, "\(run.stdout)")
            let log = run.stdoutLines
            let restarting = log.firstIndex(of: "api        * restarting: app.py changed")
            let stopped = log.firstIndex { $0.hasPrefix("api        * stopped for restart") }
            #expect(stopped.map { log[$0] } == "api        * stopped for restart (exited with code 0)", "\(run.stdout)")
            #expect(
                restarting != nil && stopped != nil && restarting! < stopped!, "the cause comes first\n\(run.stdout)")
        }
    }
}
