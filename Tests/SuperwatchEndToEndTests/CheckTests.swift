import Foundation
import SuperwatchTestSupport
import Testing

@Suite struct CheckTests {
    /// `SUPERWATCH_PROCESS PORT=N` for every process block of `check`'s output, from its `env:` line.
    func processesAndPorts(inCheckOutput output: String) -> [String] {
        output.split(separator: "\n").filter { $0.hasPrefix("  env: ") }.map { line in
            let words = line.split(separator: " ")
            let value = { (key: String) in
                words.first { $0.hasPrefix("\(key)=") }.map { $0.dropFirst(key.count + 1) } ?? "-"
            }
            return "\(value("SUPERWATCH_PROCESS")) PORT=\(value("PORT"))"
        }
    }

    @Test func checkTakesPortAndConcurrencyAndShowsWhatUpSets() throws {
        let dir = stack(
            """
            processes:
              web: {command: 'echo "$SUPERWATCH_PROCESS PORT=$PORT"', restart: never}
              worker: {command: 'echo "$SUPERWATCH_PROCESS PORT=$PORT"', restart: never}
              clock: {command: 'echo "$SUPERWATCH_PROCESS PORT=$PORT"', restart: never}
            """)
        defer { dir.remove() }
        let options = ["--port", "8000", "-c", "web=2", "--concurrency", "clock=0"]
        let up = try SuperwatchRun.run(["up"] + options, in: dir.path)
        #expect(up.status == 0, "\(up.stderr)")
        let ranByUp = up.stdout.split(separator: "\n").compactMap { line in
            line.split(separator: "| ", maxSplits: 1).dropFirst().first.map(String.init)
        }
        let check = try SuperwatchRun.run(["check"] + options, in: dir.path)
        #expect(check.status == 0, "\(check.stderr)")
        #expect(check.stdout.hasPrefix("superwatch.yaml: ok, 3 processes\n"))
        #expect(
            processesAndPorts(inCheckOutput: check.stdout) == [
                "web.1 PORT=8000", "web.2 PORT=8001", "worker PORT=8100",
            ])
        #expect(ranByUp.sorted() == processesAndPorts(inCheckOutput: check.stdout).sorted(), "what up ran")

        for (arguments, message) in [
            (["check", "--port", "0"], "--port must be between 1 and 65535, found 0"),
            (["check", "-c", "nosuch=1"], "-c names `nosuch`, which is not a process"),
            (["check", "-c", "web"], "-c: `web` is not NAME=COUNT"),
        ] {
            let bad = try SuperwatchRun.run(arguments, in: dir.path)
            #expect(bad.status == 2, "\(arguments)")
            #expect(bad.stderr.contains(message), "\(arguments): \(bad.stderr)")
            #expect(bad.stdout.isEmpty)
        }
        let help = try SuperwatchRun.run(["check", "--help"], in: dir.path)
        #expect(help.stdout.contains("-c, --concurrency <name=count,...>"))
        #expect(help.stdout.contains("--port <port>"))
    }

    /// Spaces, quotes and newlines in values are printed as a shell reads them, on one line, and bash gets the
    /// exact values back from the printed line.
    @Test func checkPrintsEnvValuesShellQuoted() throws {
        let dir = stack(
            """
            env: {GREETING: "hello world", MULTI: "one\\ntwo", QUOTE: "it's", EMPTY: ""}
            processes:
              web: {command: x}
            """)
        defer { dir.remove() }
        let check = try SuperwatchRun.run(["check", "--port", "7000"], in: dir.path)
        #expect(check.status == 0, "\(check.stderr)")
        let envLine = try #require(check.stdout.split(separator: "\n").first { $0.hasPrefix("  env: ") })
        #expect(
            envLine
                == #"  env: EMPTY='' GREETING='hello world' MULTI=$'one\ntwo' PORT=7000 QUOTE='it'\''s' SUPERWATCH_PROCESS=web SUPERWATCH_REPLICA=1"#
        )
        let assignments = envLine.dropFirst("  env: ".count)
        let bash = try runCommand([
            "bash", "-c", #"export \#(assignments); printf '%s|' "$GREETING" "$MULTI" "$QUOTE" "$EMPTY""#,
        ])
        #expect(bash.stdout == "hello world|one\ntwo|it's||")
    }
}
