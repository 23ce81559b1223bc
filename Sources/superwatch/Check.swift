import ArgumentParser
import Foundation
import SuperwatchCore

extension Superwatch {
    struct Check: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Validate the config and print the processes as superwatch resolved them.")

        @OptionGroup var config: ConfigOptions

        func run() async throws {
            print(describe(try config.loadPlan().plan), terminator: "")
        }
    }
}
