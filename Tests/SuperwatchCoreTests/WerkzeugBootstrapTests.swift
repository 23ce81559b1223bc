import Foundation
import SuperwatchTestSupport
import Testing

@testable import SuperwatchCore

/// Whether `python3` on PATH can import Werkzeug; the bootstrap tests need it (except the one that hides it).
private let pythonHasWerkzeug = pythonCanImport("werkzeug")

/// A WSGI app without dependencies: `/` answers with a helper module's greeting, `/lazy` imports a module on
/// first use, `/slow` takes a second, `/boom` raises; `create_app(flavour)` is a factory.
private let appFiles: [String: String] = [
    "myapp.py": """
    import sys
    import time

    import helpers

    def app(environ, start_response):
        path = environ["PATH_INFO"]
        if path == "/boom":
            raise RuntimeError("boom in a request")
        if path == "/slow":
            print("slow request started", file=sys.stderr, flush=True)
            time.sleep(1)
            body = "slow done"
        elif path == "/lazy":
            import lazymod
            body = lazymod.VALUE
        else:
            body = helpers.greeting()
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [body.encode()]

    def create_app(flavour="default"):
        def factory_app(environ, start_response):
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [f"factory {flavour}".encode()]
        return factory_app

    """,
    "helpers.py": "def greeting():\n    return 'hello from helpers'\n",
    "lazymod.py": "VALUE = 'lazy value'\n",
]

/// What the harness saw: the answers to its requests, whether each wait succeeded, and the bootstrap's exit
/// status, output and reports.
private struct HarnessResult: Decodable {
    struct Response: Decodable {
        var status: Int
        var body: String
    }

    var responses: [Response?]
    var asyncResponses: [Response]
    var waits: [Bool]
    var exit: Int32?
    var stdout: String
    var stderr: String
    var report: String
    var reported: [String]

    /// Reported paths with the app directory's prefix removed.
    func reportedNames(in directory: String) -> [String] {
        reported.map { $0.hasPrefix(directory + "/") ? String($0.dropFirst(directory.count + 1)) : $0 }
    }
}

/// The harness that starts the bootstrap as superwatch does (socket on fd 3, report pipe on fd 4) and runs a
/// scenario.
private let harness = repositoryRoot.appendingPathComponent("Tests/Python/bootstrap_harness.py").path

/// One bootstrap run: a temporary directory with the app files, and the Python files as superwatch writes them
/// out.
private struct BootstrapRun {
    let directory = TemporaryDirectory("superwatch-werkzeug")
    let python: PythonFiles
    var appDirectory: String { directory.path + "/app" }

    init(files: [String: String] = appFiles) throws {
        for (name, contents) in files { directory.write("app/" + name, contents) }
        python = try PythonFiles.installTemporary()
    }

    /// Runs the bootstrap for `app` through the harness and returns what happened.
    func run(
        _ app: String, debug: Bool = false, family: String = "inet", closeReport: Bool = false,
        steps: [[String: String]] = [], environment: [String: String] = [:],
        unsetting: [String] = []
    ) throws -> HarnessResult {
        let config: [String: Any] = [
            "bootstrap": python.bootstrap, "cwd": appDirectory, "app": app, "debug": debug,
            "family": family, "close_report": closeReport, "steps": steps, "env": environment, "timeout": 60,
            "unset": unsetting,
        ]
        let json = String(decoding: try JSONSerialization.data(withJSONObject: config), as: UTF8.self)
        let data = Data(try runCommand(["python3", harness, json]).stdout.utf8)
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return try decoder.decode(HarnessResult.self, from: data)
    }

    func remove() {
        directory.remove()
        python.remove()
    }
}

@Suite(.enabled(if: pythonHasWerkzeug, "needs python3 with werkzeug"))
struct WerkzeugBootstrapTests {
    @Test func moduleAttributeIsServedOnThePassedSocket() throws {
        let run = try BootstrapRun()
        defer { run.remove() }
        let result = try run.run("myapp:app", steps: [["get": "/"], ["signal": "TERM"]])
        #expect(result.responses.first??.status == 200)
        #expect(result.responses.first??.body == "hello from helpers")
        #expect(result.stderr.contains(" * Serving myapp:app on http://127.0.0.1:"))
        #expect(result.exit == 0)
    }

