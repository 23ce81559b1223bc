import ArgumentParser
import SuperwatchCore

extension Superwatch {
    struct Attach: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Connect this terminal to a `tty: true` process of the running `up`; Ctrl-] detaches.")

        @OptionGroup var config: ConfigOptions

        @Argument(
            help: "The process (NAME.N for one replica).", completion: .custom(processNameCompletions))
        var name: String

        func run() async throws {
            let client = try config.client()
            let name = self.name
            do {
                let end = try await client.attach(name) {
                    printError("attached to \(name); \(ControlClient.detachKeyName) detaches")
                }
                printError(end.message(name))
            } catch {
                throw report(error)
            }
        }
    }
}
