import Foundation
import SuperwatchTestSupport
import Testing

/// A module imported late (made and imported at the first request) and edited right after
/// its import, before superwatch could watch it: the process reports the file with the stamp it read, superwatch
/// compares it with the file once its watch is in place, and the edit restarts the process as any change does.
/// Before, the edit was lost: the process served the old code until some later change.
@Suite(.serialized) struct PythonLateImportTests {
    enum Mode: String, CaseIterable, Sendable {
        /// `werkzeug: app:app`, superwatch's bootstrap.
        case werkzeug
        /// `python3 app.py` with `app.run(debug=True)`.
        case pythonApp
        /// `flask --app app run --debug`.
        case flaskRun
        /// Django's `manage.py runserver`.
        case runserver

        var command: PythonCommand { self == .runserver ? .runserver : self == .flaskRun ? .flaskRun : .pythonApp }

        static var available: [Mode] { allCases.filter(\.command.isAvailable) }
    }

    /// helpers.py writes late.py at the first request (so no reloader's scan of the app's directories found it at
    /// the start) and imports it; late.py rewrites itself while it is imported, which deterministically falls
    /// between the process's read and superwatch's watch (the report comes after the import).
    static let helpers = #"""
        import importlib, os
        VERSION = 1
        LATE = """
        GREETING = "as first imported"
        if GREETING == "as first imported":
            with open(__file__, "w") as source:
                source.write('GREETING = "edited right after its import"\\n')
        """
        def late_greeting():
            path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "late.py")
            if not os.path.exists(path):
                with open(path, "w") as source:
                    source.write(LATE)
                importlib.invalidate_caches()
            import late
            return late.GREETING
        """#

    @Test(arguments: Mode.available)
    func anEditRightAfterALateImportRestartsTheProcess(mode: Mode) throws {
        var files = mode.command.files(body: "helpers.late_greeting()")
        files["helpers.py"] = Self.helpers
        let stack =
            mode == .werkzeug
            ? "processes:\n  web:\n    werkzeug: app:app\n    listen: 127.0.0.1:0\n" : pythonCommandStack(mode.command)
        try withStack(
            stack, prepare: { dir in for (name, text) in files { dir.write(name, text) } },
            unsetting: variablesThatHidePythonBytecode
        ) { run in
            let port = try #require(listeningPort(run))
            // The first request imports late.py, which edits itself: that request may still see the old text.
            #expect(
                eventually { httpGet(port) == "edited right after its import" }, "\(run.stdout)\n\(run.stderr)")
            #expect(run.stdout.contains("web        * restarting: late.py changed"), "\(run.stdout)")
        }
    }
}
