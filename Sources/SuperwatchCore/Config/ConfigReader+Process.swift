import Foundation
import Yams

/// One process's mapping in `processes:`.
extension ConfigReader {
    /// `logBuffer`: the top-level `log_buffer`, which the process's own overrides.
    func process(
        name: String, nameNode: Node, _ node: Node, globalEnv: [String: EnvValue], logBuffer: Int
    ) throws(SuperwatchError) -> ProcessSpec {
        let pairs = try mapping(node, what: "process `\(name)`", allowed: ConfigKeys.process)
        var spec = ProcessSpec(name: name, command: .shell(""), cwd: directory)
        spec.logBuffer = logBuffer
        spec.location = location(nameNode)
        // Every other path in the mapping is relative to `cwd`, wherever it is written in it.
        if let value = pairs.first(where: { $0.key == "cwd" })?.value {
            spec.cwd = resolvePath(try nonEmptyString(value, what: "`cwd`"), against: directory)
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: spec.cwd, isDirectory: &isDirectory), isDirectory.boolValue
            else {
                throw error(value, "`cwd` \(spec.cwd) is not an existing directory")
            }
        }
        var commandNode: Node?
        var werkzeugTarget: String?
        var python: (String, Node)?
        var debug: (Bool, Node)?
        var reloaderNode: Node?
        var ownEnv: [String: EnvValue] = [:]
        var fileEnv: [String: EnvValue] = [:]
        for (key, keyNode, value) in pairs {
            let what = "`\(key)`"
            spec.keyLocations[key] = location(keyNode)
            switch key {
            case "command":
                if case .sequence = value {
                    let argv = try stringItems(value, what: what)
                    if argv.isEmpty { throw error(value, "`command` must not be an empty list") }
                    for (argument, item) in argv {
                        if let problem = ExecLimits.argumentProblem(argument) {
                            throw error(item, "an item of `command`: \(problem)")
                        }
                    }
                    spec.command = .argv(argv.map(\.text))
                } else {
                    spec.command = .shell(try nonEmptyString(value, what: what))
                    // What actually reaches execve: `/bin/sh -c 'exec LINE'`.
                    for argument in spec.command.arguments {
                        if let problem = ExecLimits.argumentProblem(argument) {
                            throw error(value, "`command` is too long: \(problem)")
                        }
                    }
                }
                if werkzeugTarget != nil {
                    throw error(
                        keyNode, "`command` and `werkzeug` cannot both be given; `werkzeug` runs the app itself")
                }
                commandNode = value
            case "cwd": break  // read first, above
            case "env": ownEnv = try environment(value, what: what)
            case "env_file": fileEnv = try envFiles(value, what: what, base: spec.cwd, outer: globalEnv)
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
                    throw error(value, "`restart` must be one of never, on-failure, always; found `\(shown(text))`")
                }
                spec.restart = policy
            case "max_restarts": spec.maxRestarts = try integer(value, what: what, range: 0...1_000_000)
            case "log_buffer": spec.logBuffer = try integer(value, what: what, range: ProcessSpec.logBufferRange)
            case "backoff": spec.backoff = try duration(value, key: .backoff)
            case "stop_signal":
                let text = try string(value, what: what)
                guard let signal = UnixSignal(name: text) else {
                    throw error(
                        value,
                        "unknown signal `\(shown(text))`; use one of "
                            + UnixSignal.configurable.map(\.name).joined(separator: ", "))
                }
                spec.stopSignal = signal
            case "stop_timeout": spec.stopTimeout = try duration(value, key: .stopTimeout)
            case "watch":
                let items = try stringItems(value, what: what)
                for (pattern, item) in items {
                    // Compiled now, so that a bad glob is an error here and not when `up` starts watching.
                    do { _ = try Glob(pattern) } catch { throw self.error(item, "`watch`: \(error.message)") }
                }
                spec.watch = items.map(\.text)
            case "ignore":
                let items = try stringItems(value, what: what)
                for (pattern, item) in items {
                    do { _ = try WatchRules(globs: [], ignore: [pattern]) } catch {
                        throw self.error(item, "`ignore`: \(error.message)")
                    }
                }
                spec.ignore = items.map(\.text)
            case "extra_files":
                // A file that does not exist yet is fine: the watcher says so at start and waits for it.
                spec.extraFiles = try stringList(value, what: what).map { resolvePath($0, against: spec.cwd) }
            case "watcher":
                let text = try string(value, what: what)
                guard let kind = WatcherKind(rawValue: text) else {
                    throw error(value, "`watcher` must be one of auto, native, poll; found `\(shown(text))`")
                }
                spec.watcher = kind
            case "interval": spec.interval = try duration(value, key: .interval)
            case "debounce": spec.debounce = try duration(value, key: .debounce)
            case "listen":
                let items = try oneOrMore(value, what: what)
                if items.isEmpty {
                    throw error(
                        value,
                        "`listen` must not be an empty list; name an address such as 127.0.0.1:5000, or remove it")
                }
                for item in items {
                    if case .scalar(let scalar) = item, case .integer? = try typed(item),
                        case .failure(let failure) = ListenAddress.parse(scalar.string, directory: spec.cwd)
                    {
                        // `listen: 5000` is a port without its host, not just a value of the wrong type.
                        throw error(item, "`listen`: \(failure.message)")
                    }
                    let text = try nonEmptyString(item, what: "`listen`")
                    switch ListenAddress.parse(text, directory: spec.cwd) {
                    case .success(let address):
                        if case .tcp(let host, _) = address, let problem = unresolvableHost(host, lookup: hostLookup) {
                            throw error(item, "`listen`: cannot resolve `\(host)`: \(problem)")
                        }
                        spec.listen.append(ListenSpec(address, at: location(item)))
                    case .failure(let failure): throw error(item, "`listen`: \(failure.message)")
                    }
                }
            case "werkzeug":
                let target = try nonEmptyString(value, what: what)
                guard WerkzeugApp.isValidTarget(target) else {
                    throw error(value, "`werkzeug` takes module:attribute or module:factory(), as flask --app does")
                }
                if let problem = ExecLimits.environmentProblem(key: WerkzeugApp.targetVariable, value: target) {
                    throw error(value, problem)
                }
                if commandNode != nil {
                    throw error(
                        keyNode, "`command` and `werkzeug` cannot both be given; `werkzeug` runs the app itself")
                }
                werkzeugTarget = target
            case "python":
                let interpreter = try nonEmptyString(value, what: what)
                if let problem = ExecLimits.argumentProblem(interpreter) {
                    throw error(value, "`python` is too long: \(problem)")
                }
                python = (interpreter, keyNode)
            case "debug": debug = (try bool(value, what: what), keyNode)
            case "reloader":
                let text = try string(value, what: what)
                guard let reloader = PythonReloader(rawValue: text) else {
                    throw error(value, "`reloader` must be superwatch or werkzeug; found `\(shown(text))`")
                }
                spec.reloader = reloader
                reloaderNode = keyNode
            case "image":
                let image = try nonEmptyString(value, what: what)
                if image.unicodeScalars.contains(where: { $0.properties.isWhitespace || $0.value < 0x20 }) {
                    throw error(value, "`image` must not contain spaces or control characters, found `\(shown(image))`")
                }
                spec.image = image
            case "ready": spec.ready = try probe(value, what: what, cwd: spec.cwd, liveness: false)
            case "ready_timeout": spec.readyTimeout = try duration(value, key: .readyTimeout)
            case "ready_period": spec.readyPeriod = try duration(value, key: .readyPeriod)
            case "health": spec.health = try healthCheck(value, cwd: spec.cwd)
            case "depends_on": spec.dependsOn = try dependencies(value, of: name)
            case "restart_dependents": spec.restartDependents = try bool(value, what: what)
            case "tty": spec.tty = try bool(value, what: what)
            default: break
            }
        }
        if let werkzeugTarget {
            if let reloaderNode {
                throw error(
                    reloaderNode, "`reloader` applies to a `command`; a `werkzeug:` process is reloaded by superwatch")
            }
            var interpreter = python?.0 ?? "python3"
            if interpreter.contains("/") { interpreter = resolvePath(interpreter, against: spec.cwd) }
            spec.command = .werkzeug(
                WerkzeugApp(target: werkzeugTarget, python: interpreter, debug: debug?.0 ?? false))
            // Without `listen`, StackPlan binds 127.0.0.1 on the port it assigns, or on the PORT the config sets.
            if spec.listen.isEmpty, let port = ownEnv["PORT"] ?? fileEnv["PORT"],
                ListenAddress.port(port.value) == nil
            {
                throw SuperwatchError(
                    .invalidConfig,
                    "PORT=\(shown(port.value)) is not a port number (0 to 65535); the `werkzeug:` process `\(name)` serves on it",
                    at: port.location)
            }
        } else {
            if let (_, node) = python ?? debug.map({ ("", $0.1) }) {
                throw error(node, "`python` and `debug` only apply to a `werkzeug:` process")
            }
            guard commandNode != nil else {
                throw error(nameNode, "process `\(name)` has no `command` (or `werkzeug`)")
            }
        }

        // The process's own files, then its own `env` over them; both go over the global env when it starts.
        spec.env = fileEnv.merging(ownEnv) { $1 }.mapValues(\.value)
        return spec
    }
}

