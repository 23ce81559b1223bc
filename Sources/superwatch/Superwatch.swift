import ArgumentParser
import Foundation
import SuperwatchCore

@main
struct Superwatch: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "superwatch",
        abstract: "Run a local development stack: several processes, one log stream, per-process reloads.",
        version: superwatchVersion,
        subcommands: [
            Up.self, Status.self, Restart.self, Stop.self, Start.self, Reload.self, Logs.self, Attach.self, Down.self,
            Check.self,
            Export.self,
        ]
    )

    /// argument-parser's own `main`, except that a bad command line exits with 2 (as a bad config does, and
    /// as the man page says) instead of its default 64.
    static func main() async {
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            if !(error is ExitCode), exitCode(for: error) == .validationFailure {
                var standardError = StandardError()
                print(fullMessage(for: error), to: &standardError)
                Self.exit(withError: ExitCode(2))
            }
            Self.exit(withError: error)
        }
    }
}

/// `--file` without its short form, for `logs`, where `-f` means `--follow` as in `tail -f`, `docker logs -f`
/// and `kubectl logs -f`: the one place a user types `-f` expecting something else.
struct LongConfigOptions: ParsableArguments {
    @Option(
        name: .long,
        help: "The config file (default: ./superwatch.yaml, ./superwatch.yml or ./Procfile).",
        completion: .file())
    var file: String?

    var options: ConfigOptions {
        var options = ConfigOptions()
        options.file = file
        return options
    }
}

/// Options every subcommand that reads a config shares.
struct ConfigOptions: ParsableArguments {
    @Option(
        name: [.customShort("f"), .long],
        help: "The config file (default: ./superwatch.yaml, ./superwatch.yml or ./Procfile).",
        completion: .file())
    var file: String?

    func load() throws -> Config {
        do {
            let path = try ConfigLoader.locate(explicit: file, in: ".")
            let config = try ConfigLoader.load(path: path)
            for warning in config.warnings { printError(warning.description) }
            return config
        } catch {
            throw report(error)
        }
    }

    /// The client of the `up` running this config: its socket is found from the config's path (or
    /// `SUPERWATCH_SOCKET`, which also works where no config is found); the config itself is not read, so a
    /// running stack can be operated while its file is being edited.
    func client() throws -> ControlClient {
        let environment = ProcessInfo.processInfo.environment
        do {
            let path: String
            do {
                path = try ConfigLoader.locate(explicit: file, in: ".")
            } catch {
                guard file == nil, let socket = environment[ControlSocket.environmentVariable], !socket.isEmpty else {
                    throw error
                }
                return ControlClient(target: .unix(path: socket), stackName: socket)
            }
            return try ControlClient.forConfig(path, environment: environment)
        } catch let error as SuperwatchError {
            throw report(error)
        }
    }

    /// The config as `up` would run it with no -c or --port: replicas expanded, PORT assigned.
    func loadPlan() throws -> (config: Config, plan: Config) {
        let loaded = try load()
        do {
            let plan = try StackPlan.make(
                loaded,
                basePort: StackPlan.basePort(
                    flag: nil, config: loaded, environment: ProcessInfo.processInfo.environment))
            return (loaded, plan)
        } catch {
            throw report(error)
        }
    }
}

/// The options that change what `up` runs, beyond which config: `up` and `check` both take them (one
/// definition), so `check` shows exactly the processes, copies and ports that `up` with the same options starts.
struct PlanOptions: ParsableArguments {
    @Option(
        name: [.customShort("c"), .long],
        help: ArgumentHelp(
            "Copies to run, over each process's `replicas`: NAME=COUNT,... (0 leaves a process out).",
            valueName: "name=count,..."))
    var concurrency: [String] = []

    @Option(help: "The base of the PORT each process gets (default: PORT from .env or env, else $PORT, else 5000).")
    var port: Int?

    @Flag(help: "Run every process on a pseudo-terminal, as `tty: true` does (see `superwatch attach`).")
    var tty = false

    /// `loaded` expanded as `up NAMES...` with these options runs it.
    func plan(_ loaded: Config, only names: [String] = []) throws(SuperwatchError) -> Config {
        try source(loaded.file, only: names).plan(loaded).plan
    }

    /// How `up NAMES...` with these options plans the config at `path`, first and on each live reload.
    func source(_ path: String, only names: [String] = []) throws(SuperwatchError) -> PlanSource {
        var source = PlanSource(
            path: path, concurrency: try StackPlan.parseConcurrency(concurrency), only: names, portFlag: port,
            environment: ProcessInfo.processInfo.environment)
        source.allOnTerminals = tty
        return source
    }
}

/// Prints a superwatch error the way users read it and turns it into the documented exit status.
func report(_ error: SuperwatchError) -> ExitCode {
    printError(error.description)
    return ExitCode(error.exitStatus)
}

func printError(_ message: String) {
    var standardError = StandardError()
    print("superwatch: \(message)", to: &standardError)
}

/// Writes `bytes` to stdout whole (no `print` buffering between lines of a followed log).
func printBytes<Bytes: Collection<UInt8>>(_ bytes: Bytes) {
    var copy = Array(bytes)
    _ = copy.withUnsafeMutableBytes { writeAll(1, $0) }
}

struct StandardError: TextOutputStream {
    mutating func write(_ string: String) {
        var bytes = Array(string.utf8)
        _ = bytes.withUnsafeMutableBytes { writeAll(2, $0) }
    }
}
