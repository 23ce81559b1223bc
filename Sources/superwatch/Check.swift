import ArgumentParser
import SuperwatchCore

extension Superwatch {
    struct Check: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Validate the config and print the processes as superwatch resolved them.")

        @OptionGroup var config: ConfigOptions

        func run() async throws {
            let loaded = try config.load()
            print(describe(loaded), terminator: "")
        }
    }
}
