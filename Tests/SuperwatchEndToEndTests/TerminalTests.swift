import Foundation
import SuperwatchTestSupport
import Synchronization
import Testing

#if canImport(Glibc)
    import Glibc
#endif

private let esc = "\u{1B}"

/// `tty: true` processes: a pseudo-terminal per run, its output as log lines (no CR, colour as superwatch's
/// output has it, no cursor movement), with the same no-loss guarantees as pipes.
@Suite(.serialized) struct TerminalOutputTests {
    private let checker = """
        import sys
        print('stdout', sys.stdout.isatty(), 'stdin', sys.stdin.isatty())
        print('\\033[31mred\\033[0m and plain')
        print('\\033[2J\\033[Hcleared', flush=True)
        print('to stderr', file=sys.stderr)
        """

    @Test func aTtyProcessIsOnATerminalAndKeepsItsColoursWhenUpsOutputIsColoured() throws {
        let result = try runStack(
            "processes:\n  term: {command: [python3, check.py], tty: true, restart: never}\n",
            files: ["check.py": checker], arguments: ["up", "--color", "always"])
        #expect(result.status == 0)
        // The prefix is coloured too: `ESC[36mterm       |ESC[0m `.
        #expect(result.stdout.contains("|\(esc)[0m stdout True stdin True\n"), "\(result.stdout)")
        #expect(result.stdout.contains("|\(esc)[0m \(esc)[31mred\(esc)[0m and plain\n"), "\(result.stdout)")
        #expect(result.stdout.contains("|\(esc)[0m cleared\n"), "cursor movement and clearing are stripped")
        #expect(result.stdout.contains("|\(esc)[0m to stderr\n"), "stderr is the same terminal")
        #expect(!result.stdout.contains("\r"), "no carriage return reaches the log")
    }

