import Foundation
import SuperwatchTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Binds a TCP socket on a free loopback port and listens; returns the descriptor and the port.
func occupyLoopbackPort() -> (fd: Int32, port: UInt16) {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
    }
    listen(fd, 8)
    _ = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
    }
    return (fd, UInt16(bigEndian: address.sin_port))
}

/// Whether python3 can import Flask (CI installs it; the tests that need it say so when it is missing).
let flaskAvailable = pythonCanImport("flask")

/// Edits `app.py`'s VERSION `reloads` times while a second thread requests continuously; prints JSON with the
/// count of good and failed requests. Loopback only, bounded in count and time.
let reloadClient = #"""
    import json, re, sys, threading, time, urllib.request
    port, app, reloads = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    gap = float(sys.argv[4]) if len(sys.argv) > 4 else 1.1
    stats = {"ok": 0, "fail": 0, "errors": []}
    lock = threading.Lock()
    def get():
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=20) as r:
                body = r.read().decode().strip()
            with lock: stats["ok"] += 1
            return body
        except Exception as e:
            with lock:
                stats["fail"] += 1
                stats["errors"].append(f"{time.time() - started:.3f}s {e!r}")
            return None
    done = False
    started = time.time()
    def hammer():
        n = 0
        while not done and n < 20000:
            get(); n += 1
    background = threading.Thread(target=hammer); background.start()
    try:
        for version in range(2, reloads + 2):
            time.sleep(gap)  # Werkzeug's stat reloader compares mtimes: it needs each edit in its own second
            src = open(app).read()
            open(app, "w").write(re.sub(r"VERSION = \d+", f"VERSION = {version}", src))
            stats.setdefault("edits", []).append(f"{time.time() - started:.3f}s")
            deadline = time.time() + 60
            while time.time() < deadline and get() != f"v{version}":
                pass
            if time.time() >= deadline:
                stats["timeout"] = version
                break
    finally:
        done = True
        background.join()
    stats["errors"] = stats["errors"][:5]
    print(json.dumps(stats))
    """#

/// A Flask app that answers `v{VERSION}` and runs itself with Werkzeug's own (stat) reloader; `version` is the
/// Python expression VERSION is set to.
func flaskAppWithItsOwnReloader(version: String) -> String {
    """
    from flask import Flask
    VERSION = \(version)
    app = Flask(__name__)
    @app.route("/")
    def index():
        return f"v{VERSION}"
    if __name__ == "__main__":
        app.run(debug=True, reloader_type="stat")
    """
}

@Suite(.serialized) struct SocketTests {
    @Test func socketsArePassedWithTheSocketActivationVariables() throws {
        let yaml = """
            processes:
              child:
                command: python3 check.py
                listen: ["127.0.0.1:0", "unix:child.sock"]
                restart: never
                reloader: werkzeug
            """
        // `reloader: werkzeug`: a Python command would get superwatch's report pipe after the sockets (fd 5).
        let check = """
            import os, socket
            tcp, unix = socket.socket(fileno=3), socket.socket(fileno=4)
            print("fds", os.environ["LISTEN_FDS"], os.environ["LISTEN_PID"] == str(os.getpid()), os.environ["LISTEN_FDNAMES"])
            print("port", os.environ["PORT"], tcp.getsockname()[1], unix.family == socket.AF_UNIX)
            print("werkzeug", os.environ["WERKZEUG_SERVER_FD"], os.environ["WERKZEUG_RUN_MAIN"])
            try:
                os.fstat(5); print("fd 5 leaked")
            except OSError:
                print("no other fds")
            """
        try withStack(yaml, files: ["check.py": check]) { run in
            #expect(run.waitForExit(timeout: .seconds(60)) == 0)
            let output = lines(of: "child", in: run.stdout)
            #expect(output.first == "fds 2 True child:child")
            let listening = try #require(run.stdout.firstMatch(of: /\* http:\/\/127\.0\.0\.1:(\d+)\n/))
            #expect(listening.1 != "0", "port 0 picks a free port and shows it")
            #expect(output.contains("port \(listening.1) \(listening.1) True"))
            #expect(output.contains("werkzeug 3 true"))
            #expect(output.contains("no other fds"))
            #expect(run.stdout.contains("child      * unix:\(run.path)/child.sock\n"))
        }
    }

    @Test func aPortInUseIsAPositionedErrorNamingTheHolderAndNothingStarts() throws {
        let (fd, port) = occupyLoopbackPort()
        defer { close(fd) }
        let yaml = """
            processes:
              first: {command: touch started}
              web:
                command: touch started
                listen: 127.0.0.1:\(port)
            """
        try withStack(yaml) { run in
            #expect(run.waitForExit(timeout: .seconds(60)) == 1)
            #expect(
                run.stderr.hasPrefix(
                    "superwatch: superwatch.yaml:5:13: error: port \(port) is already in use by pid \(getpid())"))
            #expect(!FileManager.default.fileExists(atPath: "\(run.path)/started"))
        }
    }

    @Test(.enabled(if: flaskAvailable, "needs Flask (.ci/run installs it)"))
    func aFlaskAppWithItsOwnReloaderAnswersEveryRequestAcrossReloads() throws {
        let yaml = """
            processes:
              web:
                command: python3 app.py
                listen: 127.0.0.1:0
                reloader: werkzeug
            """
        try withStack(
            yaml,
            files: [
                "app.py": flaskAppWithItsOwnReloader(version: "1")
            ]
        ) { run in
            let port = try #require(listeningPort(run))
            // Werkzeug's stat reloader compares mtimes: each edit needs its own second.
            let stats = try expectEveryRequestAnsweredAcrossReloads(
                port: port, editing: "app.py", reloads: 5, gap: "1.1", in: run.dir)
            #expect((stats["ok"] as? Int ?? 0) > 5)
            #expect(run.stdout.components(separatedBy: "restarting: exit code 3 asks for a restart").count - 1 >= 5)
        }
    }
}

/// `reloader: werkzeug`: Werkzeug's own loop runs, as it does without superwatch.
@Suite(.serialized, .enabled(if: flaskAvailable, "needs Flask (.ci/run installs it)"))
struct WerkzeugOwnReloaderTests {
    /// superwatch's own restart (a `watch:` match) stops the app with SIGTERM; Werkzeug would exit at once,
    /// cutting requests off, so the drain covers SIGTERM too.
    @Test func aWatchRestartOfAPlainFlaskAppFailsNoRequest() throws {
        let yaml = """
            processes:
              web:
                command: python3 app.py
                listen: 127.0.0.1:0
                watch: ["version.txt"]
                reloader: werkzeug
            """
        try withStack(
            yaml,
            files: [
                "version.txt": "VERSION = 1\n",
                "app.py": flaskAppWithItsOwnReloader(version: #"open("version.txt").read().split("=")[1].strip()"#),
            ]
        ) { run in
            let port = try #require(listeningPort(run))
            #expect(eventually { httpGet(port) == "v1" })
            try expectEveryRequestAnsweredAcrossReloads(
                port: port, editing: "version.txt", reloads: 5, gap: "0.3", in: run.dir)
            #expect(run.stdout.contains("web        * restarting: version.txt changed"))
        }
    }

    /// Werkzeug issue #2634: its reloader's child kept the port after the parent died. Under superwatch the
    /// parent and the child share a process group and both stop with it.
    @Test func withoutListenWerkzeugsReloaderParentAndChildStopTogether() throws {
        let yaml = """
            processes:
              web:
                command: python3 app.py
                stop_timeout: 3s
                reloader: werkzeug
            """
        let app = """
            import os
            from flask import Flask
            with open("pids", "a") as f:
                f.write(f"{os.getpid()}\\n")
            app = Flask(__name__)
            @app.route("/")
            def index():
                return "ok"
            if __name__ == "__main__":
                app.run(debug=True, port=int(os.environ["PORT"]), reloader_type="stat")
            """
        let port = 15000 + Int(getpid() % 1000)
        try withStack(yaml, files: ["app.py": app], arguments: ["up", "--port", String(port)]) { run in
            #expect(eventually { httpGet(String(port)) == "ok" })
            let pids = (run.read("pids") ?? "").split(separator: "\n").compactMap { pid_t($0) }
            #expect(pids.count == 2, "Werkzeug's reloader parent and its serving child")
            run.signal(SIGINT)
            #expect(run.waitForExit() == 0)
            #expect(eventually { !pids.contains(where: isAlive) })
            #expect(httpGet(String(port)) == nil, "nothing holds the port any more")
        }
    }
}

/// Runs the reload client against `port`: it edits `file` `reloads` times (`gap` seconds apart) while
/// requesting continuously, and every edit must be served with no refused or failed request. Returns the
/// client's statistics.
@discardableResult
func expectEveryRequestAnsweredAcrossReloads(
    port: String, editing file: String, reloads: Int, gap: String,
    in dir: TemporaryDirectory, sourceLocation: SourceLocation = #_sourceLocation
) throws -> [String: Any] {
    dir.write("client.py", reloadClient)
    let client = try runPython(["client.py", port, file, String(reloads), gap], in: dir.path)
    let stats = try #require(
        try JSONSerialization.jsonObject(with: Data(client.utf8)) as? [String: Any], "\(client)",
        sourceLocation: sourceLocation)
    #expect(stats["timeout"] == nil, "every edit was served by the new code: \(client)", sourceLocation: sourceLocation)
    #expect(stats["fail"] as? Int == 0, "no refused or failed request: \(client)", sourceLocation: sourceLocation)
    return stats
}

/// The port of the first `NAME * http://127.0.0.1:PORT` line of the start banner.
func listeningPort(_ run: StackRun) -> String? {
    guard eventually({ run.stdout.firstMatch(of: /\* http:\/\/127\.0\.0\.1:(\d+)\n/) != nil }) else { return nil }
    return run.stdout.firstMatch(of: /\* http:\/\/127\.0\.0\.1:(\d+)\n/).map { String($0.1) }
}

/// GET http://127.0.0.1:PORT/PATH with Python's urllib; the body, or nil when the request failed.
func httpGet(_ port: String, _ path: String = "/") -> String? {
    let out = try? runPython(
        [
            "-c",
            "import urllib.request,sys\ntry:\n print(urllib.request.urlopen('http://127.0.0.1:\(port)\(path)', timeout=10).read().decode(), end='')\nexcept Exception as e:\n print('ERROR', e, end='')",
        ], in: "/tmp")
    return out.flatMap { $0.hasPrefix("ERROR") ? nil : $0 }
}

@Suite(.serialized, .enabled(if: flaskAvailable, "needs Flask (.ci/run installs it)"))
struct WerkzeugModeTests {
    /// Runs `body` against a `werkzeug:` app (`target`, default `app:app`) whose answer comes from `helpers.py`,
    /// once superwatch shows the port it holds for it.
    func withApp(_ target: String = "app:app", _ body: (StackRun, _ port: String) throws -> Void) throws {
        let yaml = """
            processes:
              api:
                werkzeug: \(target)
                listen: 127.0.0.1:0
            """
        let app = """
            from flask import Flask
            import helpers
            app = Flask(__name__)
            @app.route("/")
            def index():
                return f"v{helpers.VERSION}"
            def create_app(name="default"):
                factory = Flask(__name__)
                factory.add_url_rule("/", "index", lambda: f"factory {name}")
                return factory
            """
        try withStack(yaml, files: ["helpers.py": "VERSION = 1\n", "app.py": app]) { run in
            try body(run, try #require(listeningPort(run)))
        }
    }

    @Test func editingAnImportedModuleThatNoGlobMatchesReloadsWithNoFailedRequest() throws {
        try withApp { run, port in
            #expect(eventually { httpGet(port) == "v1" })
            try expectEveryRequestAnsweredAcrossReloads(
                port: port, editing: "helpers.py", reloads: 5, gap: "0.2", in: run.dir)
            #expect(run.stdout.contains("api        * restarting: helpers.py changed"))
            #expect(
                run.stdout.contains("a standby interpreter with its packages imported"),
                "restarts after the first use an interpreter that imported Flask ahead of time")
        }
    }

    @Test func aSyntaxErrorWaitsForTheFix() throws {
        try withApp { run, port in
            #expect(eventually { httpGet(port) == "v1" })
            run.write("helpers.py", "VERSION = = 2\n")
            #expect(run.waitFor("SyntaxError"))
            #expect(run.waitFor("the app failed to import; waiting for a change to one of its files"))
            run.write("helpers.py", "VERSION = 3\n")
            #expect(eventually { httpGet(port) == "v3" })
        }
    }

    @Test(arguments: ["app:create_app()", "app:create_app('dev')"])
    func factoriesAreCalled(target: String) throws {
        try withApp(target) { _, port in
            let expected = target.contains("dev") ? "factory dev" : "factory default"
            #expect(eventually { httpGet(port) == expected })
        }
    }
}

/// Runs `python3 ARGS` in `directory` and returns its stdout.
func runPython(_ arguments: [String], in directory: String) throws -> String {
    try runCommand(["python3"] + arguments, in: directory).stdout
}

@Suite struct ReplicaSocketTests {
    /// Replicas of a process with `listen` share its socket: each gets it as fd 3, and connections reach
    /// both.
    @Test func replicasShareTheHeldSocket() throws {
        let yaml = """
            processes:
              web:
                command: python3 serve.py
                listen: 127.0.0.1:0
                replicas: 2
            """
        try withStack(
            yaml,
            files: [
                "serve.py": """
                import http.server, os, socket
                class Handler(http.server.BaseHTTPRequestHandler):
                    def do_GET(self):
                        body = os.environ["SUPERWATCH_REPLICA"].encode()
                        self.send_response(200)
                        self.send_header("Content-Length", str(len(body)))
                        self.end_headers()
                        self.wfile.write(body)
                    def log_message(self, *args):
                        pass
                server = http.server.HTTPServer(("127.0.0.1", 0), Handler, bind_and_activate=False)
                server.socket = socket.socket(fileno=3)
                print("port", os.environ["PORT"], "replica", os.environ["SUPERWATCH_REPLICA"], flush=True)
                server.serve_forever()
                """
            ]
        ) { run in
            let port = try #require(listeningPort(run))
            #expect(run.stdout.components(separatedBy: "* http://").count == 2, "one socket, announced once")
            #expect(
                run.waitFor("web.1      | port \(port) replica 1") && run.waitFor("web.2      | port \(port) replica 2")
            )
            var seen = Set<String>()
            #expect(
                eventually {
                    if let body = httpGet(port) { seen.insert(body) }
                    return seen == ["1", "2"]
                },
                "both replicas answer on the one socket: \(seen)")
        }
    }
}
