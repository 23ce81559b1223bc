import Foundation
import SuperwatchCore
import SuperwatchTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The control commands of the built binary against the real `superwatch up` serving the API (ControlCLITests
/// covers the same commands against a test double). Each test has a runtime directory of its own, so that the
/// sockets of parallel tests cannot meet.
@Suite struct ControlEndToEndTests {
    /// Runs `superwatch ARGS` (a client command) in the stack's directory with the stack's runtime directory.
    func client(
        _ arguments: [String], _ run: StackRun, _ runtime: TemporaryDirectory
    ) throws -> (status: Int32?, stdout: String, stderr: String) {
        try SuperwatchRun.run(arguments, in: run.path, environment: ["XDG_RUNTIME_DIR": runtime.path])
    }

    /// The processes as `status --json` reports them, by name.
    func statuses(_ run: StackRun, _ runtime: TemporaryDirectory) throws -> [String: ProcessStatus] {
        let result = try client(["status", "--json"], run, runtime)
        #expect(result.status == 0, "\(result.stderr)")
        let list = try ControlAPI.decoder().decode(ControlAPI.ProcessList.self, from: Data(result.stdout.utf8))
        return Dictionary(uniqueKeysWithValues: list.processes.map { ($0.name, $0) })
    }

    /// The pids `NAME` printed (`pid N`), oldest first: the commands `exec` their program, so each is the run's
    /// process group leader.
    func printedPids(_ name: String, _ run: StackRun) -> [Int32] {
        run.stdoutLines.compactMap { line in
            guard line.hasPrefix("\(name) "), let range = line.range(of: "| pid ") else { return nil }
            return Int32(line[range.upperBound...])
        }
    }

    @Test func statusStopStartAndRestartActOnTheRunningStack() throws {
        let runtime = TemporaryDirectory("superwatch-runtime")
        defer { runtime.remove() }
        let yaml = """
            processes:
              web: {command: "echo pid $$; exec sleep 300", replicas: 2}
              worker: {command: "echo pid $$; exec sleep 300", watch: ["watched.txt"]}
              witness: {command: "echo pid $$; exec sleep 300", watch: ["watched.txt"]}

            """
        try withStack(
            yaml, files: ["watched.txt": "1\n"], environment: ["XDG_RUNTIME_DIR": runtime.path]
        ) { run in
            for name in ["web.1", "web.2", "worker", "witness"] {
                #expect(eventually { printedPids(name, run).count == 1 }, "\(name): \(run.stdout)")
            }
            let first = try statuses(run, runtime)
            #expect(Set(first.keys) == ["web.1", "web.2", "worker", "witness"])
            for (name, status) in first {
                #expect(status.state == .running, "\(name)")
                #expect(status.pid == printedPids(name, run).last, "\(name)")
            }
            let table = try client(["ps"], run, runtime)
            #expect(table.status == 0, "\(table.stderr)")
            #expect(table.stdout.hasPrefix("NAME "))
            let rows = table.stdout.split(separator: "\n").map { $0.split(separator: " ").prefix(3).map(String.init) }
            for name in ["web.1", "web.2", "worker", "witness"] {
                let pid = first[name]?.pid.map { "\($0)" } ?? "none"
                #expect(rows.contains([name, "running", pid]), "\(table.stdout)")
            }

            // An unknown name: nothing is done, all or nothing.
            let unknown = try client(["restart", "web.2", "nosuch"], run, runtime)
            #expect(unknown.status == 1)
            #expect(
                unknown.stderr
                    == "superwatch: error: no process named `nosuch`; the stack has web.1, web.2, worker, witness\n")
            #expect(unknown.stdout.isEmpty)
            #expect(try statuses(run, runtime).mapValues(\.pid) == first.mapValues(\.pid))

            // stop: the process ends and stays down, a change to its watched file included.
            let stop = try client(["stop", "worker"], run, runtime)
            #expect(stop.status == 0 && stop.stdout == "stopping worker\n", "\(stop.stderr)")
            let workerPid = try #require(first["worker"]?.pid)
            #expect(eventually { !isAlive(workerPid) })
            #expect(eventually { (try? statuses(run, runtime)["worker"]?.state) == .stoppedByUser })
            run.write("watched.txt", "2\n")
            // The witness watches the same file: once it has restarted, the change has been seen.
            #expect(eventually { printedPids("witness", run).count == 2 }, "\(run.stdout)")
            let afterChange = try statuses(run, runtime)
            #expect(afterChange["worker"]?.state == .stoppedByUser)
            #expect(afterChange["worker"]?.pid == nil)
            #expect(printedPids("worker", run).count == 1)

            // start: it runs again.
            let start = try client(["start", "worker"], run, runtime)
            #expect(start.status == 0 && start.stdout == "starting worker\n", "\(start.stderr)")
            #expect(eventually { printedPids("worker", run).count == 2 }, "\(run.stdout)")
            #expect(eventually { (try? statuses(run, runtime)["worker"]?.pid) == printedPids("worker", run).last })

            // restart of one replica: a new pid for web.2, web.1 untouched.
            let restart = try client(["restart", "web.2"], run, runtime)
            #expect(restart.status == 0 && restart.stdout == "restarting web.2\n", "\(restart.stderr)")
            #expect(eventually { printedPids("web.2", run).count == 2 }, "\(run.stdout)")
            let after = try statuses(run, runtime)
            #expect(after["web.2"]?.pid == printedPids("web.2", run).last)
            #expect(after["web.2"]?.pid != first["web.2"]?.pid)
            #expect(after["web.1"]?.pid == first["web.1"]?.pid)
            #expect(printedPids("web.1", run).count == 1)
            // `web` names both replicas.
            let both = try client(["restart", "web"], run, runtime)
            #expect(both.stdout == "restarting web.1\nrestarting web.2\n", "\(both.stderr)")
            #expect(eventually { printedPids("web.1", run).count == 2 && printedPids("web.2", run).count == 3 })
        }
    }

    @Test func logsTailsAndTwoFollowersSeeNewLinesWithoutChangingUpsOutput() throws {
        let runtime = TemporaryDirectory("superwatch-runtime")
        defer { runtime.remove() }
        let yaml = """
            processes:
              ticker: {command: "i=0; while :; do i=$((i+1)); echo tick $i; sleep 0.1; done"}

            """
        try withStack(yaml, environment: ["XDG_RUNTIME_DIR": runtime.path]) { run in
            #expect(run.waitFor("| tick 5\n"))
            let tail = try client(["logs", "-n", "3", "ticker"], run, runtime)
            #expect(tail.status == 0, "\(tail.stderr)")
            let lines = tail.stdout.split(separator: "\n")
            #expect(lines.count == 3, "\(tail.stdout)")
            let numbers = lines.compactMap { line in line.split(separator: " ").last.flatMap { Int($0) } }
            #expect(numbers.count == 3 && numbers[1] == numbers[0] + 1 && numbers[2] == numbers[1] + 1, "\(lines)")
            #expect(lines.allSatisfy { $0.hasPrefix("ticker     | tick ") }, "\(lines)")

            let environment = ["XDG_RUNTIME_DIR": runtime.path]
            let followers = try (0..<2).map { _ in
                try SuperwatchRun(["logs", "--follow", "-n", "0", "ticker"], in: run.path, environment: environment)
            }
            defer { followers.forEach { $0.signal(SIGKILL) } }
            let latest = numbers[2]
            let target = "ticker     | tick \(latest + 20)\n"
            for follower in followers {
                #expect(follower.waitFor(target, timeout: .seconds(30)), "\(follower.stdout)\(follower.stderr)")
            }
            // The followers take nothing away from up's own output: every line is there, in order.
            #expect(run.waitFor(target))
            let ticks = run.stdoutLines.filter { $0.hasPrefix("ticker     | tick ") }
            let printed = ticks.compactMap { Int($0.split(separator: " ").last ?? "") }
            #expect(printed == Array(1...printed.count), "\(printed)")
            // And the followers see consecutive lines too.
            for follower in followers {
                let seen = follower.stdoutLines.compactMap { Int($0.split(separator: " ").last ?? "") }
                #expect(seen == Array((seen.first ?? 0)..<((seen.first ?? 0) + seen.count)), "\(seen)")
            }
            run.signal(SIGINT)
            #expect(run.waitForExit() == 0)
            // up ends every follower's response before it exits (a graceful shutdown of the API): they end with 0.
            for follower in followers {
                #expect(follower.waitForExit() == 0, "\(follower.stderr)")
                #expect(follower.stderr.isEmpty, "\(follower.stderr)")
            }
        }
    }

    /// Followers in the middle of a busy stream when up ends, by `down` or by Ctrl-C: up finishes every
    /// response before it exits, so each follower gets up's last event, then a clean end, and exits with 0 (it
    /// used to say "stream ended at an unexpected time" and exit with 1 now and then).
    @Test(arguments: ["down", "SIGINT"])
    func followersEndCleanlyWhenUpEnds(_ how: String) throws {
        let runtime = TemporaryDirectory("superwatch-runtime")
        defer { runtime.remove() }
        // chatty writes about a thousand lines a second, in bursts of ten.
        let yaml = """
            processes:
              chatty:
                command: |
                  i=0
                  while :; do
                    for j in 1 2 3 4 5 6 7 8 9 10; do i=$((i+1)); echo line $i; done
                    sleep 0.01
                  done
              quiet: {command: "exec sleep 300"}

            """
        let environment = ["XDG_RUNTIME_DIR": runtime.path]
        try withStack(yaml, environment: environment) { run in
            #expect(run.waitFor("| line 100\n"))
            let followers = try [["logs", "--follow", "-n", "0"], ["logs", "--follow", "--json", "-n", "5"]].map {
                try SuperwatchRun($0, in: run.path, environment: environment)
            }
            defer { followers.forEach { $0.signal(SIGKILL) } }
            for follower in followers {
                #expect(follower.waitFor("line ", timeout: .seconds(30)), "\(follower.stdout)\(follower.stderr)")
            }
            if how == "down" {
                let down = try client(["down"], run, runtime)
                #expect(down.status == 0, "\(down.stderr)")
            } else {
                run.signal(SIGINT)
            }
            #expect(run.waitForExit() == 0)
            for follower in followers {
                #expect(follower.waitForExit() == 0, "\(follower.stderr)")
                #expect(follower.stderr.isEmpty, "\(follower.stderr)")
                // The stack's own last events reached the follower before its end: the shutdown, and quiet's stop.
                #expect(follower.stdout.contains("stopping all processes"), "\(follower.stdout.suffix(2000))")
                let last = follower.stdoutLines.last ?? ""
                #expect(!last.contains("line "), "the stream went on to up's last events: \(last)")
            }
        }
    }

    /// A follower that stops reading (its own output not read, as behind a paused pager) while up ends is cut
    /// after up's grace; once it reads again it says that it was cut and lost what it had not read, and exits
    /// with 3, the documented status (it used to say "stream ended at an unexpected time" and exit with 1).
    @Test func aFollowerThatStopsReadingIsToldItWasCutWhenUpEnds() throws {
        let runtime = TemporaryDirectory("superwatch-runtime")
        defer { runtime.remove() }
        let yaml = """
            processes:
              burst: {command: "seq 1 30000; exec sleep 300", log_buffer: 30000}

            """
        let environment = ["XDG_RUNTIME_DIR": runtime.path]
        try withStack(yaml, environment: environment) { run in
            #expect(run.waitFor("burst      | 30000\n", timeout: .seconds(60)))
            // Its backlog alone (about 3 MB of events) is far more than the socket and its stdout pipe hold.
            let follower = try SuperwatchRun(
                ["logs", "--follow", "-n", "30000", "burst"], in: run.path, environment: environment,
                stdout: .stalled)
            defer { follower.signal(SIGKILL) }
            #expect(eventually(timeout: .seconds(30)) { blockedWritingToAPipe(follower.pid) }, "\(follower.stderr)")
            let down = try client(["down"], run, runtime)
            #expect(down.status == 0, "\(down.stderr)")
            #expect(run.waitForExit() == 0)
            follower.resumeReading()
            #expect(follower.waitForExit(timeout: .seconds(60)) == 3, "\(follower.stderr)")
            #expect(follower.stderr.contains("error: the stream was cut: the `up` of "), "\(follower.stderr)")
            #expect(follower.stderr.contains("the records it had not read are lost"), "\(follower.stderr)")
            #expect(!follower.stderr.contains("unexpected time"), "\(follower.stderr)")
            #expect(follower.stdout.hasPrefix("burst      | 1\n"), "it printed what it had read")
        }
    }

    @Test func downStopsUpAndLeavesNothingRunning() throws {
        let runtime = TemporaryDirectory("superwatch-runtime")
        defer { runtime.remove() }
        let yaml = "processes:\n  sleeper: {command: \"echo pid $$; exec sleep 300\", replicas: 2}\n"
        try withStack(yaml, environment: ["XDG_RUNTIME_DIR": runtime.path]) { run in
            #expect(eventually { printedPids("sleeper.2", run).count == 1 && printedPids("sleeper.1", run).count == 1 })
            let pids = printedPids("sleeper.1", run) + printedPids("sleeper.2", run)
            let down = try client(["down"], run, runtime)
            #expect(down.status == 0, "\(down.stderr)")
            // `down` returns once up has ended.
            #expect(run.waitForExit() == 0)
            #expect(pids.allSatisfy { !isAlive($0) })
            let left = try FileManager.default.contentsOfDirectory(atPath: "\(runtime.path)/superwatch")
            #expect(!left.contains { $0.hasSuffix(".sock") }, "\(left)")
            let status = try client(["status"], run, runtime)
            #expect(status.status == 1)
            #expect(status.stderr.hasPrefix("superwatch: error: superwatch is not running"), "\(status.stderr)")
        }
    }

    @Test func theSocketIsPrivateAndAStaleOneIsReplaced() throws {
        let runtime = TemporaryDirectory("superwatch-runtime")
        defer { runtime.remove() }
        let yaml = "processes:\n  sleeper: {command: \"echo pid $$; exec sleep 300\"}\n"
        try withStack(yaml, environment: ["XDG_RUNTIME_DIR": runtime.path]) { run in
            #expect(eventually { printedPids("sleeper", run).count == 1 })
            let directory = "\(runtime.path)/superwatch"
            let socket = try #require(
                try FileManager.default.contentsOfDirectory(atPath: directory).first { $0.hasSuffix(".sock") })
            var info = stat()
            #expect(stat("\(directory)/\(socket)", &info) == 0)
            #expect(info.st_mode & 0o777 == 0o600 && (info.st_mode & S_IFMT) == S_IFSOCK)
            #expect(stat(directory, &info) == 0)
            #expect(info.st_mode & 0o777 == 0o700)

            // A garbage client (random bytes, then gone) leaves the stack serving and its output intact.
            let garbage = try runCommand([
                "python3", "-c",
                "import os, socket, sys\ns = socket.socket(socket.AF_UNIX)\ns.connect(sys.argv[1])\n"
                    + "s.sendall(os.urandom(65536))\ns.close()\n",
                "\(directory)/\(socket)",
            ])
            #expect(garbage.status == 0, "\(garbage.stderr)")
            #expect(run.superwatch.process.isRunning)
            #expect(try statuses(run, runtime)["sleeper"]?.pid == printedPids("sleeper", run).first)

            // SIGKILL: the socket file stays behind; the next up replaces it and serves.
            run.signal(SIGKILL)
            #expect(run.waitForExit() == SIGKILL)
            #expect(FileManager.default.fileExists(atPath: "\(directory)/\(socket)"))
            let next = try SuperwatchRun(["up"], in: run.path, environment: ["XDG_RUNTIME_DIR": runtime.path])
            defer {
                next.signal(SIGINT)
                _ = next.waitForExit()
            }
            #expect(next.waitFor("| pid "), "\(next.stderr)")
            let status = try client(["status", "--json"], run, runtime)
            #expect(status.status == 0, "\(status.stderr)")
            let list = try ControlAPI.decoder().decode(ControlAPI.ProcessList.self, from: Data(status.stdout.utf8))
            let printed = next.stdoutLines.compactMap { line in
                line.range(of: "| pid ").flatMap { Int32(line[$0.upperBound...]) }
            }
            #expect(list.processes.map(\.pid) == [printed.last])
            // A second up is refused, naming the one that runs.
            let second = try client(["up"], run, runtime)
            #expect(second.status == 1)
            #expect(second.stderr.contains("(pid \(next.pid))"), "\(second.stderr)")
        }
    }

    @Test func theTCPAPIAnswersWithTheBannersTokenOnly() throws {
        let runtime = TemporaryDirectory("superwatch-runtime")
        defer { runtime.remove() }
        let yaml = "processes:\n  sleeper: {command: \"echo pid $$; exec sleep 300\"}\n"
        try withStack(
            yaml, arguments: ["up", "--api", "127.0.0.1:0"], environment: ["XDG_RUNTIME_DIR": runtime.path]
        ) { run in
            #expect(run.waitFor("`Authorization: Bearer "), "\(run.stdout)\(run.stderr)")
            let banner = try #require(run.stdoutLines.first { $0.contains("control API on ") })
            // The token comes first, before the banner and anything a process prints.
            #expect(run.stdoutLines.first == banner, "\(run.stdout)")
            let url = try #require(
                banner.range(of: "control API on ").map { banner[$0.upperBound...].prefix { $0 != " " } })
            let token = try #require(
                banner.range(of: "Bearer ").map { banner[$0.upperBound...].prefix { $0 != "`" } })
            #expect(url.hasPrefix("http://127.0.0.1:") && url.hasSuffix("/v1"), "\(banner)")
            let with = try runCommand([
                "curl", "-s", "-H", "Authorization: Bearer \(token)", "\(url)/processes",
            ])
            #expect(with.status == 0, "\(with.stderr)")
            let list = try ControlAPI.decoder().decode(ControlAPI.ProcessList.self, from: Data(with.stdout.utf8))
            #expect(list.processes.map(\.name) == ["sleeper"])
            let without = try runCommand(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "\(url)/processes"])
            #expect(without.stdout == "401")
            let wrong = try runCommand([
                "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-H", "Authorization: Bearer x\(token)",
                "\(url)/processes",
            ])
            #expect(wrong.stdout == "401")
            #expect(run.superwatch.process.isRunning)
        }
    }
}