    @Test func coloursAreStrippedWhenUpsOutputIsNotColoured() throws {
        let result = try runStack(
            "processes:\n  term: {command: [python3, check.py], tty: true, restart: never}\n",
            files: ["check.py": checker], environment: ["NO_COLOR": "1"])
        #expect(result.status == 0)
        #expect(
            lines(of: "term", in: result.stdout) == [
                "stdout True stdin True", "red and plain", "cleared", "to stderr",
            ])
        #expect(!result.stdout.contains(esc) && !result.stdout.contains("\r"), "\(result.stdout)")
    }

    /// The records keep a terminal's colour as the process printed it: `logs --json` has it; `logs` strips it
    /// when its own output is not coloured (a pipe here), as `up` does, and keeps it with `--color always`.
    @Test func recordsKeepTheColourAndLogsStripsItAsUpDoes() throws {
        let yaml = "processes:\n  term: {command: [python3, colour.py], tty: true}\n"
        let script = "import time\nprint('\\033[31mred\\033[0m and plain', flush=True)\ntime.sleep(1000)\n"
        try withStack(yaml, files: ["colour.py": script]) { run in
            #expect(
                run.waitFor("term       | red and plain\n"), "up's own output (a pipe) has no colour\n\(run.stdout)")
            #expect(!run.stdout.contains(esc))
            let json = try SuperwatchRun.run(["logs", "--json", "term"], in: run.path)
            #expect(json.status == 0)
            #expect(
                json.stdout.lowercased().contains("\"text\":\"\\u001b[31mred\\u001b[0m and plain\""), "\(json.stdout)")
            let plain = try SuperwatchRun.run(["logs", "term"], in: run.path)
            #expect(plain.stdout.contains("term       | red and plain\n"), "\(plain.stdout)")
            #expect(!plain.stdout.contains(esc), "\(plain.stdout)")
            let coloured = try SuperwatchRun.run(["logs", "--color", "always", "term"], in: run.path)
            #expect(coloured.stdout.contains("|\(esc)[0m \(esc)[31mred\(esc)[0m and plain\n"), "\(coloured.stdout)")
        }
    }

    @Test func upTtyPutsEveryProcessOnATerminalAndPipesStayTheDefault() throws {
        let yaml = """
            processes:
              a: {command: [python3, -c, "import sys; print('a on a tty:', sys.stdout.isatty())"], restart: never}
            """
        let piped = try runStack(yaml)
        #expect(lines(of: "a", in: piped.stdout) == ["a on a tty: False"])
        let onTerminal = try runStack(yaml, arguments: ["up", "--tty"])
        #expect(lines(of: "a", in: onTerminal.stdout) == ["a on a tty: True"])
    }

    /// The window is 80 x 24 when superwatch has no terminal of its own (here its output is a pipe).
    @Test func theWindowIsEightyByTwentyFourWithoutATerminal() throws {
        let result = try runStack("processes:\n  s: {command: stty size, tty: true, restart: never}\n")
        #expect(lines(of: "s", in: result.stdout) == ["24 80"])
    }

    @Test func twoHundredThousandLinesFromFourTerminalsArriveWholeAndInOrder() throws {
        let producer =
            "import sys\nw=sys.stdout.write\nfor i in range(50000): w(f'{sys.argv[1]} line {i} ' + 'x'*40 + '\\n')\n"
        let yaml = """
            processes:
              p1: {command: [python3, gen.py, p1], tty: true}
              p2: {command: [python3, gen.py, p2], tty: true}
              p3: {command: [python3, gen.py, p3], tty: true}
              p4: {command: [python3, gen.py, p4], tty: true}
            """
        let result = try runStack(yaml, files: ["gen.py": producer], timeout: .seconds(120))
        #expect(result.status == 0)
        for name in ["p1", "p2", "p3", "p4"] {
            let got = lines(of: name, in: result.stdout)
            let expected = (0..<50000).map { "\(name) line \($0) " + String(repeating: "x", count: 40) }
            #expect(got == expected, "every line of \(name), whole and in order")
        }
    }

    @Test func aLastLineWithoutNewlineAndATwoMebibyteLineComeThrough() throws {
        let yaml = """
            processes:
              last: {command: "printf 'first\\\\nno newline at end'", tty: true}
              big: {command: [python3, -c, "import sys; sys.stdout.write('a' * (2 << 20) + '\\\\n')"], tty: true}
            """
        try withStack(yaml) { run in
            #expect(run.waitForExit() == 0)
            let out = run.stdout
            #expect(lines(of: "last", in: out) == ["first", "no newline at end"])
            let lineEnd = try #require(out.range(of: "no newline at end\n"))
            let exit = try #require(out.range(of: "last       * exited with code 0"))
            #expect(lineEnd.upperBound <= exit.lowerBound, "the last line comes before the exit")
            #expect(lines(of: "big", in: out) == [String(repeating: "a", count: 2 << 20)])
        }
    }

    /// Each run's master is closed when its output ends: superwatch holds no more than the live run's two
    /// (the I/O loop's and attach's) after many restarts.
    @Test func noTerminalIsLeftOpenAcrossRestarts() throws {
        let yaml = """
            processes:
              again: {command: "echo run; sleep 0.1; exit 3", tty: true}
            """
        try withStack(yaml) { run in
            #expect(run.waitFor("again      | run", count: 12, timeout: .seconds(60)))
            let fds = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(run.pid)/fd")) ?? []
            let terminals = fds.filter {
                (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(run.pid)/fd/\($0)"))
                    == "/dev/ptmx"
            }
            #expect(terminals.count <= 2, "open masters: \(terminals.count)")
        }
    }
}

