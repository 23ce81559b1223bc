import Foundation
import Testing

@testable import SuperwatchCore

/// What a child sees (`ChildLaunch`): argv, environment and which descriptor carries what, for each kind of
/// process and start.
@Suite struct ChildLaunchTests {
    let base = ["HOME": "/home/me", "PYTHONPATH": "/mine", "GREETING": "hi"]
    let python = ChildLaunch.PythonLocations(directory: "/run/sw/KEY.python")

    func spec(_ command: Command, env: [String: String] = [:], listen: [ListenAddress] = []) -> ProcessSpec {
        var spec = ProcessSpec(name: "web", command: command, cwd: "/srv", env: env)
        spec.listen = listen.map { ListenSpec($0) }
        return spec
    }

    @Test func aPlainCommandGetsItsEnvironmentAndNoDescriptors() {
        // Not Python: a Python command gets superwatch's reloader (PythonReloaderTests).
        let child = ChildLaunch.make(
            spec(.shell("./serve app"), env: ["GREETING": "hello", "DEBUG": "1"]), sockets: [], base: base,
            python: python)
        #expect(child.arguments == ["/bin/sh", "-c", "exec ./serve app"])
        #expect(
            child.environment == [
                "HOME": "/home/me", "PYTHONPATH": "/mine", "GREETING": "hello", "DEBUG": "1",
                "SUPERWATCH_PROCESS": "web", "PYTHONUNBUFFERED": "1",
            ])
        #expect(child.descriptors.isEmpty)
        #expect(child.number(of: .report) == nil)
        let argv = ChildLaunch.make(spec(.argv(["./serve", "--fast"])), sockets: [], base: [:], python: nil)
        #expect(argv.arguments == ["./serve", "--fast"])
    }

    /// `$PORT` is the shell's to expand, from the PORT StackPlan wrote into the process's env.
    @Test func portComesFromThePlan() throws {
        let config = Config(
            file: "superwatch.yaml", directory: "/srv",
            processes: [spec(.shell("python3 -m http.server $PORT")), spec(.shell("worker"))])
        let planned = try StackPlan.make(config, basePort: 8000)
        let first = ChildLaunch.make(planned.processes[0], sockets: [], base: [:], python: nil)
        #expect(first.arguments == ["/bin/sh", "-c", "exec python3 -m http.server $PORT"])
        #expect(first.environment["PORT"] == "8000")
        #expect(first.environment["SUPERWATCH_REPLICA"] == "1")
        #expect(
            ChildLaunch.make(planned.processes[1], sockets: [], base: [:], python: nil).environment["PORT"] == "8100")
    }

    @Test func tcpListenGetsSocketActivationWerkzeugsVariablesAndTheDrain() {
        let web = spec(
            .shell("python3 app.py"), env: ["PORT": "1234"],
            listen: [.tcp(host: "127.0.0.1", port: 0), .unix(path: "/srv/web.sock")])
        let child = ChildLaunch.make(web, sockets: [.init(port: 41000), .init(port: nil)], base: base, python: python)
        #expect(child.descriptors == [.listenSocket(0), .listenSocket(1)])
        #expect(child.number(of: .listenSocket(1)) == 4)
        #expect(child.environment["LISTEN_FDS"] == "2")
        #expect(child.environment["LISTEN_FDNAMES"] == "web:web")
        #expect(child.environment["LISTEN_PID"] == nil, "written between fork and exec")
        #expect(child.environment["PORT"] == "41000", "the bound port, over the PORT the config sets")
        #expect(child.environment["WERKZEUG_SERVER_FD"] == "3")
        #expect(child.environment["WERKZEUG_RUN_MAIN"] == "true")
        #expect(child.environment["PYTHONPATH"] == "/run/sw/KEY.python:/mine", "sitecustomize.py first")
        #expect(child.arguments == ["/bin/sh", "-c", "exec python3 app.py"])
        // Without superwatch's Python files (`export systemd`) nothing is put on PYTHONPATH.
        let exported = ChildLaunch.make(web, sockets: [.init(port: 41000)], base: base, python: nil)
        #expect(exported.environment["PYTHONPATH"] == "/mine")
        #expect(exported.environment["WERKZEUG_SERVER_FD"] == "3")
    }

    /// Werkzeug serves on fd 3 only when it is TCP; a Unix socket first gets systemd's variables alone.
    @Test func unixListenGetsNoWerkzeugVariables() {
        let web = spec(.shell("serve"), listen: [.unix(path: "/srv/a.sock"), .tcp(host: "", port: 6000)])
        let child = ChildLaunch.make(web, sockets: [.init(port: nil), .init(port: 6000)], base: base, python: python)
        #expect(child.environment["LISTEN_FDS"] == "2")
        #expect(child.environment["PORT"] == "6000", "the first TCP socket's")
        #expect(child.environment["WERKZEUG_SERVER_FD"] == nil)
        #expect(child.environment["WERKZEUG_RUN_MAIN"] == nil)
        #expect(child.environment["PYTHONPATH"] == "/mine")
        let unixOnly = ChildLaunch.make(
            spec(.shell("serve"), env: ["PORT": "5000"], listen: [.unix(path: "/srv/a.sock")]),
            sockets: [.init(port: nil)], base: [:], python: python)
        #expect(unixOnly.environment["PORT"] == "5000")
    }

    @Test func werkzeugRunsTheBootstrapWithItsReportPipe() throws {
        let config = try ConfigLoader.parse(
            yaml: "processes:\n  api: {werkzeug: \"app:create_app('dev')\", python: .venv/bin/python, debug: true}\n",
            file: "superwatch.yaml", directory: "/srv")
        let api = try StackPlan.make(config).processes[0]
        #expect(
            api.command
                == .werkzeug(WerkzeugApp(target: "app:create_app('dev')", python: "/srv/.venv/bin/python", debug: true))
        )
        let interpreter = PythonInterpreter(
            program: "/opt/py/bin/python3.11", setting: ["PATH": "/opt/py/bin:/usr/bin"], unsetting: ["HOME"])
        let child = ChildLaunch.make(
            api, sockets: [.init(port: 5000)], base: base, python: python, interpreter: interpreter, reportPipe: true)
        #expect(
            child.arguments == [
                "/opt/py/bin/python3.11", "/run/sw/KEY.python/superwatch-werkzeug.py", "app:create_app('dev')",
            ])
        #expect(child.environment["PATH"] == "/opt/py/bin:/usr/bin", "the wrapper's environment")
        #expect(child.environment["HOME"] == nil)
        #expect(child.descriptors == [.listenSocket(0), .report])
        #expect(child.environment[PythonProtocol.envReportFd] == "4")
        #expect(child.environment[PythonProtocol.envDebug] == "1")
        #expect(child.environment[PythonProtocol.envStandbyFd] == nil)
        #expect(child.environment["WERKZEUG_SERVER_FD"] == "3")
        #expect(child.environment["PYTHONPATH"] == "/mine", "the bootstrap drains by itself")
        // Not yet resolved: the `python:` as written.
        let unresolved = ChildLaunch.make(api, sockets: [.init(port: 5000)], base: [:], python: python)
        #expect(unresolved.arguments.first == "/srv/.venv/bin/python")
        #expect(unresolved.descriptors == [.listenSocket(0)])
    }

    @Test func aStandbyWaitsOnTheDescriptorAfterTheReportPipe() {
        let api = spec(.werkzeug(WerkzeugApp(target: "app:app")), listen: [.tcp(host: "127.0.0.1", port: 5000)])
        let standby = ChildLaunch.make(
            api, sockets: [.init(port: 5000)], base: [:], python: python, reportPipe: true,
            standbyPreloads: ["flask", "jinja2"])
        #expect(standby.descriptors == [.listenSocket(0), .report, .standbyGo])
        #expect(standby.environment[PythonProtocol.envStandbyFd] == "5")
        #expect(standby.environment[PythonProtocol.envPreload] == "flask,jinja2")
        let withoutReport = ChildLaunch.make(
            api, sockets: [.init(port: 5000)], base: [:], python: python, standbyPreloads: ["flask"])
        #expect(withoutReport.environment[PythonProtocol.envStandbyFd] == "4")
        #expect(withoutReport.number(of: .standbyGo) == 4)
    }

    @Test func changedPathsAreCapped() {
        let paths = (1...150).map { "file\($0).py" }
        let child = ChildLaunch.make(spec(.shell("x")), sockets: [], base: [:], changed: paths, python: nil)
        let lines = child.environment["SUPERWATCH_CHANGED"]?.split(separator: "\n") ?? []
        #expect(lines.count == ChildLaunch.changedPathLimit)
        #expect(lines.first == "file1.py" && lines.last == "file100.py")
        #expect(
            ChildLaunch.make(spec(.shell("x")), sockets: [], base: [:], python: nil).environment["SUPERWATCH_CHANGED"]
                == nil)
    }

    /// PYTHONUNBUFFERED=1 unless the config or superwatch's environment sets it, to any value.
    @Test func pythonUnbufferedIsADefault() {
        #expect(
            ChildLaunch.make(spec(.shell("x")), sockets: [], base: [:], python: nil).environment["PYTHONUNBUFFERED"]
                == "1")
        let own = ChildLaunch.make(
            spec(.shell("x"), env: ["PYTHONUNBUFFERED": "0"]), sockets: [], base: [:], python: nil)
        #expect(own.environment["PYTHONUNBUFFERED"] == "0")
        let inherited = ChildLaunch.make(
            spec(.shell("x")), sockets: [], base: ["PYTHONUNBUFFERED": ""], python: nil)
        #expect(inherited.environment["PYTHONUNBUFFERED"] == "")
    }

    /// superwatch may itself run under systemd or a Werkzeug reloader: that is not its children's business.
    @Test func superwatchsOwnActivationDoesNotLeak() {
        let inherited = [
            "LISTEN_FDS": "1", "LISTEN_PID": "77", "LISTEN_FDNAMES": "superwatch", "WERKZEUG_SERVER_FD": "3",
            "WERKZEUG_RUN_MAIN": "true", "HOME": "/home/me", "GREETING": "shell",
        ]
        let base = ChildLaunch.baseEnvironment(inherited: inherited, stack: ["GREETING": "stack"])
        #expect(base == ["HOME": "/home/me", "GREETING": "stack"])
        let child = ChildLaunch.make(spec(.shell("x")), sockets: [], base: base, python: nil)
        for key in ChildLaunch.activationVariables { #expect(child.environment[key] == nil, "\(key)") }
    }

    /// `check` prints, and `export systemd` writes, what `make` gives `up`'s start of the same process.
    @Test func checkAndExportShowWhatUpStarts() throws {
        let yaml = """
            env: {GREETING: hello}
            processes:
              web: {command: "python3 app.py", listen: "127.0.0.1:8000", env: {OWN: "1"}}
              api: {werkzeug: "app:app"}
            """
        let planned = try StackPlan.make(try ConfigLoader.parse(yaml: yaml, file: "superwatch.yaml", directory: "/srv"))
        let web = planned.processes[0]
        // `python3 app.py` looks like Python: `up` gives it the report pipe of superwatch's reloader.
        let upStart = ChildLaunch.make(
            web, sockets: [.init(port: 8000)], base: ChildLaunch.baseEnvironment(inherited: [:], stack: planned.env),
            python: .placeholder, reportPipe: true)
        let text = describe(planned)
        let assignments = upStart.environment.sorted { $0.key < $1.key }.map { "\($0)=\(ShellWord.quote($1))" }
        #expect(
            text.contains(
                "\nweb:\n  command: python3 app.py\n  cwd: /srv\n  env: \(assignments.joined(separator: " "))\n"))
        #expect(text.contains("  fds: 3 127.0.0.1:8000, 4 the reloader's report pipe\n"))
        #expect(text.contains("\napi:\n  command: python3 …/superwatch-werkzeug.py app:app\n"))
        #expect(text.contains("  fds: 3 127.0.0.1:5100, 4 the bootstrap's report pipe\n"))

        let exportable = Config(file: planned.file, directory: planned.directory, env: planned.env, processes: [web])
        let service = try #require(
            try SystemdExport.units(for: exportable, appName: "a").first { $0.name == "a-web.service" })
        let lines = service.contents.split(separator: "\n")
        let environment = lines.filter { $0.hasPrefix("Environment=") }.map(String.init)
        // An exported unit runs without superwatch's Python files, so without its reloader's variables too.
        let superwatchOnly = [
            "LISTEN_FDS", "LISTEN_FDNAMES", "PYTHONPATH", "SUPERWATCH_RELOADER", "SUPERWATCH_REPORT_FD",
        ]
        let expected = upStart.environment.filter { !superwatchOnly.contains($0.key) }
        #expect(
            environment
                == expected.sorted { $0.key < $1.key }.map {
                    "Environment=\(SystemdExport.quoteEnvironment("\($0)=\($1)"))"
                })
        #expect(
            lines.contains("ExecStart=\(upStart.arguments.map(SystemdExport.quoteArgument).joined(separator: " "))"))
    }
}
