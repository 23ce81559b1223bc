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

        func run() async throws {
            let loaded = try config.load()
            let environment = ProcessInfo.processInfo.environment
            let color = LogOptions.shouldColor(
                flag: color.rawValue, environment: environment, stdoutIsTerminal: isatty(1) != 0)
            let log = LogOptions(
                color: color && logFormat == .text, timestamps: timestamps,
                format: logFormat == .json ? .json : .text)
            do {
                let planned = try plan.plan(loaded, only: names)
                // One `up` per config: held until this process exits (the kernel drops it even after SIGKILL).
                let runtime = try RuntimeDirectory.prepare(environment: environment)
                let stack = try StackKey(configPath: loaded.file)
                let lock = try StackLock.acquire(stack, in: runtime)
                // Beside the lock, so only this `up` uses it, and a leftover of a killed one is replaced.
                let python = runtime.file(for: stack, extension: "python")
                let supervisor = Supervisor(config: planned, options: UpOptions(log: log, pythonDirectory: python))
                let status = try await supervisor.run()
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
}

enum LogFormatOption: String, ExpressibleByArgument, CaseIterable {
    case text, json
}
