import Foundation
import Yams

/// How `listen` host names are checked: with the system resolver (what `up` will bind), or only as IP
/// literals and `localhost` — for the fuzzer, which must not wait on DNS for every name it invents.
public enum HostLookup: Sendable {
    case system
    case numericOnly
}

/// An environment variable's value with where it was set, for errors that only show when the layers are
/// merged (a `werkzeug:` process's PORT).
struct EnvValue: Equatable {
    var value: String
    var location: SourceLocation
}

/// Counts the values a load reads, across aliases and merge keys, so that a small file cannot make superwatch
/// read billions of them (a "billion laughs" document): every list item and mapping entry costs one.
final class ReadBudget {
    static let maximumValues = 100_000
    private(set) var remaining = maximumValues

    func spend() -> Bool {
        remaining -= 1
        return remaining >= 0
    }
}

/// Walks the composed YAML tree, turning each node into a typed value or a positioned error.
struct ConfigReader {
    let file: String
    let directory: String
    var hostLookup: HostLookup = .system
    let budget = ReadBudget()

    func location(_ node: Node) -> SourceLocation {
        guard let mark = node.mark else { return SourceLocation(file: file) }
        return SourceLocation(file: file, line: mark.line, column: mark.column)
    }

    /// An error at `node`. Control characters a message quotes from the file (a glob or address with a line
    /// break in it) are escaped, so that every message stays one `FILE:LINE:COL: error:` line.
    func error(_ node: Node, _ message: String) -> SuperwatchError {
        SuperwatchError(.invalidConfig, escapingControlCharacters(message), at: location(node))
    }

    // MARK: - Typed nodes

    /// The typed value of a scalar node, nil for a collection; a tag superwatch does not read, on any node,
    /// is an error at that node.
    func typed(_ node: Node) throws(SuperwatchError) -> YAMLScalar? {
        let problem: String?
        switch node {
        case .scalar(let scalar):
            do {
                return try YAMLScalar(scalar)
            } catch {
                throw self.error(node, error.message)
            }
        case .mapping(let mapping): problem = YAMLScalar.tagProblem(written: mapping.tag.rawValue, collection: .map)
        case .sequence(let sequence): problem = YAMLScalar.tagProblem(written: sequence.tag.rawValue, collection: .seq)
        case .alias: problem = nil
        }
        if let problem { throw error(node, problem) }
        return nil
    }

    /// How a message names what `node` is: `a mapping`, `the number `42``, ...
    func describe(_ node: Node) throws(SuperwatchError) -> String {
        let scalar = try typed(node)  // a tag superwatch does not read says more than the kind it tags
        switch node {
        case .scalar(let text): return scalar?.describe(text.string) ?? "a scalar"
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .alias: return "an alias"
        }
    }

    /// Counts one more value read; past the budget, an error at `node`.
    func spend(at node: Node) throws(SuperwatchError) {
        guard budget.spend() else {
            throw error(
                node,
                "the config expands to more than \(ReadBudget.maximumValues) values through its aliases; "
                    + "write it with fewer aliases")
        }
    }

    // MARK: - Mappings

    /// The pairs of a mapping, each key a plain string; unknown keys are errors with a suggestion. YAML merge
    /// keys (`<<: *defaults`, or a list of aliases) are applied as YAML 1.1 defines them: keys written in the
    /// mapping win over merged ones, and an earlier merged mapping over a later one. With `extensions`, keys
    /// starting with `x-` are left out (not checked, not returned), as compose files use them to hold anchors.
    func mapping(
        _ node: Node, what: String, allowed: [String]?, extensions: Bool = false
    ) throws(SuperwatchError) -> [(key: String, keyNode: Node, value: Node)] {
        guard case .mapping(let mapping) = node else {
            throw error(node, "\(what) must be a mapping, found \(try describe(node))")
        }
        _ = try typed(node)
        var written: Set<String> = []
        for (keyNode, _) in mapping where !Self.isMergeKey(keyNode) {
            if case .scalar(let scalar) = keyNode { written.insert(scalar.string) }
        }
        var pairs: [(key: String, keyNode: Node, value: Node)] = []
        var seen: Set<String> = []
        for (keyNode, value) in mapping {
            try spend(at: keyNode)
            if Self.isMergeKey(keyNode) {
                for pair in try merged(value, what: what, allowed: allowed, extensions: extensions)
                where !written.contains(pair.key) && seen.insert(pair.key).inserted {
                    pairs.append(pair)
                }
                continue
            }
            guard case .scalar(let scalar) = keyNode, try typed(keyNode) != nil else {
                throw error(keyNode, "keys of \(what) must be plain names, found \(try describe(keyNode))")
            }
            let key = scalar.string
            // YAML tells `1` from `'1'`; a process or a variable cannot have both.
            guard seen.insert(key).inserted else {
                throw error(keyNode, "duplicate key `\(shown(key))` in \(what); remove one of them")
            }
            if extensions && key.hasPrefix(Self.extensionPrefix) { continue }
            if let allowed, !allowed.contains(key) {
                var message = "unknown key `\(shown(key))` in \(what)"
                if let suggestion = closestMatch(to: key, in: allowed) {
                    message += "; did you mean `\(suggestion)`?"
                } else {
                    message += "; allowed keys: \(allowed.joined(separator: ", "))"
                }
                throw error(keyNode, message)
            }
            pairs.append((key, keyNode, value))
        }
        return pairs
    }

