import Foundation
import SuperwatchTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Each example in examples/ starts, prints what its README promises, survives the edit its README suggests
/// (the new behaviour is served) and stops cleanly on Ctrl-C. Each runs from a copy, so that what it builds
/// and edits does not land in the source tree, and without PYTHONUNBUFFERED and PYTHONDONTWRITEBYTECODE, as on
/// a user's machine.
@Suite struct ExampleTests {
    static let examples = repositoryRoot.appendingPathComponent("examples")

    /// One example running from a copy.
    struct Example {
        let run: SuperwatchRun
        let scratch: TemporaryDirectory
        let name: String

        /// Replaces `old` with `new` in the copy's file `file`, as an editor saving it would.
        func edit(_ file: String, replacing old: String, with new: String) throws {
            let text = try #require(scratch.read("\(name)/\(file)"))
            try #require(text.contains(old), "\(file) contains \(old)")
            scratch.write("\(name)/\(file)", text.replacingOccurrences(of: old, with: new))
        }

        func waitFor(_ line: String) -> Bool { run.waitFor(line) }
    }

    /// Runs `file` of example `name` from a copy (its config changed by `patch`), waits for every line in
    /// `expected`, runs `body`, then sends SIGINT and expects status 0.
    func withExample(
        _ name: String, file: String, arguments: [String] = [], patch: (String) -> String = { $0 },
        expected: [String], _ body: (Example) throws -> Void = { _ in }
    ) throws {
        let scratch = TemporaryDirectory("superwatch-example")
        defer { scratch.remove() }
        let copy = "\(scratch.path)/\(name)"
        try FileManager.default.copyItem(atPath: Self.examples.appendingPathComponent(name).path, toPath: copy)
        scratch.write("\(name)/\(file)", patch(try #require(scratch.read("\(name)/\(file)"))))
        let run = try SuperwatchRun(
            ["up", "-f", "\(copy)/\(file)"] + arguments, in: scratch.path,
            unsetting: ["PYTHONUNBUFFERED", "PYTHONDONTWRITEBYTECODE"])
        defer {
            if run.process.isRunning {
                run.signal(SIGINT)
                _ = run.waitForExit()
            }
        }
        for line in expected {
            #expect(run.waitFor(line), "\(name): waiting for `\(line)` in:\n\(run.stdout)\n\(run.stderr)")
        }
        try body(Example(run: run, scratch: scratch, name: name))
        run.signal(SIGINT)
        #expect(run.waitForExit() == 0, "\(name): \(run.stderr)\n\(run.stdout)")
    }

    /// A base port away from the usual 5000, different per run and per example (the examples run in
    /// parallel) so that they do not collide.
    func basePort(_ example: Int) -> String { String(10000 + example * 10000 + Int(getpid() % 90) * 100) }

    /// The quickstart's `web` is Python writing to a pipe: its line shows up at once only because superwatch
    /// gives children PYTHONUNBUFFERED=1 (this test runs without it, as a user's machine does).
    @Test func quickstart() throws {
        // A port free now (the example's 8000 may be taken; its `web` binds on its own, without `listen`).
        let probe = occupyLoopbackPort()
        close(probe.fd)
        let port = String(probe.port)
        try withExample(
            "quickstart", file: "superwatch.yaml", patch: { $0.replacingOccurrences(of: "8000", with: port) },
            expected: [
                "web        | Serving HTTP on 127.0.0.1 port \(port)", "ticker     | hello, it is",
                "reloader   | started",
            ]
        ) { example in
            try example.edit("ticker.sh", replacing: "it is", with: "the time is")
            #expect(example.waitFor("ticker     | hello, the time is"), "\(example.run.stdout)")
            let log = example.run.stdoutLines
            let restarting = log.firstIndex(of: "ticker     * restarting: ticker.sh changed")
            let stopped = log.firstIndex { $0.hasPrefix("ticker     * stopped for restart") }
            #expect(restarting != nil && stopped != nil && restarting! < stopped!, "\(example.run.stdout)")
        }
    }

    @Test func procfile() throws {
        let port = basePort(0)
        try withExample(
            "procfile", file: "Procfile", arguments: ["--port", port],
            expected: ["clock      | hello from clock, PORT=\(Int(port)! + 100)", "web        * started"]
        ) { example in
            example.scratch.write("procfile/hello.txt", "hi\n")
            #expect(eventually { httpGet(port, "/hello.txt") == "hi\n" }, "\(example.run.stdout)")
        }
    }

    @Test func polyglot() throws {
        let port = basePort(1)
        try withExample(
            "polyglot", file: "superwatch.yaml", arguments: ["--port", port, "-c", "worker=1"],
            expected: [
                "api        | serving on http://127.0.0.1:\(port)", "worker     | worker 1 ready",
                "frontend   | built dist/app.js",
                "settings   | loaded settings (development)",
            ]
        ) { example in
            #expect(eventually { httpGet(port)?.contains("\"version\": 1") == true }, "\(example.run.stdout)")
            try example.edit("api.py", replacing: "VERSION = 1", with: "VERSION = 2")
            #expect(example.waitFor("api        * restarting: api.py changed"), "\(example.run.stdout)")
            #expect(eventually { httpGet(port)?.contains("\"version\": 2") == true }, "\(example.run.stdout)")
        }
    }

    /// The README's edit, then a syntax error in the same file and its fix: both processes serve the fixed
    /// code. `plain` used to stay down once it had given up, since only its templates were watched; a short
    /// backoff makes it give up before the fix, as it does for a user who takes half a minute to fix the file.
    @Test(.enabled(if: flaskAvailable, "needs Flask (.ci/run installs it)"))
    func flask() throws {
        let patch = { (config: String) in
            config.replacingOccurrences(of: #"127\.0\.0\.1:500\d"#, with: "127.0.0.1:0", options: .regularExpression)
                .replacingOccurrences(
                    of: "command: python3 app.py\n", with: "command: python3 app.py\n    backoff: 20ms\n")
        }
        try withExample(
            "flask", file: "superwatch.yaml", patch: patch,
            expected: ["plain      * started", "direct     * started"]
        ) { example in
            let run = example.run
            let ports = try ["plain", "direct"].map { name in
                try #require(
                    eventually { port(of: name, in: run) != nil } ? port(of: name, in: run) : nil, "\(run.stdout)")
            }
            let serves = { (text: String) in
                ports.allSatisfy { port in eventually { httpGet(port)?.contains(text) == true } }
            }
            #expect(serves("Hello from superwatch"), "\(run.stdout)")
            try example.edit("helpers.py", replacing: "\"Hello from superwatch\"", with: "\"Hello again\"")
            #expect(serves("Hello again"), "\(run.stdout)")
            try example.edit("helpers.py", replacing: "\"Hello again\"", with: "\"Hello again")
            #expect(
                example.waitFor("direct     * the app failed to import; waiting for a change to one of its files"),
                "\(run.stdout)")
            #expect(example.waitFor("plain      * gave up after 5 restarts in a row"), "\(run.stdout)")
            try example.edit("helpers.py", replacing: "\"Hello again", with: "\"Hello after the fix\"")
            #expect(serves("Hello after the fix"), "\(run.stdout)")
        }
    }

    /// examples/django: `manage.py runserver` reloaded by superwatch, with the README's two edits (the view's
    /// greeting, then the template).
    @Test(.enabled(if: djangoAvailable, "needs Django (.ci/run installs it)"))
    func django() throws {
        try withExample(
            "django", file: "superwatch.yaml",
            patch: { $0.replacingOccurrences(of: "127.0.0.1:8000", with: "127.0.0.1:0") },
            expected: ["web        * started"]
        ) { example in
            let run = example.run
            let webPort = try #require(
                eventually { port(of: "web", in: run) != nil } ? port(of: "web", in: run) : nil, "\(run.stdout)")
            #expect(eventually { httpGet(webPort)?.contains("<h1>Hello from Django</h1>") == true }, "\(run.stdout)")
            try example.edit("views.py", replacing: "\"Hello from Django\"", with: "\"Hello again\"")
            #expect(eventually { httpGet(webPort)?.contains("<h1>Hello again</h1>") == true }, "\(run.stdout)")
            #expect(eventually { httpGet(webPort, "/api/greeting") == "Hello again" }, "\(run.stdout)")
            try example.edit("templates/index.html", replacing: "h1>", with: "h2>")
            #expect(eventually { httpGet(webPort)?.contains("<h2>Hello again</h2>") == true }, "\(run.stdout)")
        }
    }

    /// The port process `name` listens on, from its address line in the start banner.
    func port(of name: String, in run: SuperwatchRun) -> String? {
        run.stdoutLines.lazy.compactMap { line -> String? in
            guard line.hasPrefix(name + " "), let match = line.firstMatch(of: /\* http:\/\/127\.0\.0\.1:(\d+)$/)
            else { return nil }
            return String(match.1)
        }.first
    }
}
