/// Reads a Procfile, the format foreman and honcho share: one `name: command` line per process, `#`
/// comments and blank lines. Each command runs through `/bin/sh -c` in the Procfile's directory, with
/// every other setting at its default. Problems are errors at their line and column, never skipped lines; a
/// NUL or a command too long for the kernel to pass to `/bin/sh` is one too.
public enum Procfile {
    /// The processes declared in `text`, in the order written. `file` is only used in messages; `directory`
    /// becomes each process's working directory.
    public static func parse(_ text: String, file: String, directory: String) throws(SuperwatchError) -> Config {
        var processes: [ProcessSpec] = []
        var firstLine: [String: Int] = [:]
        func error(_ line: Int, _ index: Int, _ message: String) -> SuperwatchError {
            SuperwatchError(.invalidConfig, message, at: SourceLocation(file: file, line: line, column: index + 1))
        }
        func string(_ scalars: ArraySlice<Unicode.Scalar>) -> String { String(String.UnicodeScalarView(scalars)) }

        let lines = SourceLines(text)
        try lines.rejectNUL(file: file)
        for line in lines {
            let scalars = line.scalars
            guard let start = scalars.firstIndex(where: { !SourceLines.isBlank($0) }), scalars[start] != "#" else {
                continue
            }
            guard let colon = scalars[start...].firstIndex(of: ":") else {
                throw error(line.number, start, "expected `name: command` but this line has no `:`; write it as e.g. `web: python app.py`, or start it with `#` to make it a comment")
            }
            var nameEnd = colon
            while nameEnd > start, SourceLines.isBlank(scalars[nameEnd - 1]) { nameEnd -= 1 }
            let name = string(scalars[start..<nameEnd])
            if name.isEmpty {
                throw error(line.number, colon, "missing process name before `:`; write it as e.g. `web: python app.py`")
            }
            if let bad = (start..<nameEnd).first(where: { !isValidProcessName(string(scalars[$0...$0])) }) {
                throw error(line.number, bad, "process name `\(shown(name))` may only contain letters, digits, `_` and `-`")
            }
            if let first = firstLine[name] {
                throw error(line.number, start, "duplicate process `\(name)` (first defined at line \(first)); rename or remove one of them")
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
            throw SuperwatchError(.invalidConfig, "the Procfile declares no processes; add a line such as `web: python app.py`",
                                  at: SourceLocation(file: file, line: 1, column: 1))
        }
        return Config(file: file, directory: directory, processes: processes)
    }
}
