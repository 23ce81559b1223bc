import ArgumentParser
import Foundation
import SuperwatchCore

extension Superwatch {
    struct Logs: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the recent output of the running `up`'s processes, prefixed as `up` prints it.")

        @OptionGroup var config: LongConfigOptions

        @Argument(
            help: "Whose output (default: every process and superwatch's own events).",
            completion: .custom(processNameCompletions))
        var names: [String] = []

        @Option(name: [.customShort("n"), .long], help: "How many of the last lines to print.")
        var lines = ControlAPI.defaultTail

        @Flag(name: [.customShort("f"), .long], help: "Then print new lines as they come, until `up` ends or Ctrl-C.")
        var follow = false

        @Flag(help: "Print one JSON object per line (time, process, stream, text, kind).")
        var json = false

        @Option(help: "Colour the names: auto (when stdout is a terminal), always or never.")
        var color: ColorMode = .auto

        func validate() throws {
            guard (0...ControlAPI.maximumTail).contains(lines) else {
                throw ValidationError("-n must be from 0 to \(ControlAPI.maximumTail)")
            }
        }

        func run() async throws {
            let client = try config.options.client()
            let colored = color.appliesToStdout
            do {
                // Every process, for the width of the name column and each one's colour, as in `up`.
                let printer = LogRecordPrinter(
                    names: try await client.status().map(\.name), color: colored, json: json)
                if follow {
                    try await client.follow(names, tail: lines) { records in
                        printBytes(try records.flatMap { try printer.format($0) })
                    }
                } else {
                    for record in try await client.logs(names, tail: lines) { printBytes(try printer.format(record)) }
                }
            } catch let error as SuperwatchError {
                throw report(error)
            }
        }
    }
}