    /// What starts a top-level key superwatch ignores (`x-defaults: &defaults {...}`), as docker compose does.
    static let extensionPrefix = "x-"

    /// `<<` as a plain key (quoted, it is an ordinary key).
    static func isMergeKey(_ node: Node) -> Bool {
        guard case .scalar(let scalar) = node, scalar.string == "<<" else { return false }
        return node.tag.rawValue == Tag.Name.merge.rawValue
    }

    /// The pairs a merge key's value brings: a mapping's, or those of a list of mappings, earlier first.
    func merged(
        _ value: Node, what: String, allowed: [String]?, extensions: Bool
    ) throws(SuperwatchError) -> [(key: String, keyNode: Node, value: Node)] {
        switch value {
        case .mapping:
            return try mapping(value, what: what, allowed: allowed, extensions: extensions)
        case .sequence(let sequence):
            _ = try typed(value)
            var pairs: [(key: String, keyNode: Node, value: Node)] = []
            var seen: Set<String> = []
            for item in sequence {
                guard case .mapping = item else {
                    throw error(item, "`<<` merges mappings (such as *defaults), found \(try describe(item))")
                }
                for pair in try mapping(item, what: what, allowed: allowed, extensions: extensions)
                where seen.insert(pair.key).inserted {
                    pairs.append(pair)
                }
            }
            return pairs
        default:
            throw error(
                value, "`<<` merges a mapping or a list of mappings (such as *defaults), found \(try describe(value))")
        }
    }

    // MARK: - Scalars

    /// A string. A number or boolean is refused, not turned into text, as the JSON Schema refuses it.
    func string(_ node: Node, what: String) throws(SuperwatchError) -> String {
        guard case .scalar(let scalar) = node, case .string(let text)? = try typed(node) else {
            let found = try describe(node)
            let advice =
                found.hasPrefix("the number") || found.hasPrefix("the boolean")
                ? "; put it in quotes to mean the text" : ""
            throw error(node, "\(what) must be a string, found \(found)\(advice)")
        }
        if scalar.string.utf8.contains(0) {
            throw error(
                node, "\(what) contains a NUL character (\\0), which no command, path or variable can hold; remove it")
        }
        return text
    }

    /// Space, tab, CR and LF: what a value may not consist of only.
    static func isBlank(_ text: String) -> Bool {
        text.utf8.allSatisfy {
            $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") || $0 == UInt8(ascii: "\r") || $0 == UInt8(ascii: "\n")
        }
    }

    func nonEmptyString(_ node: Node, what: String) throws(SuperwatchError) -> String {
        let value = try string(node, what: what)
        if Self.isBlank(value) { throw error(node, "\(what) must not be empty") }
        return value
    }

    /// A whole number in `range`. YAML spells them many ways (`0x10`, `1_000`, `1:30`); a float with no
    /// fraction (`2.0`) counts, as JSON Schema counts it as an integer.
    func integer(_ node: Node, what: String, range: ClosedRange<Int>) throws(SuperwatchError) -> Int {
        let text = node.scalar?.string ?? ""
        let outOfRange = error(
            node, "\(what) must be between \(range.lowerBound) and \(range.upperBound), found \(shown(text))")
        switch try typed(node) {
        case .integer(let value)?:
            guard range.contains(value) else { throw outOfRange }
            return value
        case .hugeInteger?:
            throw outOfRange
        case .float(let value)? where !value.isNaN && (value.isInfinite || value == value.rounded(.towardZero)):
            guard value >= Double(range.lowerBound), value <= Double(range.upperBound) else { throw outOfRange }
            return Int(value)
        default:
            throw error(node, "\(what) must be a whole number, found \(try describe(node))")
        }
    }

    func bool(_ node: Node, what: String) throws(SuperwatchError) -> Bool {
        guard case .bool(let value)? = try typed(node) else {
            throw error(node, "\(what) must be true or false, found \(try describe(node))")
        }
        return value
    }

