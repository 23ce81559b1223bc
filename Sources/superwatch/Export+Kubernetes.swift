import ArgumentParser
import Foundation
import SuperwatchCore

extension Superwatch.Export {
    struct Kubernetes: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write Kubernetes manifests: a ConfigMap, a Deployment or Job and a Service per process."
        )

        @Argument(
            help: "The directory for NAME.yaml per process (created if needed), or - for one YAML stream on stdout.",
            completion: .directory)
        var directory: String

        @Option(help: "The container image of every process without an `image:` of its own.")
        var image: String?

        @Option(help: "The stack's name, label app.kubernetes.io/part-of (default: the config's directory name).")
        var app: String?

        @Option(
            help: ArgumentHelp(
                "Where the image holds the config's directory: each process's cwd under it becomes its workingDir.",
                valueName: "dir"))
        var workdirRoot: String?

        @Option(help: "The image of the init containers that wait for a dependency's Service (needs sh and nc -z).")
        var waitImage: String = KubernetesExport.Options.defaultWaitImage

        @OptionGroup var config: ConfigOptions

        func run() async throws {
            let loaded = try config.load()
            do {
                let output = try KubernetesExport.export(
                    loaded,
                    options: KubernetesExport.Options(
                        app: app ?? KubernetesExport.appName(directory: loaded.directory), image: image,
                        workdirRoot: workdirRoot,
                        basePort: StackPlan.basePort(
                            flag: nil, config: loaded, environment: ProcessInfo.processInfo.environment),
                        waitImage: waitImage))
                for note in output.notes { printError(note.description) }
                if directory == "-" {
                    printBytes(Array(output.stream.utf8))
                } else {
                    try write(output.files.map { (name: $0.name, contents: $0.contents) }, to: directory)
                }
            } catch {
                throw report(error)
            }
        }
    }
}
