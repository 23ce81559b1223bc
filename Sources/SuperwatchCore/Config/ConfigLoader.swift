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

    /// Whether `path` is read as a Procfile: its name is `Procfile` or starts with `Procfile.`.
    public static func isProcfile(_ path: String) -> Bool {
        let name = URL(fileURLWithPath: path).lastPathComponent
        return name == "Procfile" || name.hasPrefix("Procfile.")
    }

    /// The config file to use: `explicit` when given, else the first default name present in `directory`.
    public static func locate(explicit: String?, in directory: String) throws(SuperwatchError) -> String {
        if let explicit {
            guard FileManager.default.fileExists(atPath: explicit) else {
                throw SuperwatchError(.configNotFound, "config file \(explicit) does not exist")
            }
            return explicit
        }
        let tried = defaultFileNames
        for name in tried {
            let path = directory == "." ? name : "\(directory)/\(name)"
            if FileManager.default.fileExists(atPath: path) { return path }
        }
        throw SuperwatchError(
            .configNotFound,
            "no config file found; tried \(tried.map { "./\($0)" }.joined(separator: ", ")) (use -f FILE to name one)")
    }

    /// Loads and validates the file at `path`.
    public static func load(path: String) throws(SuperwatchError) -> Config {
        let text: String
        do {
            let data = try Data(contentsOf: URL(fileURLWithPath: path))
            guard let decoded = String(data: data, encoding: .utf8) else {
                throw SuperwatchError(.invalidConfig, "the file is not valid UTF-8", at: SourceLocation(file: path))
            }
            text = decoded
        } catch let error as SuperwatchError {
            throw error
        } catch {
            throw SuperwatchError(.invalidConfig, "cannot read the file: \(error.localizedDescription)",
                                  at: SourceLocation(file: path))
        }
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent().standardizedFileURL.path
        if isProcfile(path) {
            var config = try Procfile.parse(text, file: path, directory: directory)
            config.env = try ConfigReader(file: path, directory: directory).defaultEnvFile()
            return config
        }
        return try parse(yaml: text, file: path, directory: directory)
    }

    /// Validates YAML text. `file` is only used in messages; relative paths resolve against `directory`.
    public static func parse(yaml: String, file: String, directory: String) throws(SuperwatchError) -> Config {
        let root: Node?
        do {
            root = try Yams.compose(yaml: yaml)
        } catch let error as YamlError {
            throw syntaxError(error, file: file, text: yaml)
        } catch {
            throw SuperwatchError(.invalidConfig, "\(error)", at: SourceLocation(file: file))
        }
        guard let root else {
            throw SuperwatchError(.invalidConfig, "the file is empty; it needs a `processes:` mapping",
                                  at: SourceLocation(file: file, line: 1, column: 1))
        }
        var reader = ConfigReader(file: file, directory: directory)
        return try reader.config(root)
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
            let second = secondOccurrence(of: key, after: context.mark, in: text)
                ?? (context.mark.line, context.mark.column)
            return SuperwatchError(
                .invalidConfig,
                "duplicate key `\(key)` (first defined at line \(context.mark.line)); remove one of them",
                at: SourceLocation(file: file, line: second.line, column: second.column))
        case .reader(let problem, _, _, _):
            return SuperwatchError(.invalidConfig, "cannot read YAML: \(problem)", at: SourceLocation(file: file))
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

/// Walks the composed YAML tree, turning each node into a typed value or a positioned error.
struct ConfigReader {
    let file: String
    let directory: String

    func location(_ node: Node) -> SourceLocation {
        guard let mark = node.mark else { return SourceLocation(file: file) }
        return SourceLocation(file: file, line: mark.line, column: mark.column)
    }

    func error(_ node: Node, _ message: String) -> SuperwatchError {
        SuperwatchError(.invalidConfig, message, at: location(node))
    }

    static func kind(_ node: Node) -> String {
        switch node {
        case .scalar(let scalar):
            if scalar.style == .plain && ["", "~", "null", "Null", "NULL"].contains(scalar.string) {
                return "nothing (null)"
            }
            return "a scalar"
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .alias: return "an alias"
        }
    }

    /// The pairs of a mapping, each key a plain string; unknown keys are errors with a suggestion.
    func mapping(_ node: Node, what: String, allowed: [String]?) throws(SuperwatchError) -> [(key: String, keyNode: Node, value: Node)] {
        guard case .mapping(let mapping) = node else {
            throw error(node, "\(what) must be a mapping, found \(Self.kind(node))")
        }
        var pairs: [(key: String, keyNode: Node, value: Node)] = []
        for (keyNode, value) in mapping {
            guard case .scalar(let scalar) = keyNode else {
                throw error(keyNode, "keys of \(what) must be plain names, found \(Self.kind(keyNode))")
            }
            let key = scalar.string
            if let allowed, !allowed.contains(key) {
                var message = "unknown key `\(key)` in \(what)"
                if let suggestion = closestMatch(to: key, in: allowed) { message += "; did you mean `\(suggestion)`?" }
                else { message += "; allowed keys: \(allowed.joined(separator: ", "))" }
                throw error(keyNode, message)
            }
            pairs.append((key, keyNode, value))
        }
        return pairs
    }

    func string(_ node: Node, what: String) throws(SuperwatchError) -> String {
        guard case .scalar(let scalar) = node, Self.kind(node) == "a scalar" else {
            throw error(node, "\(what) must be a string, found \(Self.kind(node))")
        }
        return scalar.string
    }

    func nonEmptyString(_ node: Node, what: String) throws(SuperwatchError) -> String {
        let value = try string(node, what: what)
        if value.trimmingWhitespace().isEmpty { throw error(node, "\(what) must not be empty") }
        return value
    }

    func integer(_ node: Node, what: String, range: ClosedRange<Int>) throws(SuperwatchError) -> Int {
        let text = try string(node, what: what)
        guard let value = Int(text) else { throw error(node, "\(what) must be a whole number, found `\(text)`") }
        guard range.contains(value) else {
            throw error(node, "\(what) must be between \(range.lowerBound) and \(range.upperBound), found \(value)")
        }
        return value
    }

    func duration(_ node: Node, what: String) throws(SuperwatchError) -> Duration {
        let text = try string(node, what: what)
        guard let value = parseDuration(text) else {
            throw error(node, "\(what): `\(text)` is not a duration; write e.g. 250ms, 1.5s, 2m or a number of seconds")
        }
        return value
    }

    func list(_ node: Node, what: String) throws(SuperwatchError) -> [Node] {
        guard case .sequence(let sequence) = node else {
            throw error(node, "\(what) must be a list, found \(Self.kind(node))")
        }
        return Array(sequence)
    }

    func stringList(_ node: Node, what: String) throws(SuperwatchError) -> [String] {
        var result: [String] = []
        for item in try list(node, what: what) { result.append(try nonEmptyString(item, what: "an item of \(what)")) }
        return result
    }

    func environment(_ node: Node, what: String) throws(SuperwatchError) -> [String: String] {
        var env: [String: String] = [:]
        for (key, keyNode, value) in try mapping(node, what: what, allowed: nil) {
            guard isValidEnvName(key) else {
                throw error(keyNode, "`\(key)` is not a valid environment variable name (letters, digits, _; not starting with a digit)")
            }
            env[key] = try string(value, what: "the value of \(key)")
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

    /// The variables of one env file; its own errors point into it.
    func readEnvFile(_ path: String, shownAs shown: String) throws(SuperwatchError) -> [String: String] {
        let text = try SourceLines.read(path: path, what: "env file")
        var env: [String: String] = [:]
        for (key, value) in try DotEnv.parse(text, file: shown) { env[key] = value }
        return env
    }

    /// `env_file:` (a path or a list of them): the variables of the files, later files over earlier ones.
    /// A file that does not exist is an error at its entry.
    func envFiles(_ node: Node, what: String) throws(SuperwatchError) -> [String: String] {
        let items: [Node]
        if case .sequence = node { items = try list(node, what: what) } else { items = [node] }
        var env: [String: String] = [:]
        for item in items {
            let written = try nonEmptyString(item, what: what)
            let path = resolvePath(written, against: directory)
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue else {
                throw error(item, "\(what): \(shownPath(written)) does not exist; create it or remove it from the config")
            }
            env.merge(try readEnvFile(path, shownAs: shownPath(written))) { $1 }
        }
        return env
    }

    /// The variables of `.env` beside the config, or none when there is no such file.
    func defaultEnvFile() throws(SuperwatchError) -> [String: String] {
        let name = ConfigLoader.defaultEnvFileName
        let path = resolvePath(name, against: directory)
        guard FileManager.default.fileExists(atPath: path) else { return [:] }
        return try readEnvFile(path, shownAs: shownPath(name))
    }

    func resolvePath(_ path: String, against base: String) -> String {
        let joined = path.hasPrefix("/") ? path : "\(base)/\(path)"
        return URL(fileURLWithPath: joined).standardizedFileURL.path
    }

    mutating func config(_ root: Node) throws(SuperwatchError) -> Config {
        var env: [String: String] = [:]
        var envFileNode: Node?
        var processesNode: Node?
        for (key, keyNode, value) in try mapping(root, what: "the top level", allowed: ConfigKeys.topLevel) {
            switch key {
            case "version":
                guard (try? string(value, what: "version")) == "1" else {
                    throw error(value, "unsupported config version; this superwatch reads `version: 1`")
                }
            case "env": env = try environment(value, what: "`env`")
            case "env_file": envFileNode = value
            case "processes": processesNode = value
            default: throw error(keyNode, "unknown key `\(key)`")
            }
        }
        // The files are read before the processes so that their errors come first, as they come first in
        // the environment; `env` wins over them.
        let fileEnv: [String: String]
        if let envFileNode { fileEnv = try envFiles(envFileNode, what: "`env_file`") } else { fileEnv = try defaultEnvFile() }
        env = fileEnv.merging(env) { $1 }
        guard let processesNode else {
            throw SuperwatchError(.invalidConfig, "missing `processes:`; declare at least one process",
                                  at: location(root))
        }
        let entries = try mapping(processesNode, what: "`processes`", allowed: nil)
        if entries.isEmpty { throw error(processesNode, "`processes` is empty; declare at least one process") }
        var processes: [ProcessSpec] = []
        for (name, nameNode, value) in entries {
            guard isValidProcessName(name) else {
                throw error(nameNode, "process name `\(name)` may only contain letters, digits, `_` and `-`")
            }
            processes.append(try process(name: name, nameNode: nameNode, value))
        }
        return Config(file: file, directory: directory, env: env, processes: processes)
    }

    func process(name: String, nameNode: Node, _ node: Node) throws(SuperwatchError) -> ProcessSpec {
        let pairs = try mapping(node, what: "process `\(name)`", allowed: ConfigKeys.process)
        var spec = ProcessSpec(name: name, command: .shell(""), cwd: directory)
        var hasCommand = false
        var werkzeugTarget: String?
        var python: (String, Node)?
        var debug: (Bool, Node)?
        var ownEnv: [String: String] = [:]
        var fileEnv: [String: String] = [:]
        for (key, keyNode, value) in pairs {
            let what = "`\(key)`"
            switch key {
            case "command":
                if case .sequence = value {
                    let argv = try stringList(value, what: what)
                    if argv.isEmpty { throw error(value, "`command` must not be an empty list") }
                    spec.command = .argv(argv)
                } else {
                    spec.command = .shell(try nonEmptyString(value, what: what))
                }
                if werkzeugTarget != nil {
                    throw error(keyNode, "`command` and `werkzeug` cannot both be given; `werkzeug` runs the app itself")
                }
                hasCommand = true
            case "cwd":
                spec.cwd = resolvePath(try nonEmptyString(value, what: what), against: directory)
                var isDirectory: ObjCBool = false
                guard FileManager.default.fileExists(atPath: spec.cwd, isDirectory: &isDirectory), isDirectory.boolValue else {
                    throw error(value, "`cwd` \(spec.cwd) is not an existing directory")
                }
            case "env": ownEnv = try environment(value, what: what)
            case "env_file": fileEnv = try envFiles(value, what: what)
            case "replicas":
                spec.replicas = try integer(value, what: what, range: 1...1000)
            case "restart_codes":
                var codes: Set<Int32> = []
                for item in try list(value, what: what) {
                    codes.insert(Int32(try integer(item, what: "a restart code", range: 0...255)))
                }
                spec.restartCodes = codes
            case "restart":
                let text = try string(value, what: what)
                guard let policy = RestartPolicy(rawValue: text) else {
                    throw error(value, "`restart` must be one of never, on-failure, always; found `\(text)`")
                }
                spec.restart = policy
            case "max_restarts": spec.maxRestarts = try integer(value, what: what, range: 0...1_000_000)
            case "backoff":
                spec.backoff = try duration(value, what: what)
                if spec.backoff == .zero { throw error(value, "`backoff` must be more than 0") }
            case "stop_signal":
                let text = try string(value, what: what)
                guard let number = SignalName.number(text) else {
                    throw error(value, "unknown signal `\(text)`; use one of \(SignalName.all.map(\.name).joined(separator: ", "))")
                }
                spec.stopSignal = number
            case "stop_timeout": spec.stopTimeout = try duration(value, what: what)
            case "watch": spec.watch = try stringList(value, what: what)
            case "ignore": spec.ignore = try stringList(value, what: what)
            case "extra_files":
                spec.extraFiles = try stringList(value, what: what).map { resolvePath($0, against: directory) }
            case "watcher":
                let text = try string(value, what: what)
                guard let kind = WatcherKind(rawValue: text) else {
                    throw error(value, "`watcher` must be one of auto, native, poll; found `\(text)`")
                }
                spec.watcher = kind
            case "interval":
                spec.interval = try duration(value, what: what)
                if spec.interval == .zero { throw error(value, "`interval` must be more than 0") }
            case "debounce": spec.debounce = try duration(value, what: what)
            case "listen":
                let items: [Node]
                if case .sequence = value { items = try list(value, what: what) } else { items = [value] }
                for item in items {
                    let text = try nonEmptyString(item, what: "`listen`")
                    switch ListenAddress.parse(text, directory: directory) {
                    case .success(let address):
                        if case .tcp(let host, _) = address, let problem = unresolvableHost(host) {
                            throw error(item, "`listen`: cannot resolve `\(host)`: \(problem)")
                        }
                        spec.listen.append(ListenSpec(address, at: location(item)))
                    case .failure(let failure): throw error(item, "`listen`: \(failure.message)")
                    }
                }
            case "werkzeug":
                let target = try nonEmptyString(value, what: what)
                guard target.first?.isLetter == true || target.first == "_" else {
                    throw error(value, "`werkzeug` takes module:attribute or module:factory(), as flask --app does")
                }
                if hasCommand {
                    throw error(keyNode, "`command` and `werkzeug` cannot both be given; `werkzeug` runs the app itself")
                }
                werkzeugTarget = target
            case "python": python = (try nonEmptyString(value, what: what), keyNode)
            case "debug":
                switch try string(value, what: what) {
                case "true", "True", "yes", "on": debug = (true, keyNode)
                case "false", "False", "no", "off": debug = (false, keyNode)
                default: throw error(value, "`debug` must be true or false")
                }
            default: break
            }
        }
        if let werkzeugTarget {
            var interpreter = python?.0 ?? "python3"
            if interpreter.contains("/") { interpreter = resolvePath(interpreter, against: directory) }
            spec.werkzeug = WerkzeugApp(target: werkzeugTarget, python: interpreter, debug: debug?.0 ?? false)
            spec.command = .argv([interpreter, "<superwatch-werkzeug.py>", werkzeugTarget])
            // Without `listen`, StackPlan binds 127.0.0.1 on the port it assigns the process.
        } else {
            if let (_, node) = python ?? debug.map({ ("", $0.1) }) {
                throw error(node, "`python` and `debug` only apply to a `werkzeug:` process")
            }
            guard hasCommand else {
                throw error(nameNode, "process `\(name)` has no `command` (or `werkzeug`)")
            }
        }

        // The process's own files, then its own `env` over them; both go over the global env when it starts.
        spec.env = fileEnv.merging(ownEnv) { $1 }
        // extra_files are relative to the config file's directory, like every other path in it; `cwd`
        // may come after them in the mapping, so nothing above depends on its order.
        return spec
    }
}

/// Why `host` (a `listen` host) cannot be resolved, or nil when it can (or is empty: every interface), so
/// that a config `check` accepts is one `up` can bind.
func unresolvableHost(_ host: String) -> String? {
    guard !host.isEmpty else { return nil }
    var hints = addrinfo()
    hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
    hints.ai_flags = AI_PASSIVE
    var list: UnsafeMutablePointer<addrinfo>?
    let rc = getaddrinfo(host, nil, &hints, &list)
    if let list { freeaddrinfo(list) }
    return rc == 0 ? nil : String(cString: gai_strerror(rc))
}

func isValidProcessName(_ name: String) -> Bool {
    !name.isEmpty && name.unicodeScalars.allSatisfy { $0.isASCII && (CharacterSet.alphanumerics.contains($0) || $0 == "_" || $0 == "-") }
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
    let a = Array(a), b = Array(b)
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