    /// A duration for `key`: a string such as `250ms` or a YAML number of seconds, at most the key's maximum.
    /// `what`: how the message names the key, when it is not `key` itself (a `health:` probe's `period`).
    func duration(_ node: Node, key: DurationKey, what: String? = nil) throws(SuperwatchError) -> Duration {
        let what = what ?? "`\(key.rawValue)`"
        let text = node.scalar?.string ?? ""
        let result: Result<Duration, DurationFailure>
        switch try typed(node) {
        case .string(let written)?: result = parseDuration(written, maximum: key.maximum)
        case .integer(let seconds)?: result = durationFromSeconds(Double(seconds), maximum: key.maximum)
        case .hugeInteger(let negative)?: result = .failure(negative ? .notADuration : .tooLong)
        case .float(let seconds)?: result = durationFromSeconds(seconds, maximum: key.maximum)
        default: throw error(node, "\(what) must be a duration such as 250ms, 1.5s or 2m, found \(try describe(node))")
        }
        switch result {
        case .success(let duration):
            if key.mustBePositive && duration == .zero { throw error(node, "\(what) must be more than 0") }
            return duration
        case .failure(.notADuration):
            throw error(
                node, "\(what): `\(shown(text))` is not a duration; write e.g. 250ms, 1.5s, 2m or a number of seconds")
        case .failure(.tooLong):
            throw error(node, "\(what) must be at most \(key.maximum.humanReadable), found `\(shown(text))`")
        }
    }

    // MARK: - Lists

    func list(_ node: Node, what: String) throws(SuperwatchError) -> [Node] {
        guard case .sequence(let sequence) = node else {
            throw error(node, "\(what) must be a list, found \(try describe(node))")
        }
        _ = try typed(node)
        for item in sequence { try spend(at: item) }
        return Array(sequence)
    }

    /// A list of non-empty strings, each with its node (for errors about one item).
    func stringItems(_ node: Node, what: String) throws(SuperwatchError) -> [(text: String, node: Node)] {
        var result: [(text: String, node: Node)] = []
        for item in try list(node, what: what) {
            result.append((try nonEmptyString(item, what: "an item of \(what)"), item))
        }
        return result
    }

    func stringList(_ node: Node, what: String) throws(SuperwatchError) -> [String] {
        try stringItems(node, what: what).map(\.text)
    }

    /// A single value or a list of them, as `env_file` and `listen` take.
    func oneOrMore(_ node: Node, what: String) throws(SuperwatchError) -> [Node] {
        if case .sequence = node { return try list(node, what: what) }
        return [node]
    }

    // MARK: - Environment

    /// `env:`: names to values. Numbers and booleans are passed as written (`N: 0x10` gives `N=0x10`).
    func environment(_ node: Node, what: String) throws(SuperwatchError) -> [String: EnvValue] {
        var env: [String: EnvValue] = [:]
        for (key, keyNode, value) in try mapping(node, what: what, allowed: nil) {
            guard isValidEnvName(key) else {
                throw error(
                    keyNode,
                    "`\(shown(key))` is not a valid environment variable name (letters, digits, _; not starting with a digit)"
                )
            }
            guard case .scalar(let scalar) = value, let typed = try typed(value), typed != .null else {
                throw error(
                    value, "the value of \(key) must be a string, a number or a boolean, found \(try describe(value))")
            }
            if let problem = ExecLimits.environmentProblem(key: key, value: scalar.string) {
                throw error(value, problem)
            }
            env[key] = EnvValue(value: scalar.string, location: location(value))
        }
        return env
    }

    /// `path` (relative to the config's directory) as the user should see it: relative to where they are,
    /// like the config file's own name.
    func shownPath(_ path: String) -> String {
        if path.hasPrefix("/") { return path }
        let written = (file as NSString).deletingLastPathComponent
        return written.isEmpty ? path : "\(written)/\(path)"
    }

    /// Absolute `path` as the user should see it in a position (`FILE:LINE:COL`): under the config's
    /// directory, the way `shownPath` shows it; elsewhere, absolute.
    func shownPath(absolute path: String) -> String {
        let prefix = directory == "/" ? "/" : directory + "/"
        return path.hasPrefix(prefix) ? shownPath(String(path.dropFirst(prefix.count))) : path
    }

    /// The variables of the env file at `path`, shown as `shown`; its own errors point into it, and a file
    /// that cannot be read is `failure`'s error. `${NAME}` in it sees `earlier`, then superwatch's environment.
    func readEnvFile(
        _ path: String, shownAs shown: String, earlier: [String: String] = [:],
        failure: (SourceFile.ReadFailure) -> SuperwatchError
    ) throws(SuperwatchError) -> [String: EnvValue] {
        let text = try SourceFile.read(path: path, shownAs: shown, failure: failure)
        var env: [String: EnvValue] = [:]
        for assignment in try DotEnv.assignments(
            text, file: shown, earlier: earlier, environment: ProcessInfo.processInfo.environment)
        {
            env[assignment.key] = EnvValue(value: assignment.value, location: assignment.location)
        }
        return env
    }

