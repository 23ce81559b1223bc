import Foundation

/// Reads `.env` files as python-dotenv and docker compose read them: `KEY=VALUE` lines, an optional `export `
/// prefix, `#` comments, single-quoted values (only `\'` and `\\` are escapes), double-quoted values with
/// backslash escapes, quoted values that span lines, and `\n`, `\r\n` or a lone `\r` ending a line.
///
/// `${NAME}` and `${NAME:-default}` in an unquoted or double-quoted value expand to an earlier variable of
/// the same file (or of an earlier file), else to superwatch's environment; the file wins over the
/// environment, as in python-dotenv's `dotenv_values`. `$NAME` without braces stays as written, as
/// python-dotenv leaves it. Where the two readers disagree or accept something only by accident, superwatch
/// says so: every problem is an error at its line and column, never a silently skipped line. The differences
/// from python-dotenv are listed in the README and tested in DotEnvTests.
public enum DotEnv {
    /// The assignments in `text`, in the order written (a key may repeat; the last one wins when they are
    /// applied). `file` is only used in messages; `environment` is what `${NAME}` falls back to.
    public static func parse(
        _ text: String, file: String, environment: [String: String] = [:]
    ) throws(SuperwatchError) -> [(key: String, value: String)] {
        try assignments(text, file: file, environment: environment).map { ($0.key, $0.value) }
    }

    /// One `KEY=VALUE` line: the variable and where its line starts, for errors about the value that only
    /// show later (a value too long for the kernel).
    struct Assignment {
        var key: String
        var value: String
        var location: SourceLocation
    }

    /// The assignments in `text` with their positions. `earlier`: the variables of the files read before this
    /// one, which `${NAME}` sees before `environment`. A NUL anywhere, or a variable too long for the kernel
    /// to pass to a process, is an error at its position.
    static func assignments(
        _ text: String, file: String, earlier: [String: String] = [:], environment: [String: String] = [:]
    ) throws(SuperwatchError) -> [Assignment] {
        var parser = DotEnvParser(text, file: file, earlier: earlier, environment: environment)
        return try parser.assignments()
    }

    /// The assignments in the bytes of an env file; invalid UTF-8 is an error at its line and column.
    public static func parse(
        bytes: [UInt8], file: String, environment: [String: String] = [:]
    ) throws(SuperwatchError) -> [(key: String, value: String)] {
        try parse(SourceFile.text(bytes, file: file), file: file, environment: environment)
    }

    /// Reads the file at `path`; a key written twice takes its last value.
    public static func load(path: String, environment: [String: String] = [:]) throws(SuperwatchError) -> [String:
        String]
    {
        let text = try SourceLines.read(path: path, what: "env file")
        var env: [String: String] = [:]
        for (key, value) in try parse(text, file: path, environment: environment) { env[key] = value }
        return env
    }
}

/// Parses a whole `.env` file (a quoted value may run over several lines); positions are 1-based lines and
/// Unicode scalar columns, as everywhere else.
struct DotEnvParser {
    let scalars: [Unicode.Scalar]
    let file: String
    /// Where each line starts, for turning an index into a line and column.
    let lineStarts: [Int]
    /// What `${NAME}` expands to: this file's variables so far over the earlier files'.
    var known: [String: String]
    let environment: [String: String]
    /// Index of the next scalar to read.
    var index = 0
    /// Just after the `=` of the assignment being read: blanks between it and the value make a `#` at the
    /// value's start a comment.
    var equalsEnd = 0

    /// One scalar of a value after its escapes are decoded; `literal` when it came from an escape (`\$`), so
    /// that it cannot start a `${`.
    struct ValueScalar {
        var scalar: Unicode.Scalar
        var index: Int
        var literal: Bool
    }

    init(_ text: String, file: String, earlier: [String: String], environment: [String: String]) {
        var scalars = Array(text.unicodeScalars)
        if scalars.first == "\u{FEFF}" { scalars.removeFirst() }
        var lineStarts = [0]
        var position = 0
        while position < scalars.count {
            if scalars[position] == "\r", position + 1 < scalars.count, scalars[position + 1] == "\n" { position += 1 }
            if Self.isLineBreak(scalars[position]) { lineStarts.append(position + 1) }
            position += 1
        }
        self.scalars = scalars
        self.file = file
        self.lineStarts = lineStarts
        self.known = earlier
        self.environment = environment
    }

    static func isLineBreak(_ scalar: Unicode.Scalar) -> Bool { scalar == "\n" || scalar == "\r" }
    static func isBlank(_ scalar: Unicode.Scalar) -> Bool { SourceLines.isBlank(scalar) }

    func location(at index: Int) -> SourceLocation {
        var low = 0
        var high = lineStarts.count - 1
        while low < high {
            let middle = (low + high + 1) / 2
            if lineStarts[middle] <= index { low = middle } else { high = middle - 1 }
        }
        return SourceLocation(file: file, line: low + 1, column: index - lineStarts[low] + 1)
    }

