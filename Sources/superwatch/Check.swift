import ArgumentParser
import Foundation
import SuperwatchCore

extension Superwatch {
    struct Check: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Validate the config and print the processes as superwatch resolved them.")

        @OptionGroup var config: ConfigOptions

        func run() async throws {
            let loaded = try config.load()
            do {
                // Shown as `up` would run it: replicas expanded, PORT assigned.
                let planned = try StackPlan.make(
                    loaded, basePort: StackPlan.basePort(flag: nil, environment: ProcessInfo.processInfo.environment))
                print(describe(planned), terminator: "")
            } catch {
                throw report(error)
            }
        }
    }
}