    /// `env_file:` (a path or a list of them, relative to `base`: the config's directory at the top level, the
    /// process's cwd in a process): the variables of the files, later files over earlier ones. A file that is
    /// missing, not a regular file or unreadable is an error at its entry that names the absolute path tried.
    /// `${NAME}` in a file sees the files before it, then `outer` (for a process's files: the global env).
    func envFiles(
        _ node: Node, what: String, base: String, outer: [String: EnvValue] = [:]
    ) throws(SuperwatchError) -> [String: EnvValue] {
        var env: [String: EnvValue] = [:]
        for item in try oneOrMore(node, what: what) {
            let written = try nonEmptyString(item, what: what)
            let path = resolvePath(written, against: base)
            let earlier = outer.merging(env) { $1 }.mapValues(\.value)
            let fileEnv = try readEnvFile(path, shownAs: shownPath(absolute: path), earlier: earlier) { failure in
                let advice: String
                switch failure {
                case .notFound: advice = "; create it or remove it from the config"
                case .failed: advice = ""
                case .isDirectory, .notRegular, .tooLarge: advice = "; name a file of KEY=VALUE lines"
                }
                return error(item, "\(what): \(path) \(failure.reason)\(advice)")
            }
            env.merge(fileEnv) { $1 }
        }
        return env
    }

    /// The variables of `.env` beside the config, or none when there is no such file.
    func defaultEnvFile() throws(SuperwatchError) -> [String: EnvValue] {
        let name = ConfigLoader.defaultEnvFileName
        let path = resolvePath(name, against: directory)
        let shown = shownPath(name)
        // Read at once rather than stat first: the file may go between the two, and a missing one is no error.
        var missing = false
        do {
            return try readEnvFile(path, shownAs: shown) { failure in
                if case .notFound = failure { missing = true }
                return SuperwatchError(
                    .invalidConfig, "env file \(path) \(failure.reason); superwatch reads .env beside the config",
                    at: SourceLocation(file: shown))
            }
        } catch {
            if missing { return [:] }
            throw error
        }
    }

    func resolvePath(_ path: String, against base: String) -> String {
        let joined = path.hasPrefix("/") ? path : "\(base)/\(path)"
        return URL(fileURLWithPath: joined).standardizedFileURL.path
    }

    // MARK: - The config

    mutating func config(_ root: Node) throws(SuperwatchError) -> Config {
        var env: [String: EnvValue] = [:]
        var envFileNode: Node?
        var processesNode: Node?
        var logBuffer = ProcessSpec.defaultLogBuffer
        for (key, keyNode, value) in try mapping(
            root, what: "the top level", allowed: ConfigKeys.topLevel, extensions: true)
        {
            switch key {
            case "version":
                if case .string? = try typed(value) {
                    throw error(
                        value, "`version` must be the number 1, found \(try describe(value)); write `version: 1`")
                }
                guard (try? integer(value, what: "`version`", range: 1...1)) == 1 else {
                    throw error(value, "unsupported config version; this superwatch reads `version: 1`")
                }
            case "env": env = try environment(value, what: "`env`")
            case "env_file": envFileNode = value
            case "log_buffer": logBuffer = try integer(value, what: "`log_buffer`", range: ProcessSpec.logBufferRange)
            case "processes": processesNode = value
            default: throw error(keyNode, "unknown key `\(shown(key))`")
            }
        }
        // The files are read before the processes so that their errors come first, as they come first in
        // the environment; `env` wins over them.
        let fileEnv: [String: EnvValue]
        if let envFileNode {
            fileEnv = try envFiles(envFileNode, what: "`env_file`", base: directory)
        } else {
            fileEnv = try defaultEnvFile()
        }
        env = fileEnv.merging(env) { $1 }
        guard let processesNode else {
            throw SuperwatchError(
                .invalidConfig, "missing `processes:`; declare at least one process",
                at: location(root))
        }
        let entries = try mapping(processesNode, what: "`processes`", allowed: nil)
        if entries.isEmpty { throw error(processesNode, "`processes` is empty; declare at least one process") }
        var processes: [ProcessSpec] = []
        for (name, nameNode, value) in entries {
            guard isValidProcessName(name) else {
                throw error(nameNode, "process name `\(shown(name))` may only contain letters, digits, `_` and `-`")
            }
            if name == ConfigLoader.reservedProcessName {
                throw error(nameNode, ConfigLoader.reservedProcessNameMessage)
            }
            processes.append(
                try process(name: name, nameNode: nameNode, value, globalEnv: env, logBuffer: logBuffer))
        }
        try resolveDependencies(&processes)
        var config = Config(file: file, directory: directory, env: env.mapValues(\.value), processes: processes)
        config.envLocations = env.mapValues(\.location)
        return config
    }
}
