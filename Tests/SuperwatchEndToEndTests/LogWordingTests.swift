import Foundation
import SuperwatchTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The lines superwatch itself writes into the stream: the start banner, the closing line, the wording of
/// restarts and starts, the alignment of `superwatch *` lines, and the hint for a `listen:` program that binds
/// its port itself.
@Suite(.serialized) struct LogWordingTests {
    /// The file, how many processes and how to stop, then an address per process that has one: a held socket
    /// (with the host of its `listen` address) and the PORT of a process whose command uses it; none for a
    /// process that does not name PORT (its PORT may not be where it serves).
    @Test func theBannerNamesTheFileTheCountAndEachAddress() throws {
        let yaml = """
            processes:
              web: {command: "echo serving on $PORT", restart: never}
              sock: {command: "echo held", listen: "127.0.0.2:0", restart: never}
              quiet: {command: "echo quiet", restart: never}
            """
        try withStack(yaml, arguments: ["up", "--port", "7000"]) { run in
            let result = run.finish()
            #expect(result.status == 0)
            let out = result.stdout.split(separator: "\n").map(String.init)
            #expect(out.first == "superwatch * superwatch.yaml: 3 processes; Ctrl-C to stop", "\(result.stdout)")
            #expect(out.contains("web        * http://127.0.0.1:7000"))
            #expect(
                out.contains { $0.wholeMatch(of: /sock       \* http:\/\/127\.0\.0\.2:[1-9]\d*/) != nil },
                "\(result.stdout)")
            #expect(!out.contains { $0.hasPrefix("quiet      * http") }, "quiet never names $PORT: \(result.stdout)")
            // Before anything starts.
            let firstStart = try #require(out.firstIndex { $0.contains(" * started (pid ") })
            let addresses = out.indices.filter { out[$0].contains(" * http://") }
            #expect(addresses.count == 2 && addresses.allSatisfy { $0 < firstStart }, "\(result.stdout)")

            let json = try SuperwatchRun.run(["up", "--port", "7000", "--log-format", "json"], in: run.path)
            let objects = json.stdout.split(separator: "\n").compactMap {
                try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
            }
            let banner = try #require(objects.first)
            #expect(banner["event"] as? String == "banner" && banner["process"] as? String == "superwatch")
            #expect(banner["file"] as? String == "superwatch.yaml" && banner["processes"] as? Int == 3)
            let port = try #require(objects.first { $0["event"] as? String == "port" })
            #expect(port["process"] as? String == "web" && port["port"] as? Int == 7000)
            #expect(port["address"] as? String == "http://127.0.0.1:7000")
            #expect(objects.contains { $0["event"] as? String == "listening" && $0["process"] as? String == "sock" })
        }
    }

    /// `-f` shows the file as named, and one process is "1 process".
    @Test func theBannerCountsInTheSingular() throws {
        try withStack(
            nil, files: ["stack.yml": "processes:\n  one: {command: echo hi, restart: never}\n"],
            arguments: ["up", "-f", "stack.yml"]
        ) { run in
            let result = run.finish()
            #expect(result.stdout.hasPrefix("superwatch * stack.yml: 1 process; Ctrl-C to stop\n"), "\(result.stdout)")
        }
    }

    /// When the stack ends on its own, the last line says so with the exit status and the process it came
    /// from; a clean end says status 0; a requested shutdown has no such line.
    @Test func aStackThatEndsOnItsOwnSaysSoWithItsStatus() throws {
        let failing = stack(
            """
            processes:
              web: {command: "sleep 0.2; exec /nonexistent/server", restart: never}
              ok: {command: "echo fine", restart: never}
            """)
        defer { failing.remove() }
        let failed = try SuperwatchRun.run(["up"], in: failing.path)
        #expect(failed.status == 127)
        #expect(
            failed.stdout.hasSuffix("superwatch * all processes have stopped; exit status 127 from web\n"),
            "\(failed.stdout)")
        let json = try SuperwatchRun.run(["up", "--log-format", "json"], in: failing.path)
        let last = try #require(
            json.stdout.split(separator: "\n").last.flatMap {
                try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
            })
        #expect(
            last["event"] as? String == "all-stopped" && last["code"] as? Int == 127 && last["from"] as? String == "web"
        )

        let clean = stack("processes:\n  ok: {command: echo fine, restart: never}\n")
        defer { clean.remove() }
        let ended = try SuperwatchRun.run(["up"], in: clean.path)
        #expect(ended.status == 0)
        #expect(ended.stdout.hasSuffix("superwatch * all processes have stopped; exit status 0\n"), "\(ended.stdout)")

        let long = stack("processes:\n  sleeper: {command: sleep 1000}\n")
        defer { long.remove() }
        let run = try SuperwatchRun(["up"], in: long.path)
        #expect(run.waitFor("sleeper    * started"))
        run.signal(SIGTERM)
        #expect(run.waitForExit() == 0)
        #expect(!run.stdout.contains("all processes have stopped"), "a requested stop is not an end on its own")
    }

    /// "after 1 restart", the command on the first start only, and every `*`/`|` in one column.
    @Test func restartsAreCountedAndTheCommandIsShownOnceAndLinesAlign() throws {
        let result = try runStack(
            """
            processes:
              a: {command: "echo run; exit 1", max_restarts: 1, backoff: 100ms}
            """)
        #expect(result.status == 1)
        #expect(result.stdout.contains("a          * gave up after 1 restart in a row\n"), "\(result.stdout)")
        #expect(result.stdout.contains("(restart 1 of 1, restart: on-failure)"))
        let starts = result.stdout.split(separator: "\n").filter { $0.contains(" * started (pid ") }
        #expect(starts.count == 2, "\(result.stdout)")
        #expect(starts.first?.wholeMatch(of: /a          \* started \(pid \d+\): echo run; exit 1/) != nil, "\(starts)")
        #expect(
            starts.last?.wholeMatch(of: /a          \* started \(pid \d+\)/) != nil,
            "only the pid after the first: \(starts)")
        for line in result.stdout.split(separator: "\n") {
            #expect(line.dropFirst(10).hasPrefix(" * ") || line.dropFirst(10).hasPrefix(" | "), "not aligned: \(line)")
        }

        // A name longer than `superwatch` widens the column for superwatch's lines too.
        let wide = stack("processes:\n  a-very-long-name: {command: echo hi, restart: never}\n")
        defer { wide.remove() }
        let out = try SuperwatchRun.run(["up"], in: wide.path).stdout
        #expect(out.contains("superwatch       * superwatch.yaml: 1 process; Ctrl-C to stop\n"), "\(out)")
        #expect(out.contains("a-very-long-name | hi\n"))
        #expect(out.contains("superwatch       * all processes have stopped; exit status 0\n"))
    }

    /// A `listen:` process whose program binds $PORT itself fails with "Address already in use" on every
    /// start: superwatch says once what a `listen:` program must do instead. A process without `listen` that
    /// prints the same words gets no hint.
    @Test func aListenProgramThatBindsItsPortItselfGetsAHintOnce() throws {
        let result = try runStack(
            """
            processes:
              selfbind:
                command: ["python3", "-c", "import os, socket; socket.socket().bind(('127.0.0.1', int(os.environ['PORT'])))"]
                listen: 127.0.0.1:0
                max_restarts: 2
                backoff: 100ms
              plain:
                command: "echo 'bind: Address already in use'"
                restart: never
            """)
        #expect(result.status == 1)
        let out = result.stdout.split(separator: "\n").map(String.init)
        #expect(
            out.filter { $0.hasPrefix("selfbind   | OSError: [Errno 98] Address already in use") }.count == 3,
            "\(result.stdout)")
        let hints = out.indices.filter {
            out[$0].hasPrefix("selfbind   * its output says the address is already in use")
        }
        #expect(hints.count == 1, "once per process, not per run: \(result.stdout)")
        let hint = try #require(hints.first.map { out[$0] })
        #expect(
            hint.contains("fd 3") && hint.contains("LISTEN_FDS") && hint.contains("WERKZEUG_SERVER_FD")
                && hint.contains("superwatch.yaml(5)"))
        let firstError = try #require(
            out.firstIndex { $0.contains("Address already in use") && $0.hasPrefix("selfbind") })
        #expect(hints[0] > firstError, "after the output that matched")
        #expect(out.contains("plain      | bind: Address already in use"))
        #expect(!out.contains { $0.hasPrefix("plain      * its output says") }, "no hint without listen")
    }
}