    @Test(arguments: [
        ("myapp:create_app()", "factory default"),
        ("myapp:create_app('dev')", "factory dev"),
        ("myapp:create_app(flavour=\"kw\")", "factory kw"),
        ("myapp", "hello from helpers"),  // a bare module: its `app`
    ])
    func factoriesAndBareModulesAreFoundAsFlaskDoes(spec: String, body: String) throws {
        let run = try BootstrapRun()
        defer { run.remove() }
        let result = try run.run(spec, steps: [["get": "/"], ["signal": "TERM"]])
        #expect(result.responses.first??.body == body, "\(result.stderr)")
        #expect(result.exit == 0)
    }

    @Test func aBareModuleFallsBackToItsFactory() throws {
        let run = try BootstrapRun(files: [
            "factory_only.py": """
            def create_app():
                def app(environ, start_response):
                    start_response("200 OK", [])
                    return [b"made by create_app"]
                return app

            """
        ])
        defer { run.remove() }
        let result = try run.run("factory_only", steps: [["get": "/"], ["signal": "TERM"]])
        #expect(result.responses.first??.body == "made by create_app", "\(result.stderr)")
    }

    @Test func argumentsThatAreNotLiteralsAreRefusedWithoutRunningThem() throws {
        let run = try BootstrapRun()
        defer { run.remove() }
        let result = try run.run("myapp:create_app(__import__('os').getcwd())")
        #expect(result.exit == PythonProtocol.exitImportFailed)
        #expect(result.stderr.contains("must be Python literals"))
    }

    @Test(arguments: ["inet6", "unix"])
    func theAddressFamilyComesFromTheSocket(family: String) throws {
        let run = try BootstrapRun()
        defer { run.remove() }
        let result = try run.run("myapp:app", family: family, steps: [["get": "/"], ["signal": "TERM"]])
        #expect(result.responses.first??.body == "hello from helpers", "\(result.stderr)")
        let shown = family == "unix" ? " on unix:\(run.appDirectory)/app.sock" : " on http://[::1]:"
        #expect(result.stderr.contains(" * Serving myapp:app" + shown))
        #expect(result.exit == 0)
    }

