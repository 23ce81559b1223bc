import Foundation
import Yams

/// Reads `superwatch.yaml` or a Procfile: finds the file, parses it with positions, and validates every key
/// into a `Config`, with the env files it names (or `.env`) already read. Any problem is a
/// `SuperwatchError` pointing at the offending key, value or line; nothing is returned half-validated.
public enum ConfigLoader {
    /// Names tried, in order, when no `-f` is given.
    public static let defaultFileNames = ["superwatch.yaml", "superwatch.yml", "Procfile"]

    /// The env file read for every process when the config does not name any (`env_file:`).
    public static let defaultEnvFileName = ".env"

    /// The name the log gives superwatch's own lines (`superwatch * ...`), which no process may take.
    public static let reservedProcessName = "superwatch"

    static let reservedProcessNameMessage =
        "`superwatch` is a reserved process name: the log shows the stack's own "
        + "events as `superwatch * ...`; rename the process"

    /// Whether `path` is read as a Procfile: its name is `Procfile` or starts with `Procfile.`.
    public static func isProcfile(_ path: String) -> Bool {
        let name = URL(fileURLWithPath: path).lastPathComponent
        return name == "Procfile" || name.hasPrefix("Procfile.")
    }

    /// The config file to use: `explicit` when given, else the first default name present in `directory`.
    public static func locate(explicit: String?, in directory: String) throws(SuperwatchError) -> String {
        if let explicit {
            guard FileManager.default.fileExists(atPath: explicit) else {
                let absolute = URL(fileURLWithPath: explicit).standardizedFileURL.path
                let tried = absolute == explicit ? "" : " (tried \(absolute))"
                throw SuperwatchError(.configNotFound, "config file \(explicit) does not exist\(tried)")
            }
            return explicit
        }
        let tried = defaultFileNames
        for name in tried {
            let path = directory == "." ? name : "\(directory)/\(name)"
            if FileManager.default.fileExists(atPath: path) { return path }
        }
        let absolute = URL(fileURLWithPath: directory, isDirectory: true).standardizedFileURL.path
        throw SuperwatchError(
            .configNotFound,
            "no config file found in \(absolute); tried \(tried.map { "./\($0)" }.joined(separator: ", ")) "
                + "(use -f FILE to name one)")
    }

    /// Loads and validates the file at `path`.
    public static func load(path: String, hostLookup: HostLookup = .system) throws(SuperwatchError) -> Config {
        let bytes: [UInt8]
        do {
            bytes = try SourceFile.bytes(atPath: path)
        } catch {
            var advice = ""
            if case .isDirectory = error { advice = "; name a YAML config or a Procfile" }
            if case .notRegular = error { advice = "; name a YAML config or a Procfile" }
            throw SuperwatchError(
                .invalidConfig, "config file \(path) \(error.reason)\(advice)", at: SourceLocation(file: path))
        }
        return try parse(bytes: bytes, path: path, hostLookup: hostLookup)
    }

    /// Validates the contents of the config file at `path`: a Procfile when its name says so, else YAML.
    /// Relative paths in it resolve against `path`'s directory. `hostLookup`: how `listen` hosts are checked.
    public static func parse(bytes: [UInt8], path: String, hostLookup: HostLookup = .system) throws(SuperwatchError)
        -> Config
    {
        let text = try SourceFile.text(bytes, file: path)
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent().standardizedFileURL.path
        if isProcfile(path) {
            var config = try Procfile.parse(text, file: path, directory: directory)
            if let reserved = config.processes.first(where: { $0.name == reservedProcessName }) {
                throw SuperwatchError(.invalidConfig, reservedProcessNameMessage, at: reserved.location)
            }
            let reader = ConfigReader(file: path, directory: directory)
            let env = try reader.defaultEnvFile()
            config.env = env.mapValues(\.value)
            config.envLocations = env.mapValues(\.location)
            config.envFiles = reader.envFilesRead.paths
            return config
        }
        return try parse(yaml: text, file: path, directory: directory, hostLookup: hostLookup)
    }

    /// Validates YAML text. `file` is only used in messages; relative paths resolve against `directory`.
    public static func parse(
        yaml: String, file: String, directory: String, hostLookup: HostLookup = .system
    ) throws(SuperwatchError) -> Config {
        try rejectCharactersYAMLForbids(in: yaml, file: file)
        let root: Node?
        do {
            root = try Yams.compose(yaml: yaml)
        } catch let error as YamlError {
            throw syntaxError(error, file: file, text: yaml)
        } catch {
            throw SuperwatchError(.invalidConfig, "\(error)", at: SourceLocation(file: file))
        }
        guard let root else {
            throw SuperwatchError(
                .invalidConfig, "the file is empty; it needs a `processes:` mapping",
                at: SourceLocation(file: file, line: 1, column: 1))
        }
        var reader = ConfigReader(file: file, directory: directory, hostLookup: hostLookup)
        return try reader.config(root)
    }

