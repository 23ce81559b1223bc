/// Who reloads a Python command that runs its framework's reloader (`reloader:`): superwatch (the default) or
/// the framework's own loop (`werkzeug`: Werkzeug's, or Django's for `manage.py runserver`).
public enum PythonReloader: String, Sendable, Equatable, CaseIterable {
    /// superwatch plays the reloader's parent: the injected `sitecustomize.py` replaces Werkzeug's or Django's
    /// loop with reports of the app's files (superwatch_reloader.py), and the next process is a standby
    /// interpreter.
    case superwatch
    /// The framework's own loop, as without superwatch (with `listen:`, its exit with code 3 is a restart).
    case werkzeug
}

extension Command {
    /// Whether the command looks like it runs Python: a word (of the argv, or of the shell line split at blanks
    /// and shell operators) that is a Python interpreter (`python`, `python3.12`, `pypy3`, as a name or a path),
    /// `flask`, `django-admin`, or a `.py` file (`manage.py`, `./app.py`).
    ///
    /// It only decides whether superwatch *offers* its reload path (the injected `sitecustomize.py`, a report
    /// pipe): whether the process takes it is decided at run time, when Werkzeug's or Django's reloader is about
    /// to start, so a false guess costs a pipe and half a millisecond, and a program that never starts a
    /// reloader is unchanged. A command hidden behind a script of another name is not recognised (name the
    /// interpreter in `command`, or use `werkzeug:`).
    public var runsPython: Bool {
        let words: [Substring]
        switch self {
        case .werkzeug: return true
        case .argv(let argv): words = argv.map { Substring($0) }
        case .shell(let line):
            words = line.split(whereSeparator: { " \t\n;&|()<>`".contains($0) })
        }
        return words.contains { word in
            let unquoted = word.filter { $0 != "'" && $0 != "\"" }
            return Self.isPythonProgram(String(unquoted.split(separator: "/").last ?? ""))
        }
    }

    /// `python`, `python3`, `python3.12`, `pypy3`, `flask`, `django-admin`, or `*.py`.
    static func isPythonProgram(_ name: String) -> Bool {
        if name == "flask" || name == "django-admin" || (name.hasSuffix(".py") && name.count > 3) { return true }
        for interpreter in ["python", "pypy"] where name.hasPrefix(interpreter) {
            return name.dropFirst(interpreter.count).allSatisfy { $0.isNumber || $0 == "." }
        }
        return false
    }
}

extension ProcessSpec {
    /// Whether superwatch offers this process its reload path for Python commands: a `command` that looks like
    /// Python (`Command.runsPython`) without `reloader: werkzeug`.
    public var replacesPythonReloader: Bool {
        werkzeug == nil && reloader == .superwatch && command.runsPython
    }

    /// Whether the process reports files to watch on a report pipe: a `werkzeug:` bootstrap, or a Python command
    /// whose reloader superwatch replaces.
    var reportsFiles: Bool { werkzeug != nil || replacesPythonReloader }
}
