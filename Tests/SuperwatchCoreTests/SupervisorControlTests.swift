import Foundation
import SuperwatchTestSupport
import Testing

@testable import SuperwatchCore

#if canImport(Glibc)
    import Glibc
#endif

/// The control verbs on a real `Supervisor` running real processes, in the test's own code (no binary).
///
/// A running supervisor changes what the OS keeps per process (it becomes a child subreaper, reaps the
/// zombies of children it did not start, ignores SIGINT/SIGTERM/SIGHUP/SIGPIPE). In the test runner that
/// would reach the other tests' children, so each test runs as an exit test, in a process of its own.
@Suite("Supervisor control API")
struct SupervisorControlTests {
    @Test func stopStartRestartAndStatus() async {
        await #expect(processExitsWith: .success) {
            try await SupervisorControlTests.stopStartRestartAndStatusBody()
        }
    }

    static func stopStartRestartAndStatusBody() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        directory.write("src/app.txt", "one")
        let file = directory.write(
            "superwatch.yaml",
            """
            processes:
              web:
                command: exec sleep 1000
                replicas: 2
                watch: ["src/**"]
                debounce: 10ms
              worker:
                command: exec sleep 1000
            """)
        let stack = try Stack(file: file, in: directory)
        defer { stack.close() }
        let follow = try await stack.supervisor.follow([], tail: 0)
        let running = Task { try await stack.supervisor.run() }

        #expect(await stack.until { $0.allSatisfy { $0.state == .running && $0.pid != nil } })
        let before = await stack.supervisor.status()
        #expect(before.map(\.name) == ["web.1", "web.2", "worker"])

        // An unknown name: an error, and nothing is disturbed.
        let unknown = await #expect(throws: SuperwatchError.self) {
            try await stack.supervisor.stop(["web.2", "nope"])
        }
        #expect(unknown?.code == .unknownProcess(name: "nope"))
        #expect(await stack.supervisor.status().map(\.pid) == before.map(\.pid))

        #expect(try await stack.supervisor.stop(["web.2"]) == ["web.2"])
        #expect(await stack.until { $0[1].state == .stoppedByUser && $0[1].pid == nil })

        // A change restarts web.1 and leaves web.2 down.
        directory.write("src/app.txt", "two")
        #expect(await stack.until { $0[0].state == .running && $0[0].pid != before[0].pid && $0[0].restarts == 1 })
        // web.2's burst settles about when web.1's does; give it time to arrive (a pause that can only hide a
        // failure under load, never make one).
        try await Task.sleep(for: .milliseconds(500))
        let afterChange = await stack.supervisor.status()
        #expect(afterChange[1].state == .stoppedByUser && afterChange[1].pid == nil)
        #expect(afterChange[2].pid == before[2].pid, "worker does not watch src/")

        // `web` names both replicas; only the one that is down is started.
        #expect(try await stack.supervisor.start(["web"]) == ["web.2"])
        #expect(await stack.until { $0[1].state == .running && $0[1].pid != nil })

        #expect(try await stack.supervisor.restart(["worker"]) == ["worker"])
        #expect(await stack.until { $0[2].state == .running && $0[2].pid != before[2].pid && $0[2].restarts == 1 })

        await stack.supervisor.shutdown()
        #expect(try await running.value == 0)
        #expect(await stack.supervisor.status().allSatisfy { $0.state == .stopped })

        // The followers' stream saw the user's requests, about the right processes; it ends with the stack.
        var seen: [String] = []
        for await batch in follow.batches {
            seen += batch.filter { $0.stream == .event }.map { "\($0.process): \($0.text)" }
        }
        #expect(seen.contains("web.2: stopping (SIGTERM) at the user's request"))
        #expect(seen.contains("worker: restarting at the user's request"))
        #expect(seen.contains("web.1: restarting: src/app.txt changed"))
        #expect(seen.contains { $0.hasPrefix("superwatch: shutdown requested: stopping all processes") })
        // The log was written as always.
        #expect(directory.read("log")?.contains("web.2      * stopping (SIGTERM) at the user's request") == true)
    }

    @Test func verbsNeedARunningStack() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let file = directory.write("superwatch.yaml", "processes:\n  web:\n    command: exec sleep 1000\n")
        let stack = try Stack(file: file, in: directory)
        defer { stack.close() }
        let notRunning = await #expect(throws: SuperwatchError.self) { try await stack.supervisor.start(["web"]) }
        #expect(notRunning?.code == .notRunning)
        let unknown = await #expect(throws: SuperwatchError.self) { try await stack.supervisor.restart(["db"]) }
        #expect(unknown?.code == .unknownProcess(name: "db"), "names are checked first")
        #expect(await stack.supervisor.status().map(\.state) == [.stopped])
        #expect(try await stack.supervisor.logs([], tail: 10).isEmpty)
    }
}

/// A supervisor for a config file, logging to `log` in `directory`.
private struct Stack {
    let supervisor: Supervisor
    private let logFD: Int32

    init(file: String, in directory: TemporaryDirectory) throws {
        let config = try StackPlan.make(ConfigLoader.load(path: file))
        logFD = open(directory.path + "/log", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        supervisor = Supervisor(config: config, options: UpOptions(), sink: OutputSink(fd: logFD))
    }

    func close() { _ = Glibc.close(logFD) }

    /// Polls `status()` until `condition` holds (a generous deadline: this is no timing assertion).
    func until(_ condition: ([ProcessStatus]) -> Bool) async -> Bool {
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            if condition(await supervisor.status()) { return true }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return condition(await supervisor.status())
    }
}
