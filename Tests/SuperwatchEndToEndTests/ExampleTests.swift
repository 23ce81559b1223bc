import Foundation
import SuperwatchTestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Each example in examples/ starts, prints what its README promises and stops cleanly on Ctrl-C. Each runs
/// from a copy, so that what it builds does not land in the source tree.
@Suite struct ExampleTests {
    static let examples = repositoryRoot.appendingPathComponent("examples")

    /// Runs `file` of example `name` from a copy, waits for every line in `expected`, then sends SIGINT.
    func runExample(_ name: String, file: String, arguments: [String] = [], expected: [String]) throws {
        let scratch = TemporaryDirectory("superwatch-example")
        defer { scratch.remove() }
        let copy = "\(scratch.path)/\(name)"
        try FileManager.default.copyItem(atPath: Self.examples.appendingPathComponent(name).path, toPath: copy)
        let run = try SuperwatchRun(["up", "-f", "\(copy)/\(file)"] + arguments, in: scratch.path)
        for line in expected {
            #expect(run.waitFor(line), "\(name): waiting for `\(line)` in:\n\(run.stdout)\n\(run.stderr)")
        }
        run.signal(SIGINT)
        #expect(run.waitForExit() == 0, "\(name): \(run.stderr)")
    }

    /// A base port away from the usual 5000, different per run and per example (the examples run in
    /// parallel) so that they do not collide.
    func basePort(_ example: Int) -> String { String(10000 + example * 10000 + Int(getpid() % 90) * 100) }

    @Test func quickstart() throws {
        try runExample("quickstart", file: "superwatch.yaml", expected: ["ticker     | hello, it is", "reloader   | started"])
    }

    @Test func procfile() throws {
        let port = basePort(0)
        try runExample("procfile", file: "Procfile", arguments: ["--port", port],
                       expected: ["clock      | hello from clock, PORT=\(Int(port)! + 100)", "web        * started"])
    }

    @Test func polyglot() throws {
        let port = basePort(1)
        try runExample("polyglot", file: "superwatch.yaml", arguments: ["--port", port, "-c", "worker=1"], expected: [
            "api        | serving on http://127.0.0.1:\(port)", "worker     | worker 1 ready", "frontend   | built dist/app.js",
            "settings   | loaded settings (development)",
        ])
    }
}
