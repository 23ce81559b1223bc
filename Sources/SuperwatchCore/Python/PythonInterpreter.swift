import CSuperwatchShim
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// The program that runs a `werkzeug:` process's bootstrap, found for its `python:` (default `python3`) so that
/// the process superwatch starts, signals and waits for is Python itself.
///
/// A version manager's shim (pyenv's, asdf's) is a shell script that runs the real interpreter. pyenv's `exec`s it
/// normally, but its pip-rehash hook (triggered by ` -m pip ` anywhere in the arguments) runs Python as a child
/// of bash instead: a stop signal then kills bash at once while Python is still draining its requests, and the
/// drained exit 0 is reported as "killed by SIGTERM". So when the program found is a script (`#!`), superwatch
/// asks it once which interpreter it runs and with which environment (in the process's directory and
/// environment, where a shim picks the version), and from then on starts that interpreter directly with the
/// wrapper's changes to the environment (pyenv's additions to PATH, say), as if the wrapper had `exec`d it.
struct PythonInterpreter: Sendable, Equatable {
    /// The program to execute: a path, or a name looked up on PATH as for any command.
    var program: String
    /// Variables the wrapper set or changed, applied at every start.
    var setting: [String: String] = [:]
    /// Variables the wrapper removed.
    var unsetting: [String] = []

    /// How long the question may take; a wrapper that does not answer in time is run as it is.
    static let queryTimeoutMilliseconds: Int32 = 10_000

    /// Makes `environment` what the wrapper would have passed on to Python.
    func apply(to environment: inout [String: String]) {
        environment.merge(setting) { $1 }
        for name in unsetting { environment.removeValue(forKey: name) }
    }

    /// How the question is asked: `launch` starts the wrapper (the supervisor's containment, so that nothing of
    /// it can outlive superwatch), `kill` ends what is left of its group, `release` forgets it once it is reaped.
    struct Runner: Sendable {
        var launch: @Sendable (LaunchRequest) throws(SuperwatchError) -> LaunchedProcess
        var kill: @Sendable (pid_t) -> Void
        var release: @Sendable (pid_t) -> Void

        /// Plain processes, for tests.
        static var plain: Runner {
            Runner(
                launch: { request throws(SuperwatchError) in try Launcher.launch(request) },
                kill: { pgid in signalGroup(pgid, SIGKILL) }, release: { _ in })
        }
    }

    /// The interpreter for `python` in `cwd` with `environment`: the one a wrapper script runs, or `python` itself
    /// when it is an executable file (or a wrapper that would not say); nil when there is no such program, which
    /// the start then reports as for any command.
    static func resolve(
        _ python: String, cwd: String, environment: [String: String], runner: Runner = .plain
    ) -> PythonInterpreter? {
        guard let path = Launcher.resolveExecutable(python, cwd: cwd, path: environment["PATH"]) else { return nil }
        guard isScript(path), let answer = ask(path, cwd: cwd, environment: environment, runner: runner),
            answer.executable.hasPrefix("/"), access(answer.executable, X_OK) == 0, !isScript(answer.executable)
        else { return PythonInterpreter(program: python) }
        return PythonInterpreter(
            program: answer.executable, setting: answer.environment.filter { environment[$0.key] != $0.value },
            unsetting: environment.keys.filter { answer.environment[$0] == nil }.sorted())
    }

    /// Whether `path` starts with `#!`: a script the kernel runs through another program.
    static func isScript(_ path: String) -> Bool {
        // ignored: a file that cannot be opened or read is no script: it is run as it is, and its start says why.
        guard case let fd = open(path, O_RDONLY | O_CLOEXEC), fd >= 0 else { return false }
        let file = OwnedDescriptor(takingOwnershipOf: fd)
        var magic: [UInt8] = [0, 0]
        // ignored: as above.
        let count = try? retryingEINTR("read") { read(file.rawValue, &magic, 2) }
        return count == 2 && magic == [0x23, 0x21]
    }

    /// What Python says through `wrapper`: its `sys.executable` and `os.environ`. Nil unless the wrapper answered
    /// in time and exited with 0.
    private static func ask(
        _ wrapper: String, cwd: String, environment: [String: String], runner: Runner
    ) -> (executable: String, environment: [String: String])? {
        let question = "import json, os, sys; sys.stdout.write(json.dumps([sys.executable or '', dict(os.environ)]))"
        // The question only ever ends by SIGKILL (below, or from the keeper if superwatch dies meanwhile): it is
        // not the user's process, and has no stop settings of its own.
        let request = LaunchRequest(
            arguments: [wrapper, "-c", question], cwd: cwd, environment: environment, stopSignal: .kill,
            stopTimeoutMilliseconds: 0)
        // A wrapper that cannot be started is run as the command itself, whose start then says why.
        let outcome = BoundedCommand.run(
            request, runner: runner, until: ContinuousClock.now + .milliseconds(Int(queryTimeoutMilliseconds)))
        let output = outcome.stdout
        guard outcome.status == .exited(0),
            let answer = try? JSONSerialization.jsonObject(with: Data(output)) as? [Any], answer.count == 2,
            let executable = answer[0] as? String, let environment = answer[1] as? [String: String]
        else { return nil }
        return (executable, environment)
    }
}
