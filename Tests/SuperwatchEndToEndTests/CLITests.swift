import Foundation
import SuperwatchTestSupport
import Testing

@Suite struct CLITests {
    @Test func aBadConfigIsAPositionedErrorAndNothingStarts() throws {
        let yaml = """
            processes:
              good: {command: "touch started"}
              bad:
                command: x
                restart: sometimes
            """
        try withStack(yaml) { run in
            let result = run.finish()
            #expect(result.status == 2)
            #expect(
                result.stderr
                    == "superwatch: superwatch.yaml:5:14: error: `restart` must be one of never, on-failure, always; found `sometimes`\n"
            )
            #expect(result.stdout.isEmpty)
            #expect(!FileManager.default.fileExists(atPath: "\(run.path)/started"))
        }
    }

    @Test func aMissingConfigNamesThePathsTried() throws {
        try withStack(nil) { run in
            let result = run.finish()
            #expect(result.status == 2)
            #expect(result.stderr.contains("./superwatch.yaml"))
            #expect(result.stderr.contains("./superwatch.yml"))
            #expect(result.stderr.contains("./Procfile"))
            let explicit = try SuperwatchRun.run(["check", "-f", "nope.yaml"], in: run.path)
            #expect(explicit.status == 2)
            #expect(explicit.stderr.contains("nope.yaml"))
        }
    }

    @Test func checkPrintsTheResolvedProcesses() throws {
        try withStack(
            "processes:\n  web: {command: python3 -m http.server, stop_signal: INT}\n",
            files: ["other.yml": "processes:\n  w: {command: [echo, hi]}\n"], arguments: ["check"]
        ) { run in
            let result = run.finish()
            #expect(result.status == 0)
            #expect(result.stdout.contains("web:\n  command: python3 -m http.server\n  cwd: \(run.path)\n"))
            #expect(result.stdout.contains("stop: SIGINT, then SIGKILL after 5s"))
            run.write("watched.yml", "processes:\n  w: {command: x, watch: [\"src/**/*.py\"]}\n")
            run.write("src/a.py", "")
            run.write("src/pkg/b.py", "")
            run.write("src/pkg/c.txt", "")
            let watched = try SuperwatchRun.run(["check", "-f", "watched.yml"], in: run.path)
            #expect(watched.stdout.contains("  watch: src/**/*.py (2 files match now)\n"))
            let other = try SuperwatchRun.run(["check", "--file", "other.yml"], in: run.path)
            #expect(other.stdout.contains("w:\n  command: echo hi\n"))
        }
    }

    @Test func aBadCommandLineExitsWithTwo() throws {
        let dir = stack("processes:\n  web: {command: \"exit 64\", restart: never}\n")
        defer { dir.remove() }
        for arguments in [["up", "--log-format", "xml"], ["up", "--port"], ["export", "systemd"], ["bogus"]] {
            let result = try SuperwatchRun.run(arguments, in: dir.path)
            #expect(result.status == 2, "\(arguments)")
            #expect(result.stderr.contains("Error:"), "\(arguments)")
            #expect(result.stdout.isEmpty)
        }
        #expect(try SuperwatchRun.run(["up"], in: dir.path).status == 64, "a process's status is passed on as it is")
    }

    @Test func versionAndHelp() throws {
        try withStack(nil, arguments: ["--version"]) { run in
            let version = run.finish()
            #expect(version.status == 0)
            #expect(version.stdout.range(of: #"^\d+\.\d+\.\d+\n$"#, options: .regularExpression) != nil)
            for arguments in [["--help"], ["up", "--help"], ["check", "--help"]] {
                let help = try SuperwatchRun.run(arguments, in: run.path)
                #expect(help.status == 0)
                #expect(help.stdout.contains("USAGE: superwatch"))
            }
        }
    }
}
