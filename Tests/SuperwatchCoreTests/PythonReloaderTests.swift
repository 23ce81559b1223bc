import Testing

@testable import SuperwatchCore

/// Which commands superwatch offers its reload path for Python commands (`Command.runsPython`), and what their
/// children get.
@Suite struct PythonReloaderTests {
    @Test(
        arguments: [
            ("python3 app.py", true), ("python app.py", true), ("/usr/bin/python3.12 -m flask run", true),
            ("flask --app app run --debug", true), (".venv/bin/flask run --reload", true),
            ("./manage.py runserver", true), ("python3 manage.py runserver 0.0.0.0:$PORT", true),
            ("cd web && python3 app.py", true), ("FLASK_DEBUG=1 flask run", true), ("pypy3 app.py", true),
            ("django-admin runserver", true), ("'python3' app.py", true),
            ("node server.js", false), ("npm run dev", false), ("pythonista app", false), ("./serve.sh", false),
            ("ruby app.rb", false), ("gunicorn app:app", false), (".py", false),
        ] as [(String, Bool)])
    func aShellCommandRunsPython(line: String, expected: Bool) {
        #expect(Command.shell(line).runsPython == expected)
    }

    @Test func anArgvRunsPythonByAnyOfItsWords() {
        #expect(Command.argv(["/opt/venv/bin/python", "app.py"]).runsPython)
        #expect(Command.argv(["uv", "run", "manage.py", "runserver"]).runsPython)
        #expect(!Command.argv(["uv", "run", "serve"]).runsPython)
    }

    @Test func reloaderWerkzeugOptsOut() {
        var spec = ProcessSpec(name: "web", command: .shell("python3 app.py"), cwd: "/srv")
        #expect(spec.replacesPythonReloader)
        spec.reloader = .werkzeug
        #expect(!spec.replacesPythonReloader)
        #expect(
            !ProcessSpec(name: "api", command: .werkzeug(WerkzeugApp(target: "app:app")), cwd: "/srv")
                .replacesPythonReloader, "a `werkzeug:` process has its own bootstrap")
    }

    /// A Python command gets sitecustomize.py, SUPERWATCH_RELOADER and the report pipe, with or without
    /// `listen:`; with `reloader: werkzeug` and no socket, nothing of superwatch's.
    @Test func aPythonCommandGetsTheReloaderWithoutASocket() {
        let python = ChildLaunch.PythonLocations(directory: "/run/sw/KEY.python")
        var spec = ProcessSpec(name: "web", command: .shell("flask run --debug"), cwd: "/srv")
        let child = ChildLaunch.make(
            spec, sockets: [], base: ["PYTHONPATH": "/mine"], python: python, reportPipe: true,
            standbyPreloads: ["flask"])
        #expect(child.environment["PYTHONPATH"] == "/run/sw/KEY.python:/mine")
        #expect(child.environment["SUPERWATCH_RELOADER"] == "1")
        #expect(child.environment["SUPERWATCH_REPORT_FD"] == "3")
        #expect(child.environment["SUPERWATCH_STANDBY_FD"] == "4")
        #expect(child.environment["SUPERWATCH_PRELOAD"] == "flask")
        #expect(child.environment["WERKZEUG_RUN_MAIN"] == nil, "Werkzeug binds its own port")
        #expect(child.environment["SUPERWATCH_WSGI_DEBUG"] == nil)
        #expect(child.descriptors == [.report, .standbyGo])
        #expect(child.arguments == ["/bin/sh", "-c", "exec flask run --debug"])
        spec.reloader = .werkzeug
        let own = ChildLaunch.make(spec, sockets: [], base: ["PYTHONPATH": "/mine"], python: python, reportPipe: true)
        #expect(own.environment["PYTHONPATH"] == "/mine")
        #expect(own.environment["SUPERWATCH_RELOADER"] == nil)
        #expect(own.descriptors.isEmpty)
    }
}