/// `superwatch attach`, driven in a real terminal (tmux) as a user would.
@Suite(.serialized, .enabled(if: tmuxAvailable, "needs tmux")) struct AttachTests {
    private var attach: String { "\(ShellQuote.quote(superwatchBinary)) attach" }

    @Test func anInputPromptIsAnsweredThroughAttachAndDetachLeavesItRunning() throws {
        let yaml = """
            processes:
              ask:
                command: [python3, -c, "name = input('name? '); print('hello, ' + name); import time; time.sleep(1000)"]
                tty: true
            """
        try withStack(yaml, unsetting: ["PYTHONUNBUFFERED", "PYTHONDONTWRITEBYTECODE"]) { run in
            #expect(run.waitFor("ask        * started"))
            let tmux = try TmuxSession("\(attach) ask; echo attach-exited-$?; sleep 600", in: run.path)
            defer { tmux.kill() }
            #expect(tmux.waitFor("attached to ask; Ctrl-] detaches"), "\(tmux.screen())")
            #expect(tmux.waitFor("name?"), "the prompt shows\n\(tmux.screen())")
            try tmux.send("world", literally: true)
            try tmux.send("Enter")
            #expect(tmux.waitFor("hello, world"), "\(tmux.screen())")
            #expect(run.waitFor("ask        | name? world\n"), "up's log has the line as the terminal showed it")
            #expect(run.waitFor("ask        | hello, world\n"))
            try tmux.send("C-]")
            #expect(tmux.waitFor("detached from ask; it keeps running"), "\(tmux.screen())")
            #expect(tmux.waitFor("attach-exited-0"))
            let status = try SuperwatchRun.run(["status", "--json"], in: run.path)
            #expect(
                status.stdout.contains("\"state\" : \"running\"") || status.stdout.contains("\"state\":\"running\""),
                "\(status.stdout)")
        }
    }

    @Test(.enabled(if: pythonCanImport("flask"), "needs Flask"))
    func aBreakpointInAFlaskViewIsDebuggedThroughAttach() throws {
        let app = """
            import os
            from flask import Flask
            app = Flask(__name__)

            @app.route('/')
            def index():
                answer = 41
                breakpoint()
                return f'the answer is {answer}\\n'

            app.run(host='127.0.0.1', port=int(os.environ['PORT']))
            """
        let yaml = "processes:\n  web: {command: [python3, app.py], listen: '127.0.0.1:0', tty: true}\n"
        try withStack(yaml, files: ["app.py": app], unsetting: ["PYTHONUNBUFFERED", "PYTHONDONTWRITEBYTECODE"]) {
            run in
            #expect(run.waitFor("web        * http://127.0.0.1:"))
            let url = try #require(
                run.stdout.split(separator: "\n").first { $0.contains("* http://127.0.0.1:") }.map {
                    String($0[$0.range(of: "http://")!.lowerBound...])
                })
            let response = Mutex<String?>(nil)
            let request = Thread {
                let answer = try? runCommand(["curl", "-s", "--max-time", "90", url + "/"])
                response.withLock { $0 = answer?.stdout ?? "curl failed" }
            }
            request.start()
            #expect(run.waitFor("web        | -> return"), "the view stopped at its breakpoint\n\(run.stdout)")
            let tmux = try TmuxSession("\(attach) web; echo attach-exited-$?; sleep 600", in: run.path)
            defer { tmux.kill() }
            #expect(tmux.waitFor("(Pdb)"), "\(tmux.screen())")
            try tmux.send("p answer + 1", literally: true)
            try tmux.send("Enter")
            #expect(tmux.waitFor("42"), "\(tmux.screen())")
            try tmux.send("c", literally: true)
            try tmux.send("Enter")
            #expect(eventually(timeout: .seconds(30)) { response.withLock { $0 } != nil })
            #expect(response.withLock { $0 } == "the answer is 41\n")
            try tmux.send("C-]")
            #expect(tmux.waitFor("detached from web; it keeps running"), "\(tmux.screen())")
            #expect(!run.stdout.contains("web        * exited"), "the app keeps running")
        }
    }

    /// A client stays attached to the process, not to a run: a restart (here the exit code 3 that asks for one)
    /// says so on its screen, the next run gets its window size and what it types; the attach ends, saying why,
    /// only when the process stops for good.
    @Test func attachFollowsTheProcessAcrossRestartsUntilItStopsForGood() throws {
        let yaml = """
            processes:
              again:
                command: "echo size $(stty size); read line; echo got $line; exit 3"
                tty: true
            """
        try withStack(yaml) { run in
            #expect(run.waitFor("again      | size 24 80\n"))
            let tmux = try TmuxSession(
                "\(attach) again; echo attach-exited-$?; sleep 600", in: run.path, columns: 100, rows: 30)
            defer { tmux.kill() }
            #expect(tmux.waitFor("attached to again"), "\(tmux.screen())")
            try tmux.send("one", literally: true)
            try tmux.send("Enter")
            #expect(run.waitFor("again      | got one\n"), "\(run.stdout)")
            #expect(tmux.waitFor("[superwatch: again restarted]"), "\(tmux.screen())")
            #expect(run.waitFor("again      | size 30 100\n"), "the next run has the client's size\n\(run.stdout)")
            #expect(tmux.waitFor("size 30 100"), "\(tmux.screen())")
            try tmux.send("two", literally: true)
            try tmux.send("Enter")
            #expect(run.waitFor("again      | got two\n"), "what is typed reaches the next run\n\(run.stdout)")
            #expect(tmux.waitFor("got two"), "\(tmux.screen())")
            #expect(run.waitFor("again      | size 30 100\n", count: 2), "\(run.stdout)")

            let stop = try SuperwatchRun.run(["stop", "again"], in: run.path)
            #expect(stop.status == 0, "\(stop.stderr)")
            #expect(tmux.waitFor("[superwatch: again stopped by user; attach ended]"), "\(tmux.screen())")
            #expect(tmux.waitFor("again stopped and will not restart by itself; detached"), "\(tmux.screen())")
            #expect(tmux.waitFor("attach-exited-0"), "\(tmux.screen())")
        }
    }

    @Test func theWindowSizeReachesTheChildAndOneClientAtATime() throws {
        let yaml = """
            processes:
              sizer:
                command: "trap 'echo size $(stty size)' WINCH; echo size $(stty size); while true; do sleep 0.1; done"
                tty: true
              plain: {command: sleep 1000}
            """
        try withStack(yaml) { run in
            #expect(run.waitFor("sizer      | size 24 80\n"), "80 x 24 without a terminal\n\(run.stdout)")
            let tmux = try TmuxSession(
                "\(attach) sizer; echo attach-exited-$?; sleep 600", in: run.path, columns: 100, rows: 30)
            defer { tmux.kill() }
            #expect(tmux.waitFor("attached to sizer"))
            #expect(run.waitFor("sizer      | size 30 100\n"), "the attached terminal's size\n\(run.stdout)")
            try tmux.resize(columns: 120, rows: 40)
            #expect(run.waitFor("sizer      | size 40 120\n"), "a resize of the attached terminal\n\(run.stdout)")

            let second = try SuperwatchRun.run(["attach", "sizer"], in: run.path)
            #expect(second.status == 1)
            #expect(
                second.stderr.contains("sizer already has a client attached; only one at a time"), "\(second.stderr)")

            try tmux.send("C-]")
            #expect(tmux.waitFor("detached from sizer"))
            #expect(run.waitFor("sizer      | size 24 80\n", count: 2), "the stack's size again after the detach")

            let notTTY = try SuperwatchRun.run(["attach", "plain"], in: run.path)
            #expect(notTTY.status == 1)
            #expect(
                notTTY.stderr.contains("plain does not run on a terminal; give it `tty: true` in the config"),
                "\(notTTY.stderr)")
            let unknown = try SuperwatchRun.run(["attach", "nosuch"], in: run.path)
            #expect(unknown.status == 1)
            #expect(unknown.stderr.contains("no process named `nosuch`"), "\(unknown.stderr)")
            let noTerminal = try SuperwatchRun.run(["attach", "sizer"], in: run.path)
            #expect(noTerminal.status == 2)
            #expect(noTerminal.stderr.contains("attach needs a terminal"), "\(noTerminal.stderr)")
        }
    }
}
