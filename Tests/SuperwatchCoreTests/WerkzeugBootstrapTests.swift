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

/// One bootstrap run: a temporary directory with the app files, the bootstrap source and the harness.
private struct BootstrapRun {
    let directory = TemporaryDirectory("superwatch-werkzeug")
    var appDirectory: String { directory.path + "/app" }

    init(files: [String: String] = appFiles) {
        for (name, contents) in files { directory.write("app/" + name, contents) }
        directory.write("bootstrap.py", WerkzeugBootstrap.source)
        directory.write("harness.py", harnessSource)
    }

    /// Runs the bootstrap for `app` through the harness and returns what happened.
    func run(_ app: String, debug: Bool = false, family: String = "inet", closeReport: Bool = false,
             steps: [[String: String]] = [], environment: [String: String] = [:],
             unsetting: [String] = []) throws -> HarnessResult {
        let config: [String: Any] = [
            "bootstrap": directory.path + "/bootstrap.py", "cwd": appDirectory, "app": app, "debug": debug,
            "family": family, "close_report": closeReport, "steps": steps, "env": environment, "timeout": 60,
            "unset": unsetting,
        ]
        let json = String(decoding: try JSONSerialization.data(withJSONObject: config), as: UTF8.self)
        let data = Data(try runCommand(["python3", directory.path + "/harness.py", json]).stdout.utf8)
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return try decoder.decode(HarnessResult.self, from: data)
    }

    func remove() { directory.remove() }
}

@Suite(.enabled(if: pythonHasWerkzeug, "needs python3 with werkzeug"))
struct WerkzeugBootstrapTests {
    @Test func moduleAttributeIsServedOnThePassedSocket() throws {
        let run = BootstrapRun()
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
        let run = BootstrapRun()
        defer { run.remove() }
        let result = try run.run(spec, steps: [["get": "/"], ["signal": "TERM"]])
        #expect(result.responses.first??.body == body, "\(result.stderr)")
        #expect(result.exit == 0)
    }

    @Test func aBareModuleFallsBackToItsFactory() throws {
        let run = BootstrapRun(files: ["factory_only.py": """
            def create_app():
                def app(environ, start_response):
                    start_response("200 OK", [])
                    return [b"made by create_app"]
                return app

            """])
        defer { run.remove() }
        let result = try run.run("factory_only", steps: [["get": "/"], ["signal": "TERM"]])
        #expect(result.responses.first??.body == "made by create_app", "\(result.stderr)")
    }

    @Test func argumentsThatAreNotLiteralsAreRefusedWithoutRunningThem() throws {
        let run = BootstrapRun()
        defer { run.remove() }
        let result = try run.run("myapp:create_app(__import__('os').getcwd())")
        #expect(result.exit == WerkzeugBootstrap.importFailedExitCode)
        #expect(result.stderr.contains("must be Python literals"))
    }

    @Test(arguments: ["inet6", "unix"])
    func theAddressFamilyComesFromTheSocket(family: String) throws {
        let run = BootstrapRun()
        defer { run.remove() }
        let result = try run.run("myapp:app", family: family, steps: [["get": "/"], ["signal": "TERM"]])
        #expect(result.responses.first??.body == "hello from helpers", "\(result.stderr)")
        let shown = family == "unix" ? " on unix:\(run.appDirectory)/app.sock" : " on http://[::1]:"
        #expect(result.stderr.contains(" * Serving myapp:app" + shown))
        #expect(result.exit == 0)
    }

    @Test func theReportNamesTheAppAndItsHelperButNotTheStandardLibrary() throws {
        let run = BootstrapRun()
        defer { run.remove() }
        let result = try run.run("myapp:app", steps: [["wait_report": "/myapp.py"], ["signal": "TERM"]])
        #expect(Set(result.reportedNames(in: run.appDirectory)) == ["myapp.py", "helpers.py"])
        #expect(result.report.split(separator: "\n").allSatisfy { $0.hasPrefix("file /") || $0.hasPrefix("preload ") })
        #expect(result.report.split(separator: "\n").contains("preload werkzeug"), "installed packages are named for a standby")
        #expect(!result.reported.contains { $0.hasSuffix("/threading.py") || $0.contains("site-packages") })
    }

