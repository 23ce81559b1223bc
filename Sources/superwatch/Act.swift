import ArgumentParser
import SuperwatchCore

extension Superwatch {
    struct Restart: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Restart processes of the running `up` (a `werkzeug:` process through its standby).")
        @OptionGroup var target: ActionTarget
        func run() async throws { try await target.perform("restart", saying: "restarting") }
    }

    struct Stop: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Stop processes of the running `up`; they stay stopped, even on file changes, until started.")
        @OptionGroup var target: ActionTarget
        func run() async throws { try await target.perform("stop", saying: "stopping") }
    }

    struct Start: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Start processes of the running `up` that are down (stopped, exited, given up).")
        @OptionGroup var target: ActionTarget
        func run() async throws { try await target.perform("start", saying: "starting") }
    }
}

/// What `restart`, `stop` and `start` take: the config that finds the socket and the names.
struct ActionTarget: ParsableArguments {
    @OptionGroup var config: ConfigOptions

    @Argument(
        help: "The processes: NAME is every replica of it, NAME.N one.",
        completion: .custom(processNameCompletions))
    var names: [String]

    /// One request for all the names: an unknown one is an error and nothing is done.
    func perform(_ action: String, saying verb: String) async throws {
        let client = try config.client()
        do {
            for name in try await client.act(action, names) { printBytes(Array("\(verb) \(name)\n".utf8)) }
        } catch {
            throw report(error)
        }
    }
}
