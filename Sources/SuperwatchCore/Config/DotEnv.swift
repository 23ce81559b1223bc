import Foundation

/// Reads `.env` files in the format foreman and honcho use: `KEY=VALUE` lines, an optional `export `
/// prefix, `#` comments, single quotes taken literally and double quotes with a few escapes. Values are
/// never expanded (`$HOME` stays `$HOME`); every problem is an error at its line and column, never a
/// silently skipped line.
public enum DotEnv {
    /// The assignments in `text`, in the order written (a key may repeat; the last one wins when they are
    /// applied). `file` is only used in messages.
    public static func parse(_ text: String, file: String) throws(SuperwatchError) -> [(key: String, value: String)] {
        try assignments(text, file: file).map { ($0.key, $0.value) }
    }

    /// One `KEY=VALUE` line: the variable and where its line starts, for errors about the value that only
    /// show later (a value too long for the kernel).
    struct Assignment {
        var key: String
        var value: String
        var location: SourceLocation
    }

    /// The assignments in `text` with their positions. A NUL anywhere, or a variable too long for the kernel
    /// to pass to a process, is an error at its position.
    static func assignments(_ text: String, file: String) throws(SuperwatchError) -> [Assignment] {
        let lines = SourceLines(text)
        try lines.rejectNUL(file: file)
        var result: [Assignment] = []
        for line in lines {
            var parser = DotEnvLineParser(scalars: line.scalars, file: file, line: line.number)
            guard let (key, value) = try parser.assignment() else { continue }
            let location = parser.location(at: parser.keyStart)
            if let problem = ExecLimits.environmentProblem(key: key, value: value) {
                throw SuperwatchError(.invalidConfig, problem, at: location)
            }
            result.append(Assignment(key: key, value: value, location: location))
        }
        return result
    }

    /// The assignments in the bytes of an env file; invalid UTF-8 is an error at its line and column.
    public static func parse(bytes: [UInt8], file: String) throws(SuperwatchError) -> [(key: String, value: String)] {
        try parse(SourceFile.text(bytes, file: file), file: file)
    }

    /// Reads the file at `path`; a key written twice takes its last value.
    public static func load(path: String) throws(SuperwatchError) -> [String: String] {
        let text = try SourceLines.read(path: path, what: "env file")
        var env: [String: String] = [:]
        for (key, value) in try parse(text, file: path) { env[key] = value }
        return env
    }
}

/// Parses one line of a `.env` file; positions are 1-based Unicode scalar columns, as everywhere else.
struct DotEnvLineParser {
    let scalars: [Unicode.Scalar]
    let file: String
    let line: Int
    /// Index of the next scalar to read.
    var index = 0
    /// Where the variable's name starts (after any `export`), once `assignment()` has read it.
    var keyStart = 0

    init(scalars: [Unicode.Scalar], file: String, line: Int) {
        self.scalars = scalars
        self.file = file
        self.line = line
    }

    func location(at index: Int) -> SourceLocation { SourceLocation(file: file, line: line, column: index + 1) }

    func error(at index: Int, _ message: String) -> SuperwatchError {
        SuperwatchError(.invalidConfig, message, at: location(at: index))
    }

    static func isBlank(_ scalar: Unicode.Scalar) -> Bool { SourceLines.isBlank(scalar) }

    mutating func skipBlanks() {
        while index < scalars.count, Self.isBlank(scalars[index]) { index += 1 }
    }

    func text(_ range: Range<Int>) -> String { String(String.UnicodeScalarView(scalars[range])) }

    /// The assignment on this line, or nil for a blank or comment line.
    mutating func assignment() throws(SuperwatchError) -> (key: String, value: String)? {
        skipBlanks()
        guard index < scalars.count, scalars[index] != "#" else { return nil }
        let lineStart = index
        if hasExportPrefix() {
            index += "export".unicodeScalars.count
            skipBlanks()
        }
        let nameStart = index
        keyStart = index
        guard let equals = scalars[index...].firstIndex(of: "=") else {
            throw error(at: lineStart, "expected KEY=VALUE but this line has no `=`; write it as NAME=value, or start it with `#` to make it a comment")
        }
        var nameEnd = equals
        while nameEnd > nameStart, Self.isBlank(scalars[nameEnd - 1]) { nameEnd -= 1 }
        let name = text(nameStart..<nameEnd)
        if name.isEmpty { throw error(at: equals, "missing variable name before `=`; write it as NAME=value") }
        if let bad = (nameStart..<nameEnd).first(where: { !isValidEnvName(text(nameStart..<($0 + 1))) }) {
            throw error(at: bad, "`\(shown(name))` is not a valid variable name; use letters, digits and `_`, not starting with a digit")
        }
        index = equals + 1
        skipBlanks()
        return (name, try value())
    }

    /// `export NAME=...`: the word must be followed by blanks and a name, so that a variable called
    /// `export` (`export = 1`) still works.
    func hasExportPrefix() -> Bool {
        let word = Array("export".unicodeScalars)
        var after = index + word.count
        guard scalars.count > after, Array(scalars[index..<after]) == word, Self.isBlank(scalars[after]) else { return false }
        while after < scalars.count, Self.isBlank(scalars[after]) { after += 1 }
        return after < scalars.count && scalars[after] != "="
    }

    mutating func value() throws(SuperwatchError) -> String {
        guard index < scalars.count else { return "" }
        switch scalars[index] {
        case "'": return try singleQuoted()
        case "\"": return try doubleQuoted()
        default: return unquoted()
        }
    }

    /// Everything up to a `#` that follows a blank (`URL=http://host/#top` and `COLOR=#fff` keep theirs), trimmed.
    mutating func unquoted() -> String {
        let start = index
        var end = scalars.count
        for position in start..<scalars.count where scalars[position] == "#" {
            if Self.isBlank(scalars[position - 1]) { end = position; break }
        }
        return text(start..<end).trimmingWhitespace()
    }

    /// `'...'`: every character as written, no escapes.
    mutating func singleQuoted() throws(SuperwatchError) -> String {
        let open = index
        guard let close = scalars[(open + 1)...].firstIndex(of: "'") else {
            throw error(at: open, "unterminated single-quoted value; add a closing `'` on the same line")
        }
        index = close + 1
        try expectEndOfLine()
        return text((open + 1)..<close)
    }

    /// `"..."` with the escapes `\n`, `\t`, `\"`, `\\` and `\$`; any other backslash is kept as written.
    mutating func doubleQuoted() throws(SuperwatchError) -> String {
        let open = index
        var value = String.UnicodeScalarView()
        index += 1
        while index < scalars.count {
            let scalar = scalars[index]
            if scalar == "\"" {
                index += 1
                try expectEndOfLine()
                return String(value)
            }
            if scalar == "\\", index + 1 < scalars.count {
                let escaped = scalars[index + 1]
                switch escaped {
                case "n": value.append("\n")
                case "t": value.append("\t")
                case "\"", "\\", "$": value.append(escaped)
                default: value.append(contentsOf: [scalar, escaped])
                }
                index += 2
                continue
            }
            value.append(scalar)
            index += 1
        }
        throw error(at: open, "unterminated double-quoted value; add a closing `\"` on the same line (write \\n for a line break)")
    }

    /// After a closing quote only blanks and a comment may follow.
    mutating func expectEndOfLine() throws(SuperwatchError) {
        skipBlanks()
        guard index < scalars.count, scalars[index] != "#" else { return }
        throw error(at: index, "unexpected text after the closing quote; put the whole value inside the quotes, or start a comment with `#`")
    }
}
