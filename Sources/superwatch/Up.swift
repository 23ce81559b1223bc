import ArgumentParser
import Foundation
import SuperwatchCore

extension Superwatch {
    struct Up: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Start the processes and supervise them until interrupted or all are done.")

        @OptionGroup var config: ConfigOptions

        @Argument(help: "Names of the processes to start (default: all); NAME.N names one replica.")
        var names: [String] = []

        @Flag(help: "Print HH:MM:SS before each line.")
        var timestamps = false

        @Option(help: "Colour the names: auto (when stdout is a terminal), always or never.")
        var color: ColorMode = .auto

        @Option(help: "How to print the log: text (prefixed lines) or json (one object per line).")
        var logFormat: LogFormatOption = .text

        @Option(name: [.customShort("c"), .long],
                help: ArgumentHelp("Copies to run, over each process's `replicas`: NAME=COUNT,... (0 leaves a process out).",
                                   valueName: "name=count,..."))
        var concurrency: [String] = []

        @Option(help: "The base of the PORT each process gets (default: $PORT, else 5000).")
        var port: Int?

        func run() async throws {
            let loaded = try config.load()
            let environment = ProcessInfo.processInfo.environment
            let color = LogOptions.shouldColor(flag: color.rawValue, environment: environment, stdoutIsTerminal: isatty(1) != 0)
            let log = LogOptions(
                color: color && logFormat == .text, timestamps: timestamps,
                format: logFormat == .json ? .json : .text)
            do {
                if let port, !(1...65535).contains(port) {
                    throw SuperwatchError(.usage, "--port must be between 1 and 65535, found \(port)")
                }
                let planned = try StackPlan.make(
                    loaded, concurrency: try StackPlan.parseConcurrency(concurrency), only: names,
                    basePort: StackPlan.basePort(flag: port, environment: environment))
                let supervisor = Supervisor(config: planned, options: UpOptions(log: log))
                let status = try await supervisor.run()
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
