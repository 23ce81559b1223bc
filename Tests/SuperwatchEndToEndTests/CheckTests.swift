import Foundation
import SuperwatchTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

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

    /// `check` shows which processes run on a terminal: those with `tty: true`, and with `--tty` every one, as
    /// `up --tty` runs them.
    @Test func checkShowsTtyAsUpWouldRunIt() throws {
        let dir = stack(
            """
            processes:
              term: {command: 'sleep 1', tty: true}
              plain: {command: 'sleep 1'}
            """)
        defer { dir.remove() }
        let tty = "  tty: true (stdin, stdout and stderr on a pseudo-terminal; `superwatch attach"
        func blocks(_ output: String) -> [String: String] {
            Dictionary(
                uniqueKeysWithValues: output.components(separatedBy: "\n\n").dropFirst().map { block in
                    (String(block.prefix { $0 != ":" }), block)
                })
        }
        let check = try SuperwatchRun.run(["check"], in: dir.path)
        #expect(check.status == 0, "\(check.stderr)")
        let plainly = blocks(check.stdout)
        #expect(plainly["term"]?.contains("\(tty) term`)") == true, "\(check.stdout)")
        #expect(plainly["plain"]?.contains("tty:") == false, "\(check.stdout)")
        let all = try SuperwatchRun.run(["check", "--tty"], in: dir.path)
        #expect(all.status == 0, "\(all.stderr)")
        #expect(blocks(all.stdout)["plain"]?.contains("\(tty) plain`)") == true, "\(all.stdout)")
    }

    /// Spaces, quotes and newlines in values are printed as a shell reads them, on one line, and bash gets the
    /// exact values back from the printed line.
    @Test func checkPrintsEnvValuesShellQuoted() throws {
        let check = try runStack(
            """
            env: {GREETING: "hello world", MULTI: "one\\ntwo", QUOTE: "it's", EMPTY: ""}
            processes:
              web: {command: x}
            """, arguments: ["check", "--port", "7000"])
        #expect(check.status == 0, "\(check.stderr)")
        let envLine = try #require(check.stdout.split(separator: "\n").first { $0.hasPrefix("  env: ") })
        #expect(
            envLine
                == #"  env: EMPTY='' GREETING='hello world' MULTI=$'one\ntwo' PORT=7000 PYTHONUNBUFFERED=1 QUOTE='it'\''s' SUPERWATCH_PROCESS=web SUPERWATCH_REPLICA=1"#
        )
        let assignments = envLine.dropFirst("  env: ".count)
        let bash = try runCommand([
            "bash", "-c", #"export \#(assignments); printf '%s|' "$GREETING" "$MULTI" "$QUOTE" "$EMPTY""#,
        ])
        #expect(bash.stdout == "hello world|one\ntwo|it's||")
    }

    /// `check` prints the environment `up` gives each process (apart from superwatch's own environment, and the
    /// place of superwatch's Python files), and `export systemd` writes the same minus what systemd sets itself.
    @Test func checkAndExportShowTheEnvironmentUpGives() throws {
        let occupied = occupyLoopbackPort()
        close(occupied.fd)
        // On one line, whatever the values hold.
        let printEnvironment = "'env -0 | base64 -w0; echo'"
        let yaml = """
            env: {GREETING: hello}
            processes:
              tcp: {command: \(printEnvironment), listen: "127.0.0.1:\(occupied.port)", restart: never, env: {OWN: "1"}}
              sock: {command: \(printEnvironment), listen: "unix:s.sock", restart: never}
              plain: {command: \(printEnvironment), restart: never, env: {PYTHONUNBUFFERED: "0"}}
            """
        try withStack(yaml, arguments: ["check"]) { run in
            let check = run.finish()
            #expect(check.status == 0, "\(check.stderr)")
            var shown: [String: [String: String]] = [:]
            var name = ""
            for line in check.stdout.split(separator: "\n") {
                if !line.hasPrefix(" "), line.hasSuffix(":") { name = String(line.dropLast()) }
                guard line.hasPrefix("  env: ") else { continue }
                for word in line.dropFirst("  env: ".count).split(separator: " ") {
                    let parts = word.split(separator: "=", maxSplits: 1)
                    // The values here are plain words, but for the quoted placeholder of PYTHONPATH.
                    shown[name, default: [:]][String(parts[0])] = String(parts[1])
                }
            }
            let up = try SuperwatchRun.run(["up"], in: run.path)
            #expect(up.status == 0, "\(up.stderr)")
            let inherited = ProcessInfo.processInfo.environment
            for process in ["tcp", "sock", "plain"] {
                let printed = try #require(lines(of: process, in: up.stdout).first, "\(up.stdout)")
                let bytes = try #require(Data(base64Encoded: printed), "\(printed)")
                var seen: [String: String] = [:]
                for entry in bytes.split(separator: 0) {
                    let parts = String(decoding: entry, as: UTF8.self).split(separator: "=", maxSplits: 1)
                    seen[String(parts[0])] = parts.count > 1 ? String(parts[1]) : ""
                }
                let checked = try #require(shown[process], "\(check.stdout)")
                for (key, value) in checked where key != "PYTHONPATH" {
                    #expect(seen[key] == value, "\(process): \(key)")
                }
                // What check leaves out is superwatch's own environment and the pid (and the shell's own variables).
                for key in seen.keys where checked[key] == nil {
                    #expect(
                        inherited[key] != nil || ["LISTEN_PID", "PWD", "SHLVL", "_"].contains(key), "\(process): \(key)"
                    )
                }
            }
            #expect(shown["tcp"]?["WERKZEUG_SERVER_FD"] == "3" && shown["tcp"]?["PYTHONPATH"] != nil)
            #expect(shown["sock"]?["LISTEN_FDS"] == "1" && shown["sock"]?["WERKZEUG_SERVER_FD"] == nil)
            #expect(shown["plain"]?["PYTHONUNBUFFERED"] == "0" && shown["plain"]?["LISTEN_FDS"] == nil)

            let units = TemporaryDirectory()
            defer { units.remove() }
            let export = try SuperwatchRun.run(["export", "systemd", units.path], in: run.path)
            #expect(export.status == 0, "\(export.stderr)")
            for process in ["tcp", "sock", "plain"] {
                let names = try FileManager.default.contentsOfDirectory(atPath: units.path)
                let unit = try #require(names.first { $0.hasSuffix("-\(process).service") }, "\(names)")
                let service = try #require(units.read(unit))
                var written: [String: String] = [:]
                for line in service.split(separator: "\n") where line.hasPrefix("Environment=\"") {
                    let parts = line.dropFirst("Environment=\"".count).dropLast().split(separator: "=", maxSplits: 1)
                    written[String(parts[0])] = String(parts[1])
                }
                let expected = (shown[process] ?? [:]).filter {
                    !["LISTEN_FDS", "LISTEN_FDNAMES", "PYTHONPATH"].contains($0.key)
                }
                #expect(written == expected, "\(process)")
            }
        }
    }
}
