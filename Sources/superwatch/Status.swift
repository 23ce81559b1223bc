import ArgumentParser
import Foundation
import SuperwatchCore

extension Superwatch {
    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show the processes of the running `up`: state, pid, uptime, restarts, last exit, address.",
            aliases: ["ps"])

        @OptionGroup var config: ConfigOptions

        @Flag(help: "Print the control API's JSON instead of a table.")
        var json = false

        func run() async throws {
            let client = try config.client()
            do {
                let processes = try await client.status()
                if json {
                    printBytes(try ControlAPI.encoder().encode(ControlAPI.ProcessList(processes: processes)) + [0x0A])
                } else {
                    printBytes(Array(StatusTable.render(processes, now: Date()).utf8))
                }
            } catch let error as SuperwatchError {
                throw report(error)
            }
        }
    }
}
