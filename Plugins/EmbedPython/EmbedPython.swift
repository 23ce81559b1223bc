import Foundation
import PackagePlugin

/// Embeds the target's `.py` files in the target at build time: `embed-python` turns them into one generated
/// Swift file (their text, and the constants of their `superwatch-protocol` blocks), so the Python superwatch runs
/// lives in real `.py` files that Python's own tools can check, yet travels inside the one `superwatch` binary
/// that `make install` copies (resources would need a bundle directory beside it).
@main
struct EmbedPython: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        guard let target = target as? SourceModuleTarget else { return [] }
        let sources = target.sourceFiles(withSuffix: "py").map(\.url).sorted { $0.path < $1.path }
        guard !sources.isEmpty else { return [] }
        let output = context.pluginWorkDirectoryURL.appending(path: "EmbeddedPython.swift")
        return [
            .buildCommand(
                displayName: "Embedding \(sources.count) Python files in \(target.name)",
                executable: try context.tool(named: "embed-python").url,
                arguments: [output.path] + sources.map(\.path),
                inputFiles: sources,
                outputFiles: [output])
        ]
    }
}
