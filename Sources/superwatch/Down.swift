import ArgumentParser
import SuperwatchCore

extension Superwatch {
    struct Down: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Stop the running `up` as Ctrl-C does, and wait until it has ended.")

        @OptionGroup var config: ConfigOptions

        func run() async throws {
            let client = try config.client()
            do {
                let stack = try await client.stack()
                try await client.shutdown()
                if let lock = stack.lock { try await StackLock.waitUntilReleased(lock) }
            } catch {
                throw report(error)
            }
        }
    }
}
