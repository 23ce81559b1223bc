import Foundation
import SuperwatchCore
import SuperwatchTestSupport
import Synchronization
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The control commands of the built binary (`status`, `restart`, `logs`, `down`, …) against a `FakeStack`
/// served where they look for a running `up`: the socket of `-f superwatch.yaml` in the runtime directory, with
/// the lock held as `up` holds it.
@Suite struct ControlCLITests {
    final class Served: Sendable {
        let stack: FakeStack
        let dir: TemporaryDirectory
        let environment: [String: String]
        /// `up`'s lock on the config; `release()` is `up` exiting.
        let lock: Mutex<StackLock?>

        init(stack: FakeStack, dir: TemporaryDirectory, environment: [String: String], lock: StackLock) {
            self.stack = stack
            self.dir = dir
            self.environment = environment
            self.lock = Mutex(lock)
        }

        func release() { lock.withLock { $0 = nil } }

        /// Runs `superwatch ARGS` to completion on a thread of its own (the server answers on this process's
        /// threads meanwhile).
        func run(_ arguments: [String]) async throws -> (status: Int32?, stdout: String, stderr: String) {
            let run = try start(arguments)
            let status = try await onThread { run.waitForExit() }
            return (status, run.stdout, run.stderr)
        }

        func start(_ arguments: [String]) throws -> SuperwatchRun {
            try SuperwatchRun(arguments, in: dir.path, environment: environment)
        }
    }

    func served(_ body: (Served) async throws -> Void) async throws {
        let dir = TemporaryDirectory()
        let runtime = TemporaryDirectory("superwatch-runtime")
        defer { [dir, runtime].forEach { $0.remove() } }
        let config = dir.write("superwatch.yaml", "processes:\n  web: {command: x}\n")
        let environment = ["XDG_RUNTIME_DIR": runtime.path]
        let key = try StackKey(configPath: config)
        let socket = try ControlSocket.path(for: key, environment: environment)
        #expect(socket.hasPrefix("\(runtime.path)/superwatch/") && socket.hasSuffix(".sock"))
        // Held by `served` alone, so that `release()` drops it.
        let served = Served(
            stack: FakeStack.sample(), dir: dir, environment: environment,
            lock: try StackLock.acquire(key, in: try RuntimeDirectory.prepare(environment: environment)))
        let lockPath = try #require(served.lock.withLock { $0?.path })
        let options = ControlServer.Options(
            socketPath: socket,
            stack: ControlAPI.Stack(pid: getpid(), config: config, lock: lockPath, version: superwatchVersion))
        try await ControlServer.serving(served.stack, options: options) { _ in try await body(served) }
    }

