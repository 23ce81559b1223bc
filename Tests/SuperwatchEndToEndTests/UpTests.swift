import Foundation
import SuperwatchTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// A directory with `superwatch.yaml` holding `yaml`.
func stack(_ yaml: String) -> TemporaryDirectory {
    let directory = TemporaryDirectory()
    directory.write("superwatch.yaml", yaml)
    return directory
}

/// The lines of `output` that come from process `name` (its `NAME | ` prefix, padded or not), prefix removed.
func lines(of name: String, in output: String) -> [String] {
    output.split(separator: "\n", omittingEmptySubsequences: false).compactMap { line -> String? in
        guard line.hasPrefix(name) else { return nil }
        let rest = line.dropFirst(name.count).drop { $0 == " " }
        guard rest.hasPrefix("| ") else { return nil }
        return String(rest.dropFirst(2))
    }
}

@Suite(.serialized) struct UpTests {
    @Test func outputIsPrefixedAndPaddedPerProcess() throws {
        let result = try runStack(
            """
            processes:
              web: {command: "echo hello from web"}
              worker-long: {command: ["sh", "-c", "echo out; echo err >&2"]}
            """)
        #expect(result.status == 0)
        #expect(result.stdout.contains("web         | hello from web\n"))
        #expect(result.stdout.contains("worker-long | out\n"))
        #expect(result.stdout.contains("worker-long | err\n"))
        #expect(result.stdout.contains("web         * exited with code 0\n"))
        #expect(!result.stdout.contains("\u{1B}["), "no colour when stdout is not a terminal")
    }

    @Test func colourIsForcedByFlagOrFORCE_COLORAndRefusedByNO_COLOR() throws {
        let dir = stack("processes:\n  web: {command: echo hi}\n")
        defer { dir.remove() }
        #expect(
            try SuperwatchRun.run(["up", "--color", "always"], in: dir.path).stdout.contains(
                "\u{1B}[36mweb        |\u{1B}[0m hi"))
        #expect(
            try SuperwatchRun.run(["up"], in: dir.path, environment: ["FORCE_COLOR": "1"]).stdout.contains("\u{1B}[36m")
        )
        #expect(
            !(try SuperwatchRun.run(["up"], in: dir.path, environment: ["FORCE_COLOR": "1", "NO_COLOR": "1"]).stdout
                .contains("\u{1B}[")))
    }

    @Test func timestampsPrecedeTheName() throws {
        let dir = stack("processes:\n  web: {command: echo hi}\n")
        defer { dir.remove() }
        let out = try SuperwatchRun.run(["up", "--timestamps"], in: dir.path).stdout
        #expect(out.range(of: #"(?m)^\d\d:\d\d:\d\d web        \| hi$"#, options: .regularExpression) != nil)
    }

    @Test func namedProcessesStartAlone() throws {
        let yaml = """
            processes:
              a: {command: echo from-a}
              b: {command: echo from-b}
              c: {command: echo from-c}
            """
        try withStack(yaml, arguments: ["up", "b", "c"]) { run in
            let result = run.finish()
            #expect(result.status == 0)
            #expect(!result.stdout.contains("from-a"))
            #expect(lines(of: "b", in: result.stdout) == ["from-b"])
            #expect(lines(of: "c", in: result.stdout) == ["from-c"])
            let unknown = try SuperwatchRun.run(["up", "nope"], in: run.path)
            #expect(unknown.status == 2)
            #expect(unknown.stderr.contains("no process named `nope`"))
        }
    }

    @Test func exitCodeThreeRestartsAtOnce() throws {
        // Exits 3 twice (asking for a restart), then 0.
        let result = try runStack(
            """
            processes:
              app:
                command: "n=$(cat count 2>/dev/null || echo 0); echo run $n; echo $((n+1)) > count; [ $n -ge 2 ] || exit 3"
                restart: never
            """)
        #expect(result.status == 0)
        #expect(lines(of: "app", in: result.stdout) == ["run 0", "run 1", "run 2"])
        #expect(result.stdout.components(separatedBy: "restarting: exit code 3 asks for a restart").count == 3)
        #expect(!result.stdout.contains("restarting in"), "a restart code does not back off")
    }

    @Test func onFailureBacksOffThenGivesUpAndTheStackExitsWithItsStatus() throws {
        let result = try runStack(
            """
            processes:
              flaky: {command: "echo try; exit 7", max_restarts: 2, backoff: 50ms}
            """)
        #expect(result.status == 7)
        #expect(lines(of: "flaky", in: result.stdout) == ["try", "try", "try"])
        #expect(result.stdout.contains("restarting in 50ms (restart 1 of 2"))
        #expect(result.stdout.contains("restarting in 100ms (restart 2 of 2"))
        #expect(result.stdout.contains("gave up after 2 restarts in a row"))
    }

    @Test func policiesNeverAndAlways() throws {
        let result = try runStack(
            """
            processes:
              once: {command: "echo once; exit 4", restart: never}
              again: {command: "echo again", restart: always, max_restarts: 1, backoff: 10ms}
            """)
        #expect(lines(of: "once", in: result.stdout) == ["once"])
        #expect(lines(of: "again", in: result.stdout) == ["again", "again"])
        #expect(result.stdout.contains("not restarting (restart: never)"))
        #expect(result.status == 4, "the first process that failed decides the exit status")
    }

    @Test func oneExitNeverStopsTheOthers() throws {
        let result = try runStack(
            """
            processes:
              quitter: {command: "exit 1", restart: never}
              stayer: {command: "sleep 0.5; echo still here"}
            """)
        #expect(lines(of: "stayer", in: result.stdout) == ["still here"])
        #expect(result.status == 1)
    }

    @Test func aMissingProgramIsReportedAndTreatedAsAFailure() throws {
        let result = try runStack("processes:\n  ghost: {command: [no-such-program-xyz], restart: never}\n")
        #expect(result.stdout.contains("cannot start: command not found: no-such-program-xyz"))
        #expect(result.status == 127)
    }

    @Test func environmentIsMergedProcessOverGlobalOverOwn() throws {
        let result = try runStack(
            """
            env: {A: global, B: global}
            processes:
              p:
                command: echo "$A $B $C $SUPERWATCH_PROCESS"
                env: {B: mine}
            """, environment: ["C": "outer", "A": "outer"])
        #expect(lines(of: "p", in: result.stdout) == ["global mine outer p"])
    }

    @Test func childrenGetDevNullAsStdinAndNoExtraDescriptors() throws {
        let result = try runStack(
            """
            processes:
              p: {command: "ls /proc/self/fd | sort -n | tr '\\\\n' ' '; echo; readlink /proc/self/fd/0"}
            """)
        // ls itself opens one descriptor (3) to read the directory.
        #expect(lines(of: "p", in: result.stdout) == ["0 1 2 3 ", "/dev/null"])
    }
}

@Suite struct ExitStatusTests {
    /// `restart: always` gives up on clean exits too; that must not hide a later real failure.
    @Test func aProcessGivenUpAfterCleanExitsDoesNotDecideTheStatus() throws {
        let result = try runStack(
            """
            processes:
              a: {command: 'exit 0', restart: always, max_restarts: 1, backoff: 10ms}
              b: {command: 'sleep 1; exit 7', restart: never}
            """)
        #expect(result.stdout.contains("a          * gave up after 1 restart in a row"))
        #expect(result.status == 7)
    }
}
