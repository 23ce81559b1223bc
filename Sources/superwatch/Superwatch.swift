import ArgumentParser
import SuperwatchCore

@main
struct Superwatch: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "superwatch",
        abstract: "Run a local development stack: several processes, one log stream, per-process reloads.",
        version: superwatchVersion,
        subcommands: [Up.self, Check.self, Export.self]
    )
}

/// Options every subcommand that reads a config shares.
struct ConfigOptions: ParsableArguments {
    @Option(name: [.customShort("f"), .long], help: "The config file (default: ./superwatch.yaml, ./superwatch.yml or ./Procfile).")
    var file: String?

    func load() throws -> Config {
        do {
            let path = try ConfigLoader.locate(explicit: file, in: ".")
            return try ConfigLoader.load(path: path)
        } catch {
            throw report(error)
        }
    }
}

/// Prints a superwatch error the way users read it and turns it into the documented exit status.
func report(_ error: SuperwatchError) -> ExitCode {
    printError(error.description)
    return ExitCode(error.exitStatus)
}

func printError(_ message: String) {
    var standardError = StandardError()
    print("superwatch: \(message)", to: &standardError)
}

struct StandardError: TextOutputStream {
    mutating func write(_ string: String) {
        var bytes = Array(string.utf8)
        _ = bytes.withUnsafeMutableBytes { writeAll(2, $0) }
    }
}
