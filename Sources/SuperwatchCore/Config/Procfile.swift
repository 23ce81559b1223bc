/// Reads a Procfile, the format foreman and honcho share: one `name: command` line per process, `#`
/// comments and blank lines. Each command runs through `/bin/sh -c` in the Procfile's directory, with
/// every other setting at its default.
///
/// A line is a process exactly when foreman's and honcho's pattern takes it (`^[A-Za-z0-9_-]+:\s*.+$`: the
/// name at the very start of the line and the colon right after it). They skip every other line without a
/// word; superwatch skips the same lines, so a Procfile runs the same processes under all three, but warns
/// about each one that is not blank or a comment, so that `web : cmd` or an indented line is not a silent
/// typo. A duplicate name, a name with no command, a NUL or a command too long for the kernel to pass to
/// `/bin/sh` is an error at its line and column.
public enum Procfile {
    /// The processes declared in `text`, in the order written, and a warning for each line skipped. `file`
    /// is only used in messages; `directory` becomes each process's working directory.
    public static func parse(_ text: String, file: String, directory: String) throws(SuperwatchError) -> Config {
        var processes: [ProcessSpec] = []
        var warnings: [ConfigWarning] = []
        var firstLine: [String: Int] = [:]
        func location(_ line: Int, _ index: Int) -> SourceLocation {
            SourceLocation(file: file, line: line, column: index + 1)
        }
        func error(_ line: Int, _ index: Int, _ message: String) -> SuperwatchError {
            SuperwatchError(.invalidConfig, message, at: location(line, index))
        }
        func string(_ scalars: ArraySlice<Unicode.Scalar>) -> String { String(String.UnicodeScalarView(scalars)) }
        let skipped = "; foreman and honcho skip it too"

        let lines = SourceLines(text)
        try lines.rejectNUL(file: file)
        for line in lines {
            let scalars = line.scalars
            guard let start = scalars.firstIndex(where: { !SourceLines.isBlank($0) }), scalars[start] != "#" else {
                continue
            }
            guard start == 0 else {
                warnings.append(
                    ConfigWarning(
                        "skipped an indented line\(skipped); write `name: command` at the start of the line to run it",
                        at: location(line.number, 0)))
                continue
            }
            guard let colon = scalars.firstIndex(of: ":") else {
                warnings.append(
                    ConfigWarning(
                        "skipped a line without `:`\(skipped); write it as e.g. `web: python app.py`, or start it with "
                            + "`#` to make it a comment",
                        at: location(line.number, 0)))
                continue
            }
            guard colon > 0 else {
                warnings.append(
                    ConfigWarning(
                        "skipped a line with no process name before `:`\(skipped); write it as e.g. `web: python app.py`",
                        at: location(line.number, 0)))
                continue
            }
            var nameEnd = colon
            while nameEnd > 0, SourceLines.isBlank(scalars[nameEnd - 1]) { nameEnd -= 1 }
            let name = string(scalars[0..<nameEnd])
            if let bad = (0..<colon).first(where: { !isValidProcessName(string(scalars[$0...$0])) }) {
                let message: String
                if nameEnd < colon && isValidProcessName(name) {
                    message = "skipped `\(shown(name)) :`, a blank before the colon\(skipped); write `\(name):`"
                } else {
                    message =
                        "skipped `\(shown(string(scalars[0...colon])))`: a process name may only contain "
                        + "letters, digits, `_` and `-`\(skipped)"
                }
                warnings.append(ConfigWarning(message, at: location(line.number, bad)))
                continue
            }
            if let first = firstLine[name] {
                throw error(
                    line.number, start,
                    "duplicate process `\(name)` (first defined at line \(first)); rename or remove one of them")
            }
            let command = string(scalars[(colon + 1)...]).trimmingWhitespace()
            if command.isEmpty {
                throw error(line.number, colon + 1, "process `\(name)` has no command; write it after the `:`")
            }
            var commandStart = colon + 1
            while commandStart < scalars.count, SourceLines.isBlank(scalars[commandStart]) { commandStart += 1 }
            var spec = ProcessSpec(name: name, command: .shell(command), cwd: directory)
            for argument in spec.command.arguments {
                if let problem = ExecLimits.argumentProblem(argument) {
                    throw error(line.number, commandStart, "the command of `\(name)` is too long: \(problem)")
                }
            }
            spec.location = SourceLocation(file: file, line: line.number, column: start + 1)
            firstLine[name] = line.number
            processes.append(spec)
        }
        guard !processes.isEmpty else {
            if let first = warnings.first {
                throw SuperwatchError(
                    .invalidConfig, "the Procfile declares no processes: \(first.message)", at: first.location)
            }
            throw SuperwatchError(
                .invalidConfig, "the Procfile declares no processes; add a line such as `web: python app.py`",
                at: SourceLocation(file: file, line: 1, column: 1))
        }
        var config = Config(file: file, directory: directory, processes: processes)
        config.warnings = warnings
        return config
    }
}
