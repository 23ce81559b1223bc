import Foundation

/// Reads `.env` files in the format foreman and honcho use: `KEY=VALUE` lines, an optional `export `
/// prefix, `#` comments, single quotes taken literally and double quotes with a few escapes. Values are
/// never expanded (`$HOME` stays `$HOME`); every problem is an error at its line and column, never a
/// silently skipped line.
public enum DotEnv {
    /// The assignments in `text`, in the order written (a key may repeat; the last one wins when they are
    /// applied). `file` is only used in messages.
    public static func parse(_ text: String, file: String) throws(SuperwatchError) -> [(key: String, value: String)] {
        var result: [(key: String, value: String)] = []
        for line in SourceLines(text) {
            var parser = DotEnvLineParser(scalars: line.scalars, file: file, line: line.number)
            if let assignment = try parser.assignment() { result.append(assignment) }
        }
        return result
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

    init(scalars: [Unicode.Scalar], file: String, line: Int) {
        self.scalars = scalars
        self.file = file
        self.line = line
    }

    func error(at index: Int, _ message: String) -> SuperwatchError {
        SuperwatchError(.invalidConfig, message, at: SourceLocation(file: file, line: line, column: index + 1))
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
        guard let equals = scalars[index...].firstIndex(of: "=") else {
            throw error(at: lineStart, "expected KEY=VALUE but this line has no `=`; write it as NAME=value, or start it with `#` to make it a comment")
        }
        var nameEnd = equals
        while nameEnd > nameStart, Self.isBlank(scalars[nameEnd - 1]) { nameEnd -= 1 }
        let name = text(nameStart..<nameEnd)
        if name.isEmpty { throw error(at: equals, "missing variable name before `=`; write it as NAME=value") }
        if let bad = (nameStart..<nameEnd).first(where: { !isValidEnvName(text(nameStart..<($0 + 1))) }) {
            throw error(at: bad, "`\(name)` is not a valid variable name; use letters, digits and `_`, not starting with a digit")
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

/// The lines of a config-like text file, numbered from 1, as Unicode scalars (columns count scalars).
/// A leading byte-order mark and `\r` before each `\n` are dropped.
struct SourceLines: Sequence {
    let lines: [(number: Int, scalars: [Unicode.Scalar])]

    init(_ text: String) {
        var scalars = Array(text.unicodeScalars)
        if scalars.first == "\u{FEFF}" { scalars.removeFirst() }
        var lines: [(number: Int, scalars: [Unicode.Scalar])] = []
        for (offset, line) in scalars.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            var line = Array(line)
            if line.last == "\r" { line.removeLast() }
            lines.append((offset + 1, line))
        }
        self.lines = lines
    }

    func makeIterator() -> IndexingIterator<[(number: Int, scalars: [Unicode.Scalar])]> { lines.makeIterator() }

    /// Space or tab: what separates words on a line of these files.
    static func isBlank(_ scalar: Unicode.Scalar) -> Bool { scalar == " " || scalar == "\t" }

    /// The text of the file at `path`; a missing, unreadable or non-UTF-8 file is an error naming `what`.
    static func read(path: String, what: String) throws(SuperwatchError) -> String {
        guard FileManager.default.fileExists(atPath: path) else {
            throw SuperwatchError(.invalidConfig, "\(what) \(path) does not exist; create it or remove it from the config",
                                  at: SourceLocation(file: path))
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw SuperwatchError(.invalidConfig, "cannot read \(what) \(path); check its permissions", at: SourceLocation(file: path))
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw SuperwatchError(.invalidConfig, "\(what) \(path) is not valid UTF-8", at: SourceLocation(file: path))
        }
        return text
    }
}