    @Test func theReportNamesTheAppAndItsHelperButNotTheStandardLibrary() throws {
        let run = try BootstrapRun()
        defer { run.remove() }
        let result = try run.run("myapp:app", steps: [["wait_report": "/myapp.py"], ["signal": "TERM"]])
        #expect(Set(result.reportedNames(in: run.appDirectory)) == ["myapp.py", "helpers.py"])
        #expect(
            result.report.split(separator: "\n").allSatisfy {
                $0.hasPrefix("file /") || $0.hasPrefix("preload ") || $0.wholeMatch(of: /loaded \d+ \d+ \/.*/) != nil
            })
        #expect(
            result.report.split(separator: "\n").contains { $0.hasPrefix("loaded ") && $0.hasSuffix("/myapp.py") },
            "the app's module is reported with the stamp it was read with")
        #expect(
            result.report.split(separator: "\n").contains("preload werkzeug"),
            "installed packages are named for a standby")
        #expect(!result.reported.contains { $0.hasSuffix("/threading.py") || $0.contains("site-packages") })
    }

    @Test func aModuleImportedLaterIsReportedLater() throws {
        let run = try BootstrapRun()
        defer { run.remove() }
        let result = try run.run(
            "myapp:app",
            steps: [
                ["wait_report": "/myapp.py"], ["get": "/lazy"], ["wait_report": "/lazymod.py"], ["signal": "TERM"],
            ])
        #expect(result.responses.first??.body == "lazy value")
        #expect(result.waits == [true, true])
        #expect(result.reportedNames(in: run.appDirectory).last == "lazymod.py")
        #expect(result.reported.count == Set(result.reported).count, "each file once")
    }

    @Test func aSyntaxErrorExitsWith75AfterReportingTheBrokenFile() throws {
        let run = try BootstrapRun(files: [
            "myapp.py": "import helpers\ndef app(environ, start_response:\n    pass\n",
            "helpers.py": "X = 1\n",
        ])
        defer { run.remove() }
        let result = try run.run("myapp:app")
        #expect(result.exit == PythonProtocol.exitImportFailed)
        #expect(result.stderr.contains("SyntaxError"))
        #expect(result.stderr.contains("myapp.py\", line 2"))
        #expect(result.reportedNames(in: run.appDirectory).contains("myapp.py"))
    }

    @Test func aBrokenHelperReportsBothTheHelperAndTheModuleImportingIt() throws {
        let run = try BootstrapRun(files: ["myapp.py": "import helpers\napp = None\n", "helpers.py": "def f(:\n"])
        defer { run.remove() }
        let result = try run.run("myapp:app")
        #expect(result.exit == PythonProtocol.exitImportFailed)
        #expect(result.stderr.contains("Traceback"))
        #expect(Set(result.reportedNames(in: run.appDirectory)) == ["myapp.py", "helpers.py"])
    }

    /// Creating the module would fix the start: superwatch must watch where it would be found.
    @Test func anAppModuleThatIsNotFoundReportsWhereItWouldBeFound() throws {
        let run = try BootstrapRun()
        defer { run.remove() }
        let result = try run.run("nosuchmodule:app")
        #expect(result.exit == PythonProtocol.exitImportFailed)
        #expect(result.stderr.contains("No module named 'nosuchmodule'"))
        let names = result.reportedNames(in: run.appDirectory)
        #expect(names.starts(with: ["nosuchmodule.py", "nosuchmodule/__init__.py"]), "\(names)")
        #expect(
            !result.reported.contains { $0.hasPrefix(run.python.directory) }, "superwatch's own files are not the app's"
        )
    }

    @Test func aHelperThatIsNotFoundReportsTheModuleImportingItAndWhereTheHelperWouldBe() throws {
        let run = try BootstrapRun(files: ["myapp.py": "import helpers2\napp = None\n"])
        defer { run.remove() }
        let result = try run.run("myapp:app")
        #expect(result.exit == PythonProtocol.exitImportFailed)
        #expect(
            Set(result.reportedNames(in: run.appDirectory)).isSuperset(of: [
                "myapp.py", "helpers2.py", "helpers2/__init__.py",
            ]), "\(result.reported)")
    }

    /// The bootstrap runs as a file now: its own frames are not the app's, in the traceback or the report.
    @Test func theTracebackShowsTheAppsFramesOnly() throws {
        let run = try BootstrapRun(files: ["myapp.py": "import helpers\napp = None\n", "helpers.py": "def f(:\n"])
        defer { run.remove() }
        let result = try run.run("myapp:app")
        #expect(result.stderr.contains("helpers.py\", line 1"), "\(result.stderr)")
        #expect(!result.stderr.contains(run.python.directory), "\(result.stderr)")
        #expect(Set(result.reportedNames(in: run.appDirectory)) == ["myapp.py", "helpers.py"])
    }

    @Test func anExceptionDuringImportExitsWith75() throws {
        let run = try BootstrapRun(files: [
            "myapp.py": "import helpers\nraise RuntimeError('no config')\n",
            "helpers.py": "X = 1\n",
        ])
        defer { run.remove() }
        let result = try run.run("myapp:app")
        #expect(result.exit == PythonProtocol.exitImportFailed)
        #expect(result.stderr.contains("RuntimeError: no config"))
        #expect(Set(result.reportedNames(in: run.appDirectory)) == ["myapp.py", "helpers.py"])
    }

    @Test func aServerFdThatIsNotAListeningSocketIsReported() throws {
        let run = try BootstrapRun()
        defer { run.remove() }
        let result = try run.run("myapp:app", environment: ["WERKZEUG_SERVER_FD": "0"])  // stdin: /dev/null
        #expect(result.exit == 1)
        #expect(result.stderr.contains("superwatch: fd 0 is not a listening socket"))
    }

    @Test func aMissingWerkzeugExitsWith76AndSaysHowToInstallIt() throws {
        var files = appFiles
        files["werkzeug.py"] = "raise ImportError('werkzeug hidden by the test')\n"
        let run = try BootstrapRun(files: files)
        defer { run.remove() }
        let result = try run.run("myapp:app")
        #expect(result.exit == PythonProtocol.exitWerkzeugMissing)
        #expect(
            result.stderr.range(
                of: #"superwatch: werkzeug is not installed for (\S+); install it with: \1 -m pip install werkzeug"#,
                options: .regularExpression) != nil, "\(result.stderr)")
    }

    @Test(arguments: ["TERM", "INT"])
    func aStopSignalEndsWithStatus0AndNoTraceback(signal: String) throws {
        let run = try BootstrapRun()
        defer { run.remove() }
        let result = try run.run("myapp:app", steps: [["get": "/"], ["signal": signal]])
        #expect(result.exit == 0)
        #expect(!result.stderr.contains("Traceback"))
    }

    @Test func aStopLetsTheRunningRequestFinish() throws {
        let run = try BootstrapRun()
        defer { run.remove() }
        let result = try run.run(
            "myapp:app",
            steps: [
                ["get": "/"], ["get_async": "/slow"], ["wait_stderr": "slow request started"], ["signal": "TERM"],
            ])
        #expect(result.waits == [true])
        #expect(result.asyncResponses.map(\.body) == ["slow done"])
        #expect(result.exit == 0)
    }

    @Test func aClosedReportPipeDoesNotStopTheApp() throws {
        let run = try BootstrapRun()
        defer { run.remove() }
        let result = try run.run(
            "myapp:app", closeReport: true,
            steps: [["get": "/lazy"], ["get": "/"], ["signal": "TERM"]])
        #expect(result.responses.map { $0?.body } == ["lazy value", "hello from helpers"])
        #expect(result.exit == 0)
    }

    @Test func debugServesWerkzeugsDebuggerForAnException() throws {
        let run = try BootstrapRun()
        defer { run.remove() }
        let result = try run.run(
            "myapp:app", debug: true, steps: [["get": "/boom"], ["signal": "TERM"]],
            environment: ["WERKZEUG_DEBUG_PIN": "off"])
        #expect(result.responses.first??.status == 500)
        #expect(result.responses.first??.body.contains("Werkzeug Debugger") == true)
        #expect(result.stderr.contains(" * Debugger is active"))
    }

    @Test func withoutDebugAnExceptionIsAPlain500() throws {
        let run = try BootstrapRun()
        defer { run.remove() }
        let result = try run.run("myapp:app", steps: [["get": "/boom"], ["signal": "TERM"]])
        #expect(result.responses.first??.status == 500)
        #expect(result.responses.first??.body.contains("Werkzeug Debugger") == false)
    }
}

