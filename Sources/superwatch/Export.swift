import ArgumentParser
import Foundation
import SuperwatchCore

extension Superwatch {
    struct Export: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write the stack in another supervisor's format.",
            subcommands: [Systemd.self, Kubernetes.self])
    }
}

extension Superwatch.Export {
    struct Systemd: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Write systemd units: APP.target, APP-NAME.service per process, APP-NAME.socket per process with listen."
        )

        @Argument(help: "The directory to write the units to (created if needed).", completion: .directory)
        var directory: String

        @OptionGroup var config: ConfigOptions

        func run() async throws {
            let (loaded, planned) = try config.loadPlan()
            do {
                let units = try SystemdExport.units(
                    for: planned, appName: SystemdExport.appName(directory: loaded.directory))
                try write(units.map { (name: $0.name, contents: $0.contents) }, to: directory)
            } catch {
                throw report(error)
            }
        }
    }
}

/// Writes every file into `directory` (created if needed), replacing files of the same name, and prints each path
/// written.
func write(_ files: [(name: String, contents: String)], to directory: String) throws(SuperwatchError) {
    do {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    } catch {
        throw SuperwatchError(
            .fileNotWritten(path: directory), "cannot create \(directory): \(error.localizedDescription)")
    }
    for file in files {
        let path = (directory as NSString).appendingPathComponent(file.name)
        guard FileManager.default.createFile(atPath: path, contents: Data(file.contents.utf8)) else {
            throw SuperwatchError(
                .fileNotWritten(path: path), "cannot write \(path); check that the directory is writable")
        }
        print(path)
    }
}