    func error(at index: Int, _ message: String) -> SuperwatchError {
        SuperwatchError(.invalidConfig, message, at: location(at: index))
    }

    func text(_ range: Range<Int>) -> String { String(String.UnicodeScalarView(scalars[range])) }

    /// The index of the line break that ends the line `index` is on, or the end of the file.
    func endOfLine(from index: Int) -> Int {
        scalars[index...].firstIndex(where: Self.isLineBreak) ?? scalars.count
    }

    /// Past the line break at `index` (`\r\n` is one).
    func afterLineBreak(_ index: Int) -> Int {
        guard index < scalars.count else { return index }
        if scalars[index] == "\r", index + 1 < scalars.count, scalars[index + 1] == "\n" { return index + 2 }
        return index + 1
    }

    mutating func skipBlanks() {
        while index < scalars.count, Self.isBlank(scalars[index]) { index += 1 }
    }

    mutating func assignments() throws(SuperwatchError) -> [DotEnv.Assignment] {
        if let nul = scalars.firstIndex(of: "\0") {
            throw error(at: nul, "a NUL character cannot be passed to a process; remove it")
        }
        var result: [DotEnv.Assignment] = []
        while index < scalars.count {
            skipBlanks()
            guard index < scalars.count else { break }
            if Self.isLineBreak(scalars[index]) {
                index = afterLineBreak(index)
                continue
            }
            if scalars[index] == "#" {
                index = afterLineBreak(endOfLine(from: index))
                continue
            }
            let (key, keyStart) = try name()
            let value = try self.value()
            let location = location(at: keyStart)
            if let problem = ExecLimits.environmentProblem(key: key, value: value) {
                throw SuperwatchError(.invalidConfig, problem, at: location)
            }
            known[key] = value
            result.append(DotEnv.Assignment(key: key, value: value, location: location))
        }
        return result
    }

    /// The variable's name (after any `export`) and where it starts; leaves `index` after the `=` and the
    /// blanks that follow it.
    mutating func name() throws(SuperwatchError) -> (String, Int) {
        let lineStart = index
        let lineEnd = endOfLine(from: index)
        if hasExportPrefix(before: lineEnd) {
            index += "export".unicodeScalars.count
            skipBlanks()
        }
        let nameStart = index
        guard let equals = scalars[index..<lineEnd].firstIndex(of: "=") else {
            throw error(
                at: lineStart,
                "expected KEY=VALUE but this line has no `=`; write it as NAME=value, or start it with `#` to make it a comment"
            )
        }
        var nameEnd = equals
        while nameEnd > nameStart, Self.isBlank(scalars[nameEnd - 1]) { nameEnd -= 1 }
        let name = text(nameStart..<nameEnd)
        if name.isEmpty { throw error(at: equals, "missing variable name before `=`; write it as NAME=value") }
        if let bad = (nameStart..<nameEnd).first(where: { !isValidEnvName(text(nameStart..<($0 + 1))) }) {
            throw error(
                at: bad,
                "`\(shown(name))` is not a valid variable name; use letters, digits and `_`, not starting with a digit")
        }
        index = equals + 1
        equalsEnd = index
        skipBlanks()
        return (name, nameStart)
    }

    /// `export NAME=...`: the word must be followed by blanks and a name, so that a variable called
    /// `export` (`export = 1`) still works.
    func hasExportPrefix(before lineEnd: Int) -> Bool {
        let word = Array("export".unicodeScalars)
        var after = index + word.count
        guard lineEnd > after, Array(scalars[index..<after]) == word, Self.isBlank(scalars[after]) else { return false }
        while after < lineEnd, Self.isBlank(scalars[after]) { after += 1 }
        return after < lineEnd && scalars[after] != "="
    }

    /// The value that starts at `index`; leaves `index` after the line it ends on.
    mutating func value() throws(SuperwatchError) -> String {
        guard index < scalars.count, !Self.isLineBreak(scalars[index]) else {
            index = afterLineBreak(index)
            return ""
        }
        let value: String
        switch scalars[index] {
        case "'": value = String(String.UnicodeScalarView(try quoted(by: "'").map(\.scalar)))
        case "\"": value = try expand(try quoted(by: "\""))
        default: value = try expand(unquoted())
        }
        index = afterLineBreak(index)
        return value
    }

