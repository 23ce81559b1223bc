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
    _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
    listen(fd, 8)
    _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
    return (fd, UInt16(bigEndian: address.sin_port))
}

/// Whether python3 can import Flask (CI installs it; the tests that need it say so when it is missing).
let flaskAvailable: Bool = {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["python3", "-c", "import flask"]
    process.standardError = FileHandle.nullDevice
    try? process.run()
    process.waitUntilExit()
    return process.terminationStatus == 0
}()

/// Edits `app.py`'s VERSION `reloads` times while a second thread requests continuously; prints JSON with the
/// count of good and failed requests. Loopback only, bounded in count and time.
let reloadClient = #"""
import json, re, sys, threading, time, urllib.request
port, app, reloads = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
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
        time.sleep(1.1)  # the stat reloader compares mtimes; give each edit its own second
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

@Suite(.serialized) struct SocketTests {
    @Test func socketsArePassedWithTheSocketActivationVariables() throws {
        let dir = stack("""
            processes:
              child:
                command: python3 check.py
                listen: ["127.0.0.1:0", "unix:child.sock"]
                restart: never
            """)
        dir.write("check.py", """
            import os, socket
            tcp, unix = socket.socket(fileno=3), socket.socket(fileno=4)
            print("fds", os.environ["LISTEN_FDS"], os.environ["LISTEN_PID"] == str(os.getpid()), os.environ["LISTEN_FDNAMES"])
            print("port", os.environ["PORT"], tcp.getsockname()[1], unix.family == socket.AF_UNIX)
            print("werkzeug", os.environ["WERKZEUG_SERVER_FD"], os.environ["WERKZEUG_RUN_MAIN"])
            try:
                os.fstat(5); print("fd 5 leaked")
            except OSError:
                print("no other fds")
            """)
        defer { dir.remove() }
        let result = try SuperwatchRun.run(["up"], in: dir.path)
        #expect(result.status == 0)
        let output = lines(of: "child", in: result.stdout)
        #expect(output.first == "fds 2 True child:child")
        let listening = try #require(result.stdout.firstMatch(of: /listening on http:\/\/127\.0\.0\.1:(\d+)/))
        #expect(listening.1 != "0", "port 0 picks a free port and shows it")
        #expect(output.contains("port \(listening.1) \(listening.1) True"))
        #expect(output.contains("werkzeug 3 true"))
        #expect(output.contains("no other fds"))
        #expect(result.stdout.contains("listening on unix:\(dir.path)/child.sock"))
    }

    @Test func aPortInUseIsAPositionedErrorNamingTheHolderAndNothingStarts() throws {
        let (fd, port) = occupyLoopbackPort()
        defer { close(fd) }
        let dir = stack("""
            processes:
              first: {command: touch started}
              web:
                command: touch started
                listen: 127.0.0.1:\(port)
            """)
        defer { dir.remove() }
        let result = try SuperwatchRun.run(["up"], in: dir.path)
        #expect(result.status == 1)
        #expect(result.stderr.hasPrefix("superwatch: superwatch.yaml:5:13: error: port \(port) is already in use by pid \(getpid())"))
        #expect(!FileManager.default.fileExists(atPath: "\(dir.path)/started"))
    }

    @Test(.enabled(if: flaskAvailable, "needs Flask (.ci/run installs it)"))
    func aFlaskAppWithItsOwnReloaderAnswersEveryRequestAcrossReloads() throws {
        let dir = stack("""
            processes:
              web:
                command: python3 app.py
                listen: 127.0.0.1:0
            """)
        dir.write("app.py", """
            from flask import Flask
            VERSION = 1
            app = Flask(__name__)
            @app.route("/")
            def index():
                return f"v{VERSION}"
            if __name__ == "__main__":
                app.run(debug=True, reloader_type="stat")
            """)
        dir.write("client.py", reloadClient)
        defer { dir.remove() }
        let run = try SuperwatchRun(["up"], in: dir.path)
        defer { run.signal(SIGTERM); _ = run.waitForExit() }
        let port = try #require(eventually { run.stdout.firstMatch(of: /listening on http:\/\/127\.0\.0\.1:(\d+)/) != nil }
            ? run.stdout.firstMatch(of: /listening on http:\/\/127\.0\.0\.1:(\d+)/).map { String($0.1) } : nil)
        let client = try runPython(["client.py", port, "app.py", "5"], in: dir.path)
        let stats = try #require(try JSONSerialization.jsonObject(with: Data(client.utf8)) as? [String: Any], "\(client)")
        #expect(stats["timeout"] == nil, "every edit was served: \(client)")
        #expect(stats["fail"] as? Int == 0, "no refused or failed request: \(client)\n\(run.stdout.split(separator: "\n").filter { !$0.contains("GET /") }.joined(separator: "\n"))")
        #expect((stats["ok"] as? Int ?? 0) > 5)
        #expect(run.stdout.components(separatedBy: "restarting: exit code 3 asks for a restart").count - 1 >= 5)
    }
}

/// Runs `python3 ARGS` in `directory` and returns its stdout.
func runPython(_ arguments: [String], in directory: String) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["python3"] + arguments
    process.currentDirectoryURL = URL(fileURLWithPath: directory)
    let pipe = Pipe()
    process.standardOutput = pipe
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return String(decoding: data, as: UTF8.self)
}