    @Test func statusPrintsATableOrJSON() async throws {
        try await served { served in
            let table = try await served.run(["ps", "-f", "superwatch.yaml"])
            #expect(table.status == 0, "\(table.stderr)")
            let lines = table.stdout.split(separator: "\n")
            #expect(
                lines.first?.split(separator: " ") == [
                    "NAME", "STATE", "PID", "UPTIME", "RESTARTS", "LAST", "EXIT", "ADDRESS",
                ])
            #expect(
                lines.dropFirst().map { $0.prefix(23) } == [
                    "web       running      ", "worker.1  running      ", "worker.2  backing-off  ",
                    "db        stopped      ",
                ])
            let json = try await served.run(["status", "--json"])
            #expect(json.status == 0, "\(json.stderr)")
            let decoded = try ControlAPI.decoder().decode(ControlAPI.ProcessList.self, from: Data(json.stdout.utf8))
            #expect(decoded.processes == (await served.stack.processes))
        }
    }

    @Test func restartStopStartSayWhatTheyDidAndAnUnknownNameChangesNothing() async throws {
        try await served { served in
            let unknown = try await served.run(["restart", "web", "nosuch"])
            #expect(unknown.status == 1)
            #expect(
                unknown.stderr
                    == "superwatch: error: no process named nosuch; the stack has web, worker.1, worker.2, db\n")
            #expect(unknown.stdout.isEmpty)
            #expect(await served.stack.actions.isEmpty)

            let restart = try await served.run(["restart", "worker"])
            #expect(restart.status == 0, "\(restart.stderr)")
            #expect(restart.stdout == "restarting worker.1\nrestarting worker.2\n")
            #expect(try await served.run(["stop", "web"]).stdout == "stopping web\n")
            #expect(try await served.run(["start", "web"]).stdout == "starting web\n")
            #expect(
                await served.stack.actions == ["restart worker.1", "restart worker.2", "stop web", "start web"])
            let none = try await served.run(["stop"])
            #expect(
                none.status == 2 && none.stderr.contains("Missing expected argument '<names> ...'"), "\(none.stderr)")
        }
    }

    @Test func reloadPrintsWhatChangedOrTheRefusedConfigsError() async throws {
        try await served { served in
            let nothing = try await served.run(["reload"])
            #expect(nothing.status == 0 && nothing.stdout == "nothing changed\n", "\(nothing.stderr)")
            await served.stack.answerReloads(
                .success(ReloadSummary(added: ["api"], removed: ["old"], restarted: ["web", "db"], unchanged: ["x"])))
            let applied = try await served.run(["reload", "-f", "superwatch.yaml"])
            #expect(applied.status == 0, "\(applied.stderr)")
            #expect(applied.stdout == "started api\nstopped old\nrestarted web\nrestarted db\n")
            await served.stack.answerReloads(
                .failure(
                    SuperwatchError(
                        .invalidConfig, "unknown key `comand`; did you mean `command`?",
                        at: SourceLocation(file: "superwatch.yaml", line: 2, column: 8))))
            let refused = try await served.run(["reload"])
            #expect(refused.status == 1)
            #expect(refused.stdout.isEmpty)
            #expect(
                refused.stderr
                    == "superwatch: superwatch.yaml:2:8: error: unknown key `comand`; did you mean `command`?\n")
            #expect(await served.stack.actions == ["reload", "reload"])
        }
    }

    @Test func logsPrintsTheLastLinesWithUpsPrefixes() async throws {
        try await served { served in
            for n in 1...5 { await served.stack.emit("web", "line \(n)") }
            await served.stack.emit("worker.2", "oops", stream: .stderr)
            let tail = try await served.run(["logs", "-n", "2", "web"])
            #expect(tail.status == 0, "\(tail.stderr)")
            #expect(tail.stdout == "web        | line 4\nweb        | line 5\n")
            let all = try await served.run(["logs", "-n", "2", "--color", "always"])
            #expect(all.status == 0, "\(all.stderr)")
            #expect(all.stdout == "\u{1B}[36mweb        |\u{1B}[0m line 5\n\u{1B}[32mworker.2   |\u{1B}[0m oops\n")
            let json = try await served.run(["logs", "-n", "1", "--json"])
            let record = try ControlAPI.decoder().decode(LogRecord.self, from: Data(json.stdout.utf8))
            #expect(record == (await served.stack.records.last))
            let unknown = try await served.run(["logs", "nosuch"])
            #expect(unknown.status == 1 && unknown.stderr.hasPrefix("superwatch: error: no process named nosuch"))
        }
    }

    @Test func logsFollowPrintsNewLinesUntilUpEnds() async throws {
        try await served { served in
            await served.stack.emit("web", "old")
            let follow = try served.start(["logs", "-f", "-n", "1", "web"])
            defer { follow.signal(SIGKILL) }
            #expect(await eventuallyAsync { await served.stack.followerCount == 1 })
            await served.stack.emit("db", "not followed")
            await served.stack.emit("web", "new")
            #expect(try await onThread { follow.waitFor("web        | new\n") })
            await served.stack.shutdown()
            #expect(try await onThread { follow.waitForExit() } == 0)
            #expect(follow.stdout == "web        | old\nweb        | new\n")
        }
    }

    @Test func downStopsTheStackAndWaitsUntilUpHasEnded() async throws {
        try await served { served in
            let down = try served.start(["down"])
            defer { down.signal(SIGKILL) }
            #expect(await eventuallyAsync { await served.stack.shutdownRequested })
            // `up` still holds its lock (its processes are stopping): `down` is still waiting.
            #expect(down.process.isRunning)
            served.release()
            #expect(try await onThread { down.waitForExit() } == 0)
            #expect(down.stderr.isEmpty)
        }
    }

    @Test func withoutARunningStackEveryCommandSaysSoAndExits1() async throws {
        let dir = TemporaryDirectory()
        let runtime = TemporaryDirectory("superwatch-runtime")
        defer { [dir, runtime].forEach { $0.remove() } }
        dir.write("superwatch.yaml", "processes:\n  web: {command: x}\n")
        for command in [["status"], ["restart", "web"], ["logs"], ["down"], ["reload"]] {
            let result = try await onThread {
                try SuperwatchRun.run(command, in: dir.path, environment: ["XDG_RUNTIME_DIR": runtime.path])
            }
            #expect(result.status == 1, "\(command)")
            #expect(
                result.stderr.hasPrefix(
                    "superwatch: error: superwatch is not running superwatch.yaml (nothing answers on "),
                "\(command): \(result.stderr)")
            #expect(result.stderr.hasSuffix("); start it with `superwatch up`\n"), "\(command): \(result.stderr)")
        }
    }
}