    @Test func aModuleImportedLaterIsReportedLater() throws {
        let run = BootstrapRun()
        defer { run.remove() }
        let result = try run.run("myapp:app", steps: [
            ["wait_report": "/myapp.py"], ["get": "/lazy"], ["wait_report": "/lazymod.py"], ["signal": "TERM"],
        ])
        #expect(result.responses.first??.body == "lazy value")
        #expect(result.waits == [true, true])
        #expect(result.reportedNames(in: run.appDirectory).last == "lazymod.py")
        #expect(result.reported.count == Set(result.reported).count, "each file once")
    }

    @Test func aSyntaxErrorExitsWith75AfterReportingTheBrokenFile() throws {
        let run = BootstrapRun(files: ["myapp.py": "import helpers\ndef app(environ, start_response:\n    pass\n",
                                       "helpers.py": "X = 1\n"])
        defer { run.remove() }
        let result = try run.run("myapp:app")
        #expect(result.exit == WerkzeugBootstrap.importFailedExitCode)
        #expect(result.stderr.contains("SyntaxError"))
        #expect(result.stderr.contains("myapp.py\", line 2"))
        #expect(result.reportedNames(in: run.appDirectory).contains("myapp.py"))
    }

    @Test func aBrokenHelperReportsBothTheHelperAndTheModuleImportingIt() throws {
        let run = BootstrapRun(files: ["myapp.py": "import helpers\napp = None\n", "helpers.py": "def f(:\n"])
        defer { run.remove() }
        let result = try run.run("myapp:app")
        #expect(result.exit == WerkzeugBootstrap.importFailedExitCode)
        #expect(result.stderr.contains("Traceback"))
        #expect(Set(result.reportedNames(in: run.appDirectory)) == ["myapp.py", "helpers.py"])
    }

    @Test func anExceptionDuringImportExitsWith75() throws {
        let run = BootstrapRun(files: ["myapp.py": "import helpers\nraise RuntimeError('no config')\n",
                                       "helpers.py": "X = 1\n"])
        defer { run.remove() }
        let result = try run.run("myapp:app")
        #expect(result.exit == WerkzeugBootstrap.importFailedExitCode)
        #expect(result.stderr.contains("RuntimeError: no config"))
        #expect(Set(result.reportedNames(in: run.appDirectory)) == ["myapp.py", "helpers.py"])
    }

    @Test func aServerFdThatIsNotAListeningSocketIsReported() throws {
        let run = BootstrapRun()
        defer { run.remove() }
        let result = try run.run("myapp:app", environment: ["WERKZEUG_SERVER_FD": "0"])  // stdin: /dev/null
        #expect(result.exit == 1)
        #expect(result.stderr.contains("superwatch: fd 0 is not a listening socket"))
    }

