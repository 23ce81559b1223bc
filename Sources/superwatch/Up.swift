import ArgumentParser
import Foundation
import SuperwatchCore

extension Superwatch {
    struct Up: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Start the processes and supervise them until interrupted or all are done.")

        @OptionGroup var config: ConfigOptions

        @Argument(
            help: "Names of the processes to start (default: all); NAME.N names one replica.",
            completion: .custom(processNameCompletions))
        var names: [String] = []

        @Flag(help: "Print HH:MM:SS before each line.")
        var timestamps = false

        @Option(help: "Colour the names: auto (when stdout is a terminal), always or never.")
        var color: ColorMode = .auto

        @Option(help: "How to print the log: text (prefixed lines) or json (one object per line).")
        var logFormat: LogFormatOption = .text

        @OptionGroup var plan: PlanOptions

        @Option(
            help: ArgumentHelp(
                "Also serve the control API on this loopback TCP address, with a bearer token (port 0: any free one).",
                valueName: "host:port"))
        var api: String?

        @Flag(help: "Allow --api on an address other than loopback.")
        var apiAllowRemote = false

        func run() async throws {
            let loaded = try config.load()
            let environment = ProcessInfo.processInfo.environment
            let log = LogOptions(
                color: color.appliesToStdout && logFormat == .text, timestamps: timestamps,
                format: logFormat == .json ? .json : .text)
            do {
                let apiAddress = try api.map { text throws(SuperwatchError) in
                    try APIAddress.parse(text, allowRemote: apiAllowRemote)
                }
                let source = try plan.source(loaded.file, only: names)
                let planned = try source.plan(loaded)
                // One `up` per config: held until this process exits (the kernel drops it even after SIGKILL).
                let runtime = try RuntimeDirectory.prepare(environment: environment)
                let stack = try StackKey(configPath: loaded.file)
                let lock = try StackLock.acquire(stack, in: runtime)
                // Beside the lock, so only this `up` uses it, and a leftover of a killed one is replaced.
                let python = runtime.file(for: stack, extension: "python")
                let supervisor = Supervisor(
                    planned: planned, source: source, options: UpOptions(log: log, pythonDirectory: python))
                let server = ControlServer.Options(
                    socketPath: try ControlSocket.path(for: stack, environment: environment),
                    api: apiAddress,
                    stack: ControlAPI.Stack(
                        pid: getpid(), config: stack.realPath, lock: lock.path,
                        version: superwatchVersion))
                let status = try await ControlServer.serving(supervisor, options: server) { endpoints in
                    if let endpoints, let url = endpoints.apiURL, let token = endpoints.token {
                        let names = planned.plan.processes.map(\.name)
                        printBytes(
                            LogFormatter(names: names, options: log).event(
                                process: nil,
                                SupervisorEvent(
                                    .notice,
                                    "control API on \(url)/v1 with `Authorization: Bearer \(token)` "
                                        + "(the token is also in \(endpoints.tokenPath ?? "the token file"))",
                                    [("address", .string(url))])))
                    }
                    return try await supervisor.run()
                }
                withExtendedLifetime(lock) {}
                throw ExitCode(status)
            } catch let error as SuperwatchError {
                throw report(error)
            }
        }
    }
}

enum ColorMode: String, ExpressibleByArgument, CaseIterable {
    case auto, always, never

    /// Whether superwatch's stdout gets colour (`auto`: a terminal, and NO_COLOR unset), for `up` and `logs` alike.
    var appliesToStdout: Bool {
        LogOptions.shouldColor(
            flag: rawValue, environment: ProcessInfo.processInfo.environment, stdoutIsTerminal: isatty(1) != 0)
    }
}

enum LogFormatOption: String, ExpressibleByArgument, CaseIterable {
    case text, json
}