extension WerkzeugApp {
    /// The variable that gives the bootstrap its target.
    public static let targetVariable = "SUPERWATCH_WSGI_APP"

    /// `module`, `package.module`, `module:attribute` or `module:factory(ARGS)` with ASCII identifiers and no
    /// line break: what `schema/superwatch.schema.json` allows, checked the same way.
    static func isValidTarget(_ target: String) -> Bool {
        let bytes = Array(target.utf8)
        guard !bytes.contains(UInt8(ascii: "\n")) else { return false }
        var index = 0
        func identifier() -> Bool {
            guard index < bytes.count, isIdentifierByte(bytes[index], first: true) else { return false }
            index += 1
            while index < bytes.count, isIdentifierByte(bytes[index], first: false) { index += 1 }
            return true
        }
        guard identifier() else { return false }
        while index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            index += 1
            guard identifier() else { return false }
        }
        guard index < bytes.count else { return true }
        guard bytes[index] == UInt8(ascii: ":") else { return false }
        index += 1
        guard identifier() else { return false }
        guard index < bytes.count else { return true }
        return bytes[index] == UInt8(ascii: "(") && bytes.last == UInt8(ascii: ")") && bytes.count - index >= 2
    }

    private static func isIdentifierByte(_ byte: UInt8, first: Bool) -> Bool {
        (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z"))
            || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
            || byte == UInt8(ascii: "_") || (!first && byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9"))
    }
}

/// Why `host` (a `listen` host) cannot be resolved, or nil when it can (or is empty: every interface), so
/// that a config `check` accepts is one `up` can bind.
func unresolvableHost(_ host: String, lookup: HostLookup = .system) -> String? {
    guard !host.isEmpty else { return nil }
    var hints = addrinfo()
    hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
    hints.ai_flags = AI_PASSIVE
    if lookup == .numericOnly && host != "localhost" { hints.ai_flags |= AI_NUMERICHOST }
    var list: UnsafeMutablePointer<addrinfo>?
    let rc = getaddrinfo(host, nil, &hints, &list)
    if let list { freeaddrinfo(list) }
    return rc == 0 ? nil : String(cString: gai_strerror(rc))
}
