import ArgumentParser
import SuperwatchCore

extension Superwatch {
    struct Reload: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make the running `up` read its config again and apply the difference.",
            discussion: """
                New processes start, removed ones stop, those whose settings changed restart; the others keep \
                running. An invalid config changes nothing: its error is printed and the exit status is 1.
                """)

        @OptionGroup var config: ConfigOptions

        func run() async throws {
            let client = try config.client()
            let summary: ReloadSummary
            do {
                summary = try await client.reload()
            } catch {
                // A refused config: `up`'s message is already positioned (`FILE:LINE:COL: error: …`).
                if case .controlRefused(status: 422) = error.code {
                    printError(error.message)
                    throw ExitCode(1)
                }
                throw report(error)
            }
            printBytes(Array(summary.report.utf8))
        }
    }
}
