import ArgumentParser
import Foundation
import SuperwatchCore

extension Superwatch {
    struct Check: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Validate the config and print the processes as superwatch resolved them.")

        @OptionGroup var config: ConfigOptions

        @OptionGroup var plan: PlanOptions

        func run() async throws {
            let loaded = try config.load()
            do {
                print(describe(try plan.plan(loaded)), terminator: "")
            } catch {
                throw report(error)
            }
        }
    }
}
