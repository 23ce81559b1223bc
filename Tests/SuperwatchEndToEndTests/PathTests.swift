import Foundation
import SuperwatchTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Whether a client can connect to the Unix socket at `path` (superwatch's backlog takes the connection
/// even while no process accepts).
func canConnect(toUnixSocket path: String) -> Bool {
    let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: Array(path.utf8.prefix($0.count - 1))) }
    return withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
        }
    } == 0
}

/// The permission bits of `path`, or nil when it does not exist.
func permissions(of path: String) -> mode_t? {
    var info = stat()
    guard stat(path, &info) == 0 else { return nil }
    return info.st_mode & 0o7777
}

/// One rule for paths, end to end: `cwd` relative to the config, every other path of a process to its cwd.
@Suite(.serialized) struct PathTests {
    /// The README's own examples: `cwd: services/api` with `extra_files: [../../shared/settings.toml]`, and
    /// `cwd: services/web` with `env_file: web.env` and `listen: unix:run/web.sock` (no `run/` yet).
    @Test func theReadmeExamplesPointAtTheirFiles() throws {
        let yaml = """
            processes:
              api:
                command: 'echo "api up [$SUPERWATCH_CHANGED]"; exec sleep 1000'
                cwd: services/api
                watch: ["**/*.py"]
                extra_files: [../../shared/settings.toml]
              web:
                command: 'echo "web $GREETING"; exec sleep 1000'
                cwd: services/web
                env_file: web.env
                listen: unix:run/web.sock
            """
        let files: KeyValuePairs = [
            "services/api/app.py": "1", "shared/settings.toml": "a = 1",
            "services/web/web.env": "GREETING=hello-from-web-env\n",
        ]
        try withStack(yaml, files: files, arguments: ["check"]) { check in
            let socketPath = "\(check.path)/services/web/run/web.sock"
            #expect(check.waitForExit(timeout: .seconds(60)) == 0, "\(check.stderr)")
            #expect(
                check.stdout.contains("  listen: unix:\(socketPath) (its directory is created when `up` starts)\n"))
            #expect(permissions(of: "\(check.path)/services/web/run") == nil, "check creates nothing")
        }
        try withStack(yaml, files: files) { run in
            let socketPath = "\(run.path)/services/web/run/web.sock"
            #expect(run.waitFor("| web hello-from-web-env"))
            #expect(run.waitFor("* unix:\(socketPath)"))
            #expect(permissions(of: "\(run.path)/services/web/run") == 0o700)
            #expect(canConnect(toUnixSocket: socketPath))
            #expect(run.waitFor("| api up []"))
            let settings = run.write("shared/settings.toml", "a = 2")
            #expect(run.waitFor("| api up [\(settings)]"))
        }
    }

    /// An extra file that does not exist yet, in a directory that does not exist either: said at start, and
    /// creating it (directories first, then the file) restarts the process.
    @Test func aMissingExtraFileIsAnnouncedAndRestartsTheProcessOnceCreated() throws {
        let yaml = """
            processes:
              api:
                command: 'echo "up [$SUPERWATCH_CHANGED]"; exec sleep 1000'
                extra_files: [config/local/settings.toml]
              other:
                command: exec sleep 1000
            """
        try withStack(yaml) { run in
            let settings = "\(run.path)/config/local/settings.toml"
            let notice = "extra file \(settings) does not exist yet; creating it will restart the process"
            #expect(run.waitFor(notice))
            #expect(run.stdout.split(separator: "\n").contains { $0.hasPrefix("api") && $0.hasSuffix(notice) })
            #expect(eventually { lines(of: "api", in: run.stdout).contains("up []") })
            try FileManager.default.createDirectory(atPath: "\(run.path)/config", withIntermediateDirectories: false)
            try FileManager.default.createDirectory(
                atPath: "\(run.path)/config/local", withIntermediateDirectories: false)
            run.write("config/local/settings.toml", "a = 1")
            #expect(eventually { lines(of: "api", in: run.stdout).contains("up [config/local/settings.toml]") })
            #expect(settledStarts(of: "api", in: run, atLeast: 2) == 2)
            #expect(starts(of: "other", in: run) == 1)
        }
    }

    @Test func superwatchIsAReservedProcessName() throws {
        try withStack("processes:\n  superwatch:\n    command: touch started\n") { run in
            #expect(run.waitForExit(timeout: .seconds(60)) == 2)
            #expect(
                run.stderr == "superwatch: superwatch.yaml:2:3: error: `superwatch` is a reserved process name: the "
                    + "log shows the stack's own events as `superwatch * ...`; rename the process\n")
            #expect(!FileManager.default.fileExists(atPath: "\(run.path)/started"))
        }
    }
}
