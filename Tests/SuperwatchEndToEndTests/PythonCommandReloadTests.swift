import Foundation
import SuperwatchTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

let djangoAvailable = pythonCanImport("django")

/// The Python commands people already run, each answering `v{helpers.VERSION}` at `/`: superwatch replaces their
/// framework's reloader by default (superwatch_reloader.py).
enum PythonCommand: String, CaseIterable, Sendable, CustomTestStringConvertible {
    /// `python3 app.py`, whose `app.run(debug=True)` starts Werkzeug's reloader.
    case pythonApp
    /// `flask --app app run --debug`.
    case flaskRun
    /// `python3 -m flask --app app run --reload` (the reloader without debug mode).
    case pythonMFlask
    /// Django's `python3 manage.py runserver`.
    case runserver

    var testDescription: String { rawValue }

    var command: String {
        switch self {
        case .pythonApp: return "python3 app.py"
        case .flaskRun: return "flask --app app run --debug"
        case .pythonMFlask: return "python3 -m flask --app app run --reload"
        case .runserver: return "python3 manage.py runserver 127.0.0.1:$PORT"
        }
    }

    var isAvailable: Bool { self == .runserver ? djangoAvailable : flaskAvailable }

    static var available: [PythonCommand] { allCases.filter(\.isAvailable) }

    /// The app's files; `helpers.py` holds `VERSION = 1`. `body` is the Python expression answered at `/`.
    func files(body: String = "f\"v{helpers.VERSION}\"") -> [String: String] {
        switch self {
        case .runserver:
            return [
                "helpers.py": "VERSION = 1\n",
                "manage.py": """
                import sys
                from django.conf import settings
                settings.configure(DEBUG=True, SECRET_KEY="test", ROOT_URLCONF="urls", ALLOWED_HOSTS=["*"],
                    TEMPLATES=[{"BACKEND": "django.template.backends.django.DjangoTemplates", "DIRS": ["templates"]}])
                if __name__ == "__main__":
                    from django.core.management import execute_from_command_line
                    execute_from_command_line(sys.argv)
                """,
                "urls.py": """
                from django.http import HttpResponse
                from django.urls import path
                from django.template.loader import render_to_string
                import helpers
                def index(request):
                    return HttpResponse(\(body))
                urlpatterns = [path("", index)]
                """,
            ]
        default:
            return [
                "helpers.py": "VERSION = 1\n",
                "app.py": """
                import os
                from flask import Flask, render_template
                import helpers
                app = Flask(__name__)
                @app.route("/")
                def index():
                    return \(body)
                if __name__ == "__main__":
                    app.run(debug=True, port=int(os.environ.get("PORT", "5000")))
                """,
            ]
        }
    }
}

/// The stack of one Python command: `extra` goes into the process's mapping.
func pythonCommandStack(_ command: PythonCommand, extra: String = "    listen: 127.0.0.1:0\n") -> String {
    "processes:\n  web:\n    command: \(command.command)\n" + extra
}