    /// YAML allows only printable characters (YAML 1.1 §5.1, as libyaml checks them): tab, line breaks, and
    /// no other C0 or C1 control character, DEL, or U+FFFE/U+FFFF. libyaml's own complaint has no position,
    /// so the first such character is reported here at its line and column.
    static func rejectCharactersYAMLForbids(in text: String, file: String) throws(SuperwatchError) {
        var problem: SuperwatchError?
        walkPositions(text) { scalar, line, column, _ in
            let value = scalar.value
            let printable =
                value == 0x09 || value == 0x0A || value == 0x0D || (0x20...0x7E).contains(value)
                || value == 0x85 || (0xA0...0xD7FF).contains(value) || (0xE000...0xFFFD).contains(value)
                || (0x10000...0x10FFFF).contains(value)
            if printable { return true }
            let message =
                value == 0
                ? "a NUL character is not allowed in YAML; remove it"
                : "character \(String(format: "U+%04X", value)) is not allowed in YAML (no control characters); "
                    + "remove it, or write it as an escape in a double-quoted string"
            problem = SuperwatchError(
                .invalidConfig, message, at: SourceLocation(file: file, line: line, column: column))
            return false
        }
        if let problem { throw problem }
    }

    /// Calls `visit` with each scalar of `text`, its line and column, and its byte offset, counted as libyaml
    /// counts them (CR, LF, CRLF, NEL, U+2028 and U+2029 end a line; columns count scalars), until `visit`
    /// returns false.
    static func walkPositions(_ text: String, _ visit: (Unicode.Scalar, Int, Int, Int) -> Bool) {
        var line = 1
        var column = 1
        var offset = 0
        var previous: Unicode.Scalar?
        for scalar in text.unicodeScalars {
            guard visit(scalar, line, column, offset) else { return }
            offset += UTF8.width(scalar)
            switch scalar {
            case "\n" where previous == "\r": break
            case "\n", "\r", "\u{85}", "\u{2028}", "\u{2029}":
                line += 1
                column = 1
            default:
                column += 1
            }
            previous = scalar
        }
    }

    /// The position of byte `offset` of `text`, for libyaml errors that only give an offset.
    static func location(ofByteOffset target: Int, in text: String, file: String) -> SourceLocation {
        var result = SourceLocation(file: file, line: 1, column: 1)
        walkPositions(text) { _, line, column, offset in
            result = SourceLocation(file: file, line: line, column: column)
            return offset < target
        }
        return result
    }

    static func syntaxError(_ error: YamlError, file: String, text: String) -> SuperwatchError {
        func at(_ mark: Mark) -> SourceLocation { SourceLocation(file: file, line: mark.line, column: mark.column) }
        switch error {
        case .scanner(let context, let problem, let mark, _), .parser(let context, let problem, let mark, _),
            .composer(let context, let problem, let mark, _):
            let detail = context.map { " (\($0.text) at line \($0.mark.line))" } ?? ""
            return SuperwatchError(.invalidConfig, "YAML syntax: \(problem)\(detail)", at: at(mark))
        case .duplicatedKeysInMapping(let duplicates, let context):
            let key = duplicates.first ?? "?"
            let second =
                secondOccurrence(of: key, after: context.mark, in: text)
                ?? (context.mark.line, context.mark.column)
            return SuperwatchError(
                .invalidConfig,
                "duplicate key `\(key)` (first defined at line \(context.mark.line)); remove one of them",
                at: SourceLocation(file: file, line: second.line, column: second.column))
        case .reader(let problem, let offset, _, _):
            return SuperwatchError(
                .invalidConfig, "cannot read YAML: \(problem)",
                at: location(ofByteOffset: offset ?? 0, in: text, file: file))
        default:
            return SuperwatchError(.invalidConfig, "YAML: \(error)", at: SourceLocation(file: file))
        }
    }

    /// Yams reports a duplicate key at its first occurrence; the user wants to see the second one, which is
    /// the next line at the same column that starts with the same key.
    static func secondOccurrence(of key: String, after first: Mark, in text: String) -> (line: Int, column: Int)? {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        guard first.line >= 1, first.line <= lines.count else { return nil }
        let indent = first.column - 1
        for index in first.line..<lines.count {
            let line = Array(lines[index].unicodeScalars)
            guard line.count > indent, line[..<indent].allSatisfy({ $0 == " " }) else { continue }
            let rest = String(String.UnicodeScalarView(line[indent...]))
            for candidate in [key, "\"\(key)\"", "'\(key)'"] where rest.hasPrefix(candidate) {
                let after = rest.dropFirst(candidate.count).drop { $0 == " " }
                if after.hasPrefix(":") { return (index + 1, first.column) }
            }
        }
        return nil
    }
}

func isValidProcessName(_ name: String) -> Bool {
    !name.isEmpty
        && name.unicodeScalars.allSatisfy {
            $0.isASCII && (CharacterSet.alphanumerics.contains($0) || $0 == "_" || $0 == "-")
        }
}

func isValidEnvName(_ name: String) -> Bool {
    guard let first = name.unicodeScalars.first, !("0"..."9").contains(first) else { return false }
    return name.unicodeScalars.allSatisfy { $0.isASCII && (CharacterSet.alphanumerics.contains($0) || $0 == "_") }
}

/// The allowed word closest to a misspelt one, when it is close enough to be what the user meant.
func closestMatch(to word: String, in candidates: [String]) -> String? {
    let scored = candidates.map { (candidate: $0, distance: editDistance(word.lowercased(), $0)) }
    guard let best = scored.min(by: { $0.distance < $1.distance }) else { return nil }
    return best.distance <= max(2, word.count / 3) ? best.candidate : nil
}

func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a)
    let b = Array(b)
    if a.isEmpty { return b.count }
    if b.isEmpty { return a.count }
    var previous = Array(0...b.count)
    for i in 1...a.count {
        var current = [i] + Array(repeating: 0, count: b.count)
        for j in 1...b.count {
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
        }
        previous = current
    }
    return previous[b.count]
}
