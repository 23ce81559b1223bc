import ArgumentParser
import Foundation
import SuperwatchCore

extension Superwatch {
    struct Up: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Start the processes and supervise them until interrupted or all are done.")

        @OptionGroup var config: ConfigOptions

        @Argument(help: "Names of the processes to start (default: all).")
        var names: [String] = []

        @Flag(help: "Print HH:MM:SS before each line.")
        var timestamps = false

        @Option(help: "Colour the names: auto (when stdout is a terminal), always or never.")
        var color: ColorMode = .auto

        func run() async throws {
            let loaded = try config.load()
            let environment = ProcessInfo.processInfo.environment
            let log = LogOptions(
                color: LogOptions.shouldColor(flag: color.rawValue, environment: environment, stdoutIsTerminal: isatty(1) != 0),
                timestamps: timestamps)
            do {
                let supervisor = try Supervisor(config: loaded, options: UpOptions(only: names, log: log))
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