@Suite(.serialized) struct PythonCommandReloadTests {
    /// Each command reloads on an edit of an imported module and serves the new code, through superwatch's
    /// watching (not Werkzeug's or Django's exit code 3) and a standby interpreter, with no request refused or
    /// failed while it does.
    @Test(arguments: PythonCommand.available)
    func reloadsOnAnEditAndAnswersEveryRequest(command: PythonCommand) throws {
        try withStack(
            pythonCommandStack(command),
            prepare: { dir in for (name, text) in command.files() { dir.write(name, text) } },
            unsetting: variablesThatHidePythonBytecode
        ) { run in
            let port = try #require(listeningPort(run))
            #expect(eventually { httpGet(port) == "v1" }, "\(run.stdout)\n\(run.stderr)")
            try expectEveryRequestAnsweredAcrossReloads(
                port: port, editing: "helpers.py", reloads: 3, gap: "0.3", in: run.dir)
            #expect(run.stdout.contains("web        * restarting: helpers.py changed"), "\(run.stdout)")
            #expect(!run.stdout.contains("exit code 3"), "the framework's own reloader never ran: \(run.stdout)")
            #expect(
                run.stdout.contains("started (pid") && run.stdout.contains("a standby interpreter"),
                "a restart woke a standby interpreter: \(run.stdout)")
        }
    }

    /// Without `listen:` the program binds its own port (refusing connections while it restarts) and still
    /// reloads through superwatch.
    @Test(.enabled(if: flaskAvailable, "needs Flask (.ci/run installs it)"))
    func withoutListenThePlainAppStillReloads() throws {
        let probe = occupyLoopbackPort()
        close(probe.fd)
        let port = String(probe.port)
        try withStack(
            pythonCommandStack(.pythonApp, extra: "    env: {PORT: \"\(port)\"}\n"),
            prepare: { dir in for (name, text) in PythonCommand.pythonApp.files() { dir.write(name, text) } },
            unsetting: variablesThatHidePythonBytecode
        ) { run in
            #expect(eventually { httpGet(port) == "v1" }, "\(run.stdout)\n\(run.stderr)")
            run.write("helpers.py", "VERSION = 2\n")
            #expect(eventually { httpGet(port) == "v2" }, "\(run.stdout)")
            #expect(run.stdout.contains("web        * restarting: helpers.py changed"), "\(run.stdout)")
        }
    }

    /// Werkzeug's `extra_files` and `exclude_patterns` are honoured, from `app.run` and from flask run's
    /// FLASK_RUN_EXTRA_FILES and FLASK_RUN_EXCLUDE_PATTERNS.
    @Test(arguments: [PythonCommand.pythonApp, .flaskRun])
    func extraFilesAndExcludePatternsAreHonoured(command: PythonCommand) throws {
        try #require(flaskAvailable, "needs Flask (.ci/run installs it)")
        var files = command.files(
            body: "f\"{open('settings.toml').read().strip()} {local_settings.GREETING} v{helpers.VERSION}\"")
        files["app.py"] = files["app.py"]!.replacingOccurrences(
            of: "import helpers", with: "import helpers, local_settings"
        )
        .replacingOccurrences(
            of: "app.run(debug=True,",
            with: "app.run(debug=True, extra_files=['settings.toml'], exclude_patterns=['*/local_*.py'],")
        let extra =
            command == .flaskRun
            ? "    env: {FLASK_RUN_EXTRA_FILES: settings.toml, FLASK_RUN_EXCLUDE_PATTERNS: \"*/local_*.py\"}\n" : ""
        try withStack(
            pythonCommandStack(command, extra: "    listen: 127.0.0.1:0\n" + extra),
            prepare: { dir in
                for (name, text) in files { dir.write(name, text) }
                dir.write("settings.toml", "a\n")
                dir.write("local_settings.py", "GREETING = 'hi'\n")
            }, unsetting: variablesThatHidePythonBytecode
        ) { run in
            let port = try #require(listeningPort(run))
            #expect(eventually { httpGet(port) == "a hi v1" }, "\(run.stdout)\n\(run.stderr)")
            // An extra file is watched although nothing imports it.
            run.write("settings.toml", "b\n")
            #expect(eventually { httpGet(port) == "b hi v1" }, "\(run.stdout)")
            // inotify reports in order: had the excluded module been watched, its change would restart the app
            // before (or together with) the next edit.
            run.write("local_settings.py", "GREETING = 'hello'\n")
            run.write("helpers.py", "VERSION = 2\n")
            #expect(eventually { httpGet(port) == "b hello v2" }, "\(run.stdout)")
            let restarts = run.stdoutLines.filter { $0.contains(" * restarting") }
            #expect(
                restarts == [
                    "web        * restarting: settings.toml changed", "web        * restarting: helpers.py changed",
                ],
                "\(run.stdout)")
        }
    }

    /// A template edit is served: Django's template directories are reported (its cached loader would keep the
    /// old one), and so is a template Jinja loads without auto_reload (flask run --reload without debug). Flask
    /// in debug mode re-reads its templates itself.
    @Test(arguments: [PythonCommand.pythonMFlask, .runserver, .flaskRun])
    func aTemplateEditIsServed(command: PythonCommand) throws {
        try #require(command.isAvailable, "needs \(command)")
        let body = command == .runserver ? "render_to_string('page.html')" : "render_template('page.html')"
        try withStack(
            pythonCommandStack(command),
            prepare: { dir in
                for (name, text) in command.files(body: body) { dir.write(name, text) }
                dir.write("templates/page.html", "page 1")
            }, unsetting: variablesThatHidePythonBytecode
        ) { run in
            let port = try #require(listeningPort(run))
            #expect(eventually { httpGet(port) == "page 1" }, "\(run.stdout)\n\(run.stderr)")
            run.write("templates/page.html", "page 2")
            #expect(eventually { httpGet(port) == "page 2" }, "\(run.stdout)")
            let restarted = run.stdout.contains("web        * restarting: templates/page.html changed")
            #expect(
                restarted == (command != .flaskRun),
                "a restart only where the framework does not re-read: \(run.stdout)")
        }
    }

    /// `reloader: werkzeug` keeps Werkzeug's own loop: its child asks for each restart with exit code 3.
    @Test(.enabled(if: flaskAvailable, "needs Flask (.ci/run installs it)"))
    func reloaderWerkzeugKeepsWerkzeugsOwnLoop() throws {
        try withStack(
            pythonCommandStack(.pythonApp, extra: "    listen: 127.0.0.1:0\n    reloader: werkzeug\n"),
            prepare: { dir in for (name, text) in PythonCommand.pythonApp.files() { dir.write(name, text) } },
            unsetting: variablesThatHidePythonBytecode
        ) { run in
            let port = try #require(listeningPort(run))
            #expect(eventually { httpGet(port) == "v1" }, "\(run.stdout)\n\(run.stderr)")
            // Werkzeug's stat reloader compares mtimes by the second.
            Thread.sleep(forTimeInterval: 1.1)
            run.write("helpers.py", "VERSION = 2\n")
            #expect(eventually { httpGet(port) == "v2" }, "\(run.stdout)")
            #expect(run.stdout.contains("web        * restarting: exit code 3 asks for a restart"), "\(run.stdout)")
            #expect(!run.stdout.contains("restarting: helpers.py changed"), "\(run.stdout)")
        }
    }

    /// Werkzeug's reloader with watchdog installed (it picks watchdog then; 7.1 never reloads on this machine):
    /// superwatch's reload path does not depend on it. Each version in a virtualenv of its own.
    @Test(arguments: ["4.0.2", "7.1.0"])
    func aVirtualenvWithWatchdogStillReloads(watchdog: String) throws {
        try #require(flaskAvailable, "needs Flask (.ci/run installs it)")
        let venv = TemporaryDirectory("superwatch-watchdog")
        defer { venv.remove() }
        let made = try runCommand(["python3", "-m", "venv", "--system-site-packages", venv.path])
        try #require(made.status == 0, "\(made.stderr)")
        let pip = try runCommand([
            "\(venv.path)/bin/python", "-m", "pip", "install", "-q", "--disable-pip-version-check",
            "watchdog==\(watchdog)",
        ])
        try #require(pip.status == 0, "pip install watchdog==\(watchdog): \(pip.stderr)")
        let probe = occupyLoopbackPort()
        close(probe.fd)
        let port = String(probe.port)
        try withStack(
            "processes:\n  web:\n    command: \(venv.path)/bin/python app.py\n    env: {PORT: \"\(port)\"}\n",
            prepare: { dir in for (name, text) in PythonCommand.pythonApp.files() { dir.write(name, text) } },
            unsetting: variablesThatHidePythonBytecode
        ) { run in
            let imported = try runCommand(["\(venv.path)/bin/python", "-c", "import watchdog.observers"])
            try #require(imported.status == 0, "watchdog is importable in the virtualenv")
            #expect(eventually { httpGet(port) == "v1" }, "\(run.stdout)\n\(run.stderr)")
            for version in 2...3 {
                run.write("helpers.py", "VERSION = \(version)\n")
                #expect(eventually { httpGet(port) == "v\(version)" }, "\(run.stdout)")
            }
        }
    }
}