extension WerkzeugBootstrapTests {
    /// The bootstrap compares the app's own modules with their cached bytecode by the microsecond: an edit that
    /// keeps the size within the second of the cached version is served, whoever restarts the bootstrap.
    @Test func aSameSizeEditWithinTheSecondOfTheCachedBytecodeIsServed() throws {
        let run = try BootstrapRun()
        defer { run.remove() }
        let helpers = run.appDirectory + "/helpers.py"
        let second = Int(time(nil))
        try setMtime(helpers, seconds: second, nanoseconds: 0)
        let before = try run.run(
            "myapp:app", steps: [["get": "/"], ["signal": "TERM"]],
            unsetting: ["PYTHONDONTWRITEBYTECODE"])
        #expect(before.responses.first??.body == "hello from helpers", "\(before.stderr)")
        #expect(cachedBytecode(of: "helpers", in: run.appDirectory).count == 1, "the first run wrote the bytecode")
        run.directory.write("app/helpers.py", "def greeting():\n    return 'HELLO from helpers'\n")
        try setMtime(helpers, seconds: second, nanoseconds: 500_000_000)
        let afterEdit = try run.run(
            "myapp:app", steps: [["get": "/"], ["signal": "TERM"]],
            unsetting: ["PYTHONDONTWRITEBYTECODE"])
        #expect(afterEdit.responses.first??.body == "HELLO from helpers", "\(afterEdit.stderr)")
    }
}
