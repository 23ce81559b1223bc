import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A stack under test: its directory (the config and the files its processes use) and the `superwatch` running
/// on it. Reads like the superwatch it wraps (`run.stdout`, `run.waitFor(…)`, `run.signal(…)`) and like the
/// directory (`run.write(…)`, `run.read(…)`, `run.path`).
@dynamicMemberLookup
public struct StackRun: Sendable {
    public let dir: TemporaryDirectory
    public let superwatch: SuperwatchRun

    public subscript<Value>(dynamicMember keyPath: KeyPath<SuperwatchRun, Value>) -> Value {
        superwatch[keyPath: keyPath]
    }

    /// The stack's directory, where superwatch runs.
    public var path: String { dir.path }

    /// Writes `contents` to `name` in the stack's directory (see `TemporaryDirectory.write`).
    @discardableResult
    public func write(_ name: String, _ contents: String) -> String { dir.write(name, contents) }

    public func read(_ name: String) -> String? { dir.read(name) }

    /// Waits until stdout contains `text` (`count` times).
    @discardableResult
    public func waitFor(_ text: String, count: Int = 1, timeout: Duration = .seconds(20)) -> Bool {
        superwatch.waitFor(text, count: count, timeout: timeout)
    }

    public func signal(_ number: Int32) { superwatch.signal(number) }

    public func resumeReading() { superwatch.resumeReading() }

    /// Waits for superwatch to exit on its own (or after a signal the test sent); its exit status, nil on
    /// timeout (after which it is killed).
    public func waitForExit(timeout: Duration = .seconds(30)) -> Int32? { superwatch.waitForExit(timeout: timeout) }

    /// Waits for superwatch to end by itself (killing it after `timeout`): how it ended and what it printed, as
    /// `SuperwatchRun.run` returns them.
    public func finish(timeout: Duration = .seconds(60)) -> (status: Int32?, stdout: String, stderr: String) {
        let status = waitForExit(timeout: timeout)
        return (status, superwatch.stdout, superwatch.stderr)
    }
}

/// Runs `body` against a stack: a fresh directory holding `yaml` as `superwatch.yaml` (none when nil, for a
/// Procfile or a test that names its file with `-f`) and `files`, then whatever `prepare` does there, and
/// `superwatch ARGUMENTS` started in it. Afterwards, also when `body` throws or an expectation failed,
/// superwatch is stopped (SIGINT, SIGKILL after 30 s: the keeper then stops what it started) and the directory
/// removed. Waiting for lines and conditions is `body`'s, with `waitFor` and `eventually`: never a fixed delay.
@discardableResult
public func withStack<Result>(
    _ yaml: String?, files: KeyValuePairs<String, String> = [:],
    prepare: (TemporaryDirectory) throws -> Void = { _ in }, arguments: [String] = ["up"],
    environment: [String: String] = [:], unsetting: [String] = [], stdout: SuperwatchRun.Stdout = .captured,
    closing: Set<Int32> = [], _ body: (StackRun) throws -> Result
) throws -> Result {
    let dir = TemporaryDirectory()
    defer { dir.remove() }
    if let yaml { dir.write("superwatch.yaml", yaml) }
    for (name, contents) in files { dir.write(name, contents) }
    try prepare(dir)
    let superwatch = try SuperwatchRun(
        arguments, in: dir.path, environment: environment, unsetting: unsetting, stdout: stdout, closing: closing)
    defer {
        if superwatch.process.isRunning { superwatch.signal(SIGINT) }
        _ = superwatch.waitForExit()
    }
    return try body(StackRun(dir: dir, superwatch: superwatch))
}

/// Runs `superwatch ARGUMENTS` to completion on a stack made as `withStack` makes it: how it ended (nil:
/// it was still running after `timeout`, and was killed) and what it printed.
public func runStack(
    _ yaml: String?, files: KeyValuePairs<String, String> = [:],
    prepare: (TemporaryDirectory) throws -> Void = { _ in }, arguments: [String] = ["up"],
    environment: [String: String] = [:], timeout: Duration = .seconds(60)
) throws -> (status: Int32?, stdout: String, stderr: String) {
    try withStack(yaml, files: files, prepare: prepare, arguments: arguments, environment: environment) { run in
        run.finish(timeout: timeout)
    }
}
