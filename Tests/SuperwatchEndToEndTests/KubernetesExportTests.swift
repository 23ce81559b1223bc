import Foundation
import SuperwatchTestSupport
import Testing

/// `superwatch export kubernetes` run as a user runs it: every example's export is compared with its golden file
/// and validated against the Kubernetes API's schemas offline; notes go to stderr and into the output as comments;
/// a missing image is refused with the names of the processes without one.
@Suite struct KubernetesExportEndToEndTests {
    /// The Kubernetes version the manifests are validated for (kubernetes-validate bundles its schemas).
    static let kubernetesVersion = "1.37.0"

    static let hasKubernetesValidate = (try? runCommand(["kubernetes-validate", "--version"]))?.status == 0

    /// Every example's config, relative to the repository's root.
    static let examples = [
        "examples/quickstart/superwatch.yaml", "examples/polyglot/superwatch.yaml", "examples/flask/superwatch.yaml",
        "examples/procfile/Procfile", "examples/deps/superwatch.yaml", "examples/django/superwatch.yaml",
    ]

    /// `export kubernetes ARGS` of `config` with a fixed PORT base (the test's environment may hold a PORT).
    static func export(_ config: String, _ arguments: [String]) throws -> (
        status: Int32?, stdout: String, stderr: String
    ) {
        let name = config.split(separator: "/")[1]
        return try SuperwatchRun.run(
            ["export", "kubernetes"] + arguments
                + ["-f", config, "--image", "registry.example/superwatch-\(name):1", "--workdir-root", "/app"],
            in: repositoryRoot.path, environment: ["PORT": "5000"])
    }

    @Test(arguments: examples)
    func theExportOfAnExampleIsItsGoldenFile(config: String) throws {
        let result = try Self.export(config, ["-"])
        #expect(result.status == 0, "\(result.stderr)")
        let name = config.split(separator: "/")[1]
        let mismatch = Golden.mismatch("kubernetes/examples/\(name).yaml", result.stdout)
        #expect(mismatch == nil, "\(mismatch ?? "")")
        // Each note on stderr is also a comment in the output, and nothing else is on stderr.
        let notes = result.stderr.split(separator: "\n").map(String.init)
        let comments = result.stdout.split(separator: "\n").filter { $0.hasPrefix("# ") && $0.contains(": warning: ") }
        #expect(notes == comments.map { "superwatch: " + $0.dropFirst(2) })
    }

    @Test(
        .enabled(if: hasKubernetesValidate, "needs kubernetes-validate (python3 -m pip install kubernetes-validate)"),
        arguments: examples)
    func theExportOfAnExampleIsValidKubernetes(config: String) throws {
        let scratch = TemporaryDirectory("superwatch-kubernetes")
        defer { scratch.remove() }
        let result = try Self.export(config, [scratch.path])
        #expect(result.status == 0, "\(result.stderr)")
        let files = result.stdout.split(separator: "\n").map(String.init)
        #expect(!files.isEmpty && files.allSatisfy { $0.hasPrefix(scratch.path + "/") && $0.hasSuffix(".yaml") })
        let validation = try runCommand(
            ["kubernetes-validate", "--strict", "--kubernetes-version", Self.kubernetesVersion] + files)
        #expect(validation.status == 0, "\(validation.stdout)\(validation.stderr)")
        #expect(!validation.stdout.contains("ERROR") && !validation.stdout.contains("WARN"), "\(validation.stdout)")
    }

    @Test func aMissingImageNamesTheProcessesWithoutOne() throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        dir.write(
            "superwatch.yaml",
            "processes:\n  web: {command: \"echo hi\", image: \"web:1\"}\n  worker: {command: [sleep, \"1\"]}\n"
                + "  cron: {command: date}\n")
        let result = try SuperwatchRun.run(["export", "kubernetes", "-"], in: dir.path)
        #expect(result.status == 2)
        #expect(
            result.stderr
                == "superwatch: error: no container image for worker, cron: give each of them an `image:` in "
                + "superwatch.yaml, or pass --image IMAGE for every process without one\n")
        #expect(result.stdout.isEmpty)
        let written = try SuperwatchRun.run(["export", "kubernetes", "out", "--image", "base:2"], in: dir.path)
        #expect(written.status == 0, "\(written.stderr)")
        #expect(written.stdout == "out/web.yaml\nout/worker.yaml\nout/cron.yaml\n")
        #expect(dir.read("out/web.yaml")?.contains("\n          image: web:1\n") == true)
        #expect(dir.read("out/cron.yaml")?.contains("\n          image: base:2\n") == true)
    }
}