    @Test func aMissingWerkzeugExitsWith76AndSaysHowToInstallIt() throws {
        var files = appFiles
        files["werkzeug.py"] = "raise ImportError('werkzeug hidden by the test')\n"
        let run = BootstrapRun(files: files)
        defer { run.remove() }
        let result = try run.run("myapp:app")
        #expect(result.exit == WerkzeugBootstrap.werkzeugMissingExitCode)
        #expect(result.stderr.range(of: #"superwatch: werkzeug is not installed for (\S+); install it with: \1 -m pip install werkzeug"#,
                                    options: .regularExpression) != nil, "\(result.stderr)")
    }

    @Test(arguments: ["TERM", "INT"])
    func aStopSignalEndsWithStatus0AndNoTraceback(signal: String) throws {
        let run = BootstrapRun()
        defer { run.remove() }
        let result = try run.run("myapp:app", steps: [["get": "/"], ["signal": signal]])
        #expect(result.exit == 0)
        #expect(!result.stderr.contains("Traceback"))
    }

    @Test func aStopLetsTheRunningRequestFinish() throws {
        let run = BootstrapRun()
        defer { run.remove() }
        let result = try run.run("myapp:app", steps: [
            ["get": "/"], ["get_async": "/slow"], ["wait_stderr": "slow request started"], ["signal": "TERM"],
        ])
        #expect(result.waits == [true])
        #expect(result.asyncResponses.map(\.body) == ["slow done"])
        #expect(result.exit == 0)
    }

    @Test func aClosedReportPipeDoesNotStopTheApp() throws {
        let run = BootstrapRun()
        defer { run.remove() }
        let result = try run.run("myapp:app", closeReport: true,
                                 steps: [["get": "/lazy"], ["get": "/"], ["signal": "TERM"]])
        #expect(result.responses.map { $0?.body } == ["lazy value", "hello from helpers"])
        #expect(result.exit == 0)
    }

    @Test func debugServesWerkzeugsDebuggerForAnException() throws {
        let run = BootstrapRun()
        defer { run.remove() }
        let result = try run.run("myapp:app", debug: true, steps: [["get": "/boom"], ["signal": "TERM"]],
                                 environment: ["WERKZEUG_DEBUG_PIN": "off"])
        #expect(result.responses.first??.status == 500)
        #expect(result.responses.first??.body.contains("Werkzeug Debugger") == true)
        #expect(result.stderr.contains(" * Debugger is active"))
    }

    @Test func withoutDebugAnExceptionIsAPlain500() throws {
        let run = BootstrapRun()
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
        let run = BootstrapRun()
        defer { run.remove() }
        let helpers = run.appDirectory + "/helpers.py"
        let second = Int(time(nil))
        try setMtime(helpers, seconds: second, nanoseconds: 0)
        let before = try run.run("myapp:app", steps: [["get": "/"], ["signal": "TERM"]],
                                 unsetting: ["PYTHONDONTWRITEBYTECODE"])
        #expect(before.responses.first??.body == "hello from helpers", "\(before.stderr)")
        #expect(cachedBytecode(of: "helpers", in: run.appDirectory).count == 1, "the first run wrote the bytecode")
        run.directory.write("app/helpers.py", "def greeting():\n    return 'HELLO from helpers'\n")
        try setMtime(helpers, seconds: second, nanoseconds: 500_000_000)
        let afterEdit = try run.run("myapp:app", steps: [["get": "/"], ["signal": "TERM"]],
                                    unsetting: ["PYTHONDONTWRITEBYTECODE"])
        #expect(afterEdit.responses.first??.body == "HELLO from helpers", "\(afterEdit.stderr)")
    }
}

