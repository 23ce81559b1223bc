import Foundation
import SuperwatchCore

/// Which reader a fuzz input goes to.
public enum ConfigFuzzTarget: String, Sendable, CaseIterable {
    /// `superwatch.yaml`, through the whole loader and `StackPlan`.
    case config
    /// A Procfile, through the same path (with the fixture's `.env`).
    case procfile
    /// An env file on its own.
    case env
}

/// The properties the fuzz target (`fuzz/run.sh`) checks for every input, and the corpus test replays:
/// the readers never crash (a crash ends the process, which libFuzzer reports); every rejection is
/// one `FILE:LINE:COL: error:` line; and whatever is accepted can be started — the plan `check` prints can be made, and every
/// string that would reach `execve`, every duration and every glob is one `up` can use without an error or
/// an arithmetic trap. (No hang is libFuzzer's `-timeout` per input.)
///
/// Relative paths in an input resolve against `fuzz/fixture`, which holds the files the seed corpus names.
/// Host names in `listen` are looked up as IP literals only, so that no input waits on DNS.
public struct ConfigFuzzer: Sendable {
    public let target: ConfigFuzzTarget
    public let fixture: String

    public init(target: ConfigFuzzTarget, fixture: String = repositoryRoot.appendingPathComponent("fuzz/fixture").path)
    {
        self.target = target
        self.fixture = fixture
    }

    /// The committed seed inputs for `target`.
    public static func corpus(_ target: ConfigFuzzTarget) -> [URL] {
        let directory = repositoryRoot.appendingPathComponent("fuzz/corpus/\(target.rawValue)")
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return names.sorted().map { directory.appendingPathComponent($0) }
    }

    /// Nil when `input` passes every property; else what went wrong.
    public func violation(for input: [UInt8]) -> String? {
        switch target {
        case .config, .procfile:
            let path = "\(fixture)/\(target == .config ? "superwatch.yaml" : "Procfile")"
            let config: Config
            do {
                config = try ConfigLoader.parse(bytes: input, path: path, hostLookup: .numericOnly)
            } catch {
                return unpositioned(error)
            }
            return problemStarting(config)
        case .env:
            do {
                for (key, value) in try DotEnv.parse(bytes: input, file: ".env") {
                    guard Self.isValidEnvName(key) else { return "accepted the variable name \(key.debugDescription)" }
                    if let problem = ExecLimits.environmentProblem(key: key, value: value) {
                        return "accepted \(key): \(problem)"
                    }
                }
                return nil
            } catch {
                return unpositioned(error)
            }
        }
    }

    /// A description of `error` when it does not point at a line and column, or is not one line.
    public func unpositioned(_ error: SuperwatchError) -> String? {
        guard let location = error.location, location.line > 0, location.column > 0 else {
            return "a rejection without LINE:COL: \(error.description)"
        }
        if error.description.contains(where: \.isNewline) {
            return "a rejection of several lines: \(error.description)"
        }
        return nil
    }

    /// Why `up` could not start what the loader accepted, or nil.
    public func problemStarting(_ config: Config) -> String? {
        let plan: Config
        do {
            plan = try StackPlan.make(config)
        } catch {
            // `check` makes the plan too, so its refusal must be positioned like any other.
            return unpositioned(error)
        }
        _ = describe(plan)
        if let (key, problem) = ExecLimits.firstEnvironmentProblem(plan.env) { return "global env \(key): \(problem)" }
        for spec in plan.processes {
            let name = spec.name
            guard let program = spec.command.arguments.first, !program.isEmpty else {
                return "\(name): an empty command"
            }
            for argument in spec.command.arguments {
                if let problem = ExecLimits.argumentProblem(argument) {
                    return "\(name): argument \(argument.prefix(40)): \(problem)"
                }
            }
            var environment = plan.env.merging(spec.env) { $1 }
            environment["SUPERWATCH_PROCESS"] = name
            if let app = spec.werkzeug { environment[WerkzeugApp.targetVariable] = app.target }
            for key in environment.keys where !Self.isValidEnvName(key) {
                return "\(name): the variable name \(key.debugDescription)"
            }
            if let (key, problem) = ExecLimits.firstEnvironmentProblem(environment) {
                return "\(name): \(key): \(problem)"
            }
            let original = config.processes.first { $0.name == (spec.replicaOf ?? spec.name) }
            let configSetsPort = config.env["PORT"] != nil || original?.env["PORT"] != nil
            if !configSetsPort, spec.firstTCPPort == nil, Self.portNumber(environment["PORT"] ?? "") == nil {
                return "\(name): superwatch assigned PORT=\(environment["PORT"] ?? "nothing")"
            }
            for (key, value) in [
                (DurationKey.backoff, spec.backoff), (.stopTimeout, spec.stopTimeout),
                (.interval, spec.interval), (.debounce, spec.debounce), (.readyTimeout, spec.readyTimeout),
                (.readyPeriod, spec.readyPeriod),
            ] {
                if value > key.maximum || value < .zero || (key.mustBePositive && value == .zero) {
                    return "\(name): \(key.rawValue) \(value)"
                }
            }
            // The arithmetic `up` does with them: deadlines, the doubling backoff, the keeper's milliseconds.
            let now = ContinuousClock.now
            _ = [now + spec.interval, now + spec.debounce, now + spec.stopTimeout]
            _ = RestartTracker.delay(base: spec.backoff, attempt: spec.maxRestarts)
            guard Int32(exactly: spec.stopTimeout.milliseconds) != nil else {
                return "\(name): stop_timeout \(spec.stopTimeout)"
            }
            if spec.werkzeug != nil && spec.listen.isEmpty { return "\(name): a werkzeug process with no address" }
            for listen in spec.listen {
                if case .unix(let path) = listen.address, path.utf8.count >= 108 || path.utf8.contains(0) {
                    return "\(name): socket path \(path)"
                }
            }
            let watch = WatchSpec(process: ProcessID(0), spec: spec)
            if !watch.isEmpty {
                do { try watch.validate() } catch {
                    return "\(name): the watcher would refuse it: \(error.description)"
                }
            }
        }
        return nil
    }

    /// Letters, digits and `_`, not starting with a digit: a name `env` and `execve` take.
    static func isValidEnvName(_ name: String) -> Bool {
        guard let first = name.utf8.first, !(UInt8(ascii: "0")...UInt8(ascii: "9")).contains(first) else {
            return false
        }
        return name.utf8.allSatisfy {
            ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x61 && $0 <= 0x7A) || $0 == 0x5F
        }
    }

    /// `text` as a port number: 1 to 5 digits, at most 65535.
    static func portNumber(_ text: String) -> UInt16? {
        guard (1...5).contains(text.utf8.count), text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
        return UInt16(text)
    }
}