    /// Everything up to the end of the line or a `#` after a blank (`URL=http://host/#top` and `COLOR=#fff`
    /// keep theirs, `KEY= # note` is empty, as python-dotenv's own tests expect), without the blanks at its end.
    mutating func unquoted() -> [ValueScalar] {
        let start = index
        let lineEnd = endOfLine(from: index)
        var end = lineEnd
        for position in start..<lineEnd where scalars[position] == "#" {
            if position > start ? Self.isBlank(scalars[position - 1]) : start > equalsEnd {
                end = position
                break
            }
        }
        while end > start, Self.isBlank(scalars[end - 1]) { end -= 1 }
        index = lineEnd
        return (start..<end).map { ValueScalar(scalar: scalars[$0], index: $0, literal: false) }
    }

    /// A value in `quote`s, which may span lines (each line break kept as written). A backslash before the
    /// quote keeps it from closing the value. Inside single quotes only `\'` and `\\` are escapes; inside
    /// double quotes also `\n`, `\t`, `\r`, `\a`, `\b`, `\f`, `\v` and `\$` (a `$` that starts no `${`).
    /// Any other backslash is kept as written.
    mutating func quoted(by quote: Unicode.Scalar) throws(SuperwatchError) -> [ValueScalar] {
        let open = index
        var value: [ValueScalar] = []
        index += 1
        while index < scalars.count {
            let scalar = scalars[index]
            if scalar == quote {
                index += 1
                try expectEndOfLine()
                return value
            }
            if scalar == "\\", index + 1 < scalars.count {
                let escaped = scalars[index + 1]
                let decoded: Unicode.Scalar?
                switch (quote, escaped) {
                case (_, "\\"), (_, "'"): decoded = escaped
                case ("\"", "\""), ("\"", "$"): decoded = escaped
                case ("\"", "n"): decoded = "\n"
                case ("\"", "t"): decoded = "\t"
                case ("\"", "r"): decoded = "\r"
                case ("\"", "a"): decoded = "\u{07}"
                case ("\"", "b"): decoded = "\u{08}"
                case ("\"", "f"): decoded = "\u{0C}"
                case ("\"", "v"): decoded = "\u{0B}"
                default: decoded = nil
                }
                if let decoded {
                    value.append(ValueScalar(scalar: decoded, index: index, literal: true))
                    index += 2
                    continue
                }
            }
            value.append(ValueScalar(scalar: scalar, index: index, literal: false))
            index += 1
        }
        let kind = quote == "'" ? "single" : "double"
        throw error(
            at: open,
            "unterminated \(kind)-quoted value: no closing `\(quote)` before the end of the file; add one (a quoted value may span lines)"
        )
    }

    /// After a closing quote only blanks and a comment may follow on its line.
    mutating func expectEndOfLine() throws(SuperwatchError) {
        skipBlanks()
        guard index < scalars.count, !Self.isLineBreak(scalars[index]) else { return }
        guard scalars[index] == "#" else {
            throw error(
                at: index,
                "unexpected text after the closing quote; put the whole value inside the quotes, or start a comment with `#`"
            )
        }
        index = endOfLine(from: index)
    }

    /// `value` with each `${NAME}` and `${NAME:-default}` replaced. A `${` that is neither is an error: the
    /// two readers disagree on it (compose refuses it, python-dotenv keeps it or expands a name such as
    /// `A-b` to nothing), so no reading of it is safe.
    func expand(_ value: [ValueScalar]) throws(SuperwatchError) -> String {
        var result = String.UnicodeScalarView()
        var position = 0
        while position < value.count {
            let current = value[position]
            guard current.scalar == "$", !current.literal, position + 1 < value.count,
                value[position + 1].scalar == "{", !value[position + 1].literal
            else {
                result.append(current.scalar)
                position += 1
                continue
            }
            let advice =
                "write ${NAME} or ${NAME:-default}; for a literal `$` write \\$ inside double quotes, or use single quotes"
            guard let close = value[(position + 2)...].firstIndex(where: { $0.scalar == "}" }) else {
                throw error(at: current.index, "`${` without a closing `}`; \(advice)")
            }
            let inner = String(String.UnicodeScalarView(value[(position + 2)..<close].map(\.scalar)))
            let name: String
            var fallback: String?
            if let colon = inner.firstIndex(of: ":") {
                name = String(inner[..<colon])
                let rest = inner[inner.index(after: colon)...]
                guard rest.hasPrefix("-") else {
                    throw error(at: current.index, "`${\(shown(inner))}` is not supported; \(advice)")
                }
                fallback = String(rest.dropFirst())
            } else {
                name = inner
            }
            guard isValidEnvName(name) else {
                throw error(
                    at: current.index,
                    "`${\(shown(inner))}` is not supported: `\(shown(name))` is not a variable name; \(advice)")
            }
            let found = known[name] ?? environment[name]
            // `:-` as in the shell and compose: the default also replaces an empty value.
            if let fallback, found?.isEmpty ?? true {
                result.append(contentsOf: fallback.unicodeScalars)
            } else {
                result.append(contentsOf: (found ?? "").unicodeScalars)
            }
            position = close + 1
        }
        return String(result)
    }
}
