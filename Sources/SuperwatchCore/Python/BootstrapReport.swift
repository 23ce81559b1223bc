/// What a `werkzeug:` bootstrap reported on its report pipe: files to watch (the modules its app loaded, and
/// after a failed import the files its traceback names and where a missing module would be found, which may not
/// exist yet) and installed packages it imported (for a standby interpreter to import ahead of time). The line
/// format is `superwatch-werkzeug.py`'s, whose protocol block `PythonProtocol` is generated from.
struct BootstrapReport: Sendable, Equatable {
    var files: [String] = []
    var preloads: [String] = []

    /// The report in `lines` (complete lines, `\n`-separated); lines of other kinds are skipped.
    init(lines: String) {
        let file = PythonProtocol.reportFile + " "
        let preload = PythonProtocol.reportPreload + " "
        for line in lines.split(separator: "\n") {
            if line.hasPrefix(file) { files.append(String(line.dropFirst(file.count))) }
            if line.hasPrefix(preload) { preloads.append(String(line.dropFirst(preload.count))) }
        }
    }

    var isEmpty: Bool { files.isEmpty && preloads.isEmpty }
}