/// Starts the bootstrap as superwatch does (socket on fd 3, report pipe on fd 4) and runs a scenario.
private let harnessSource = #"""
    # Drives superwatch's Werkzeug bootstrap as superwatch would: a bound, listening socket as fd 3, a report
    # pipe as fd 4, `python -c SOURCE` in the app's directory. Then runs the steps of a scenario and prints
    # what happened as JSON.
    #
    #   python3 harness.py CONFIG_JSON
    #
    # CONFIG: {"bootstrap": path, "cwd": dir, "app": spec, "debug": bool, "family": "inet"|"inet6"|"unix",
    #          "env": {extra variables}, "unset": [variables], "steps": [step, ...], "timeout": seconds per wait,
    #          "python": [argv prefix], "close_report": bool (close the pipe's read end at once: writes fail)}
    # Steps:  {"get": "/path"}                 one HTTP GET over the socket; records status and body
    #         {"wait_report": "suffix"}        until a reported path ends with suffix
    #         {"wait_stderr": "text"}          until stderr contains text
    #         {"signal": "TERM"|"INT"}         sends the signal to the bootstrap
    # After the steps it waits for the bootstrap to exit (killing it after the timeout).
    import fcntl
    import http.client
    import json
    import os
    import signal
    import socket
    import subprocess
    import sys
    import threading
    import time


    def move_high(fd):
        """Moves fd to a number >= 100 so that 3 and 4 are free for the child's copies."""
        high = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 100)
        os.close(fd)
        return high


    def listening_socket(family, directory):
        if family == "unix":
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            path = os.path.join(directory, "app.sock")
            sock.bind(path)
            address = path
        elif family == "inet6":
            sock = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
            sock.bind(("::1", 0))
            address = sock.getsockname()[:2]
        else:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            address = sock.getsockname()
        sock.listen(64)
        return sock, address


    class UnixHTTPConnection(http.client.HTTPConnection):
        def __init__(self, path, timeout):
            super().__init__("localhost", timeout=timeout)
            self.path = path

        def connect(self):
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.settimeout(self.timeout)
            self.sock.connect(self.path)


    def http_get(family, address, path, timeout):
        if family == "unix":
            connection = UnixHTTPConnection(address, timeout)
        else:
            connection = http.client.HTTPConnection(address[0], address[1], timeout=timeout)
        try:
            connection.request("GET", path, headers={"Host": "localhost"})
            response = connection.getresponse()
            return {"status": response.status, "body": response.read().decode("utf-8", "replace")}
        finally:
            connection.close()


    class Collector:
        """Reads a pipe to its end in a thread."""

        def __init__(self, fd):
            self.fd = fd
            self.data = b""
            self.lock = threading.Lock()
            self.thread = threading.Thread(target=self.run, daemon=True)
            self.thread.start()

        def run(self):
            while True:
                try:
                    chunk = os.read(self.fd, 65536)
                except OSError:
                    break
                if not chunk:
                    break
                with self.lock:
                    self.data += chunk

        def text(self):
            with self.lock:
                return self.data.decode("utf-8", "replace")


    def wait_until(condition, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return True
            time.sleep(0.02)
        return condition()


    def main():
        config = json.loads(sys.argv[1])
        timeout = config.get("timeout", 30)
        family = config.get("family", "inet")
        source = open(config["bootstrap"], encoding="utf-8").read()

        sock, address = listening_socket(family, config["cwd"])
        report_read, report_write = os.pipe()
        sock_fd = move_high(os.dup(sock.fileno()))
        sock.close()
        report_read = move_high(report_read)
        report_write = move_high(report_write)
        os.dup2(sock_fd, 3)
        os.dup2(report_write, 4)
        os.close(sock_fd)
        os.close(report_write)

        env = dict(os.environ)
        env.update({
            "LISTEN_FDS": "1", "LISTEN_FDNAMES": "app", "WERKZEUG_SERVER_FD": "3", "WERKZEUG_RUN_MAIN": "true",
            "SUPERWATCH_WSGI_APP": config["app"], "SUPERWATCH_WSGI_DEBUG": "1" if config.get("debug") else "0",
            "SUPERWATCH_REPORT_FD": "4",
        })
        env.update(config.get("env", {}))
        for name in config.get("unset", []):
            env.pop(name, None)
        python = config.get("python", [sys.executable])
        child = subprocess.Popen(python + ["-c", source], cwd=config["cwd"], env=env, pass_fds=(3, 4),
                                 stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        os.close(3)
        os.close(4)
        stdout = Collector(child.stdout.fileno())
        stderr = Collector(child.stderr.fileno())
        if config.get("close_report"):
            os.close(report_read)
            report_read = os.open(os.devnull, os.O_RDONLY)
        report = Collector(report_read)

        def reported():
            return [line[5:] for line in report.text().splitlines() if line.startswith("file ")]

        results = {"responses": [], "waits": [], "async_responses": []}
        background = []

        def get_in_background(path):
            try:
                results["async_responses"].append(http_get(family, address, path, timeout))
            except OSError as error:
                results["async_responses"].append({"status": 0, "body": repr(error)})
        for step in config.get("steps", []):
            if "get" in step:
                ok = wait_until(lambda: " * Serving" in stderr.text() or child.poll() is not None, timeout)
                try:
                    results["responses"].append(http_get(family, address, step["get"], timeout) if ok else None)
                except OSError as error:
                    results["responses"].append({"status": 0, "body": repr(error)})
            elif "get_async" in step:
                thread = threading.Thread(target=get_in_background, args=(step["get_async"],), daemon=True)
                thread.start()
                background.append(thread)
            elif "wait_report" in step:
                suffix = step["wait_report"]
                results["waits"].append(wait_until(lambda: any(p.endswith(suffix) for p in reported()), timeout))
            elif "wait_stderr" in step:
                text = step["wait_stderr"]
                results["waits"].append(wait_until(lambda: text in stderr.text(), timeout))
            elif "signal" in step:
                child.send_signal(getattr(signal, "SIG" + step["signal"]))

        for thread in background:
            thread.join(timeout)
        try:
            code = child.wait(timeout)
        except subprocess.TimeoutExpired:
            child.kill()
            code = None
        stdout.thread.join(timeout)
        stderr.thread.join(timeout)
        report.thread.join(timeout)
        results.update({"exit": code, "stdout": stdout.text(), "stderr": stderr.text(), "report": report.text(),
                        "reported": reported()})
        print(json.dumps(results))


    main()
    """#
