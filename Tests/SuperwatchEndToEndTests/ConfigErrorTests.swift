import Foundation
import SuperwatchTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// What fuzzing and a hostile config found, through the real binary: values that crashed `check` or `up`,
/// files that are not configs, strings cut at a NUL, and variables too long for the kernel. Each is now an
/// error at its position with exit status 2, and nothing starts.
@Suite struct ConfigErrorTests {
    /// `check` and then `up` refuse `yaml` with status 2 and exactly `error` on stderr, and nothing starts.
    func expectCheckAndUpRefuse(
        _ yaml: String, with error: String, sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        let dir = stack(yaml)
        defer { dir.remove() }
        for command in ["check", "up"] {
            let result = try SuperwatchRun.run([command], in: dir.path)
            #expect(result.status == 2, "\(command)", sourceLocation: sourceLocation)
            #expect(result.stderr == "superwatch: \(error)\n", sourceLocation: sourceLocation)
        }
        #expect(!FileManager.default.fileExists(atPath: "\(dir.path)/started"), sourceLocation: sourceLocation)
    }

    @Test func aHugeDurationIsAPositionedErrorNotACrash() throws {
        try expectCheckAndUpRefuse(
            "processes:\n  web: {command: \"touch started\", backoff: 99999999999999999999h}\n",
            with: "superwatch.yaml:2:44: error: `backoff` must be at most 30s, found `99999999999999999999h`")
    }

    @Test func aPollIntervalThatOverflowedUpIsRefusedByCheck() throws {
        try expectCheckAndUpRefuse(
            "processes:\n  web:\n    command: \"touch started\"\n    watch: [\"*.txt\"]\n    watcher: poll\n"
                + "    interval: 2562048h\n",
            with: "superwatch.yaml:6:15: error: `interval` must be at most 1h, found `2562048h`")
    }

    /// The largest values `check` accepts are ones `up` runs with (and stops on SIGTERM).
    @Test func theMaximumDurationsRun() throws {
        let dir = stack(
            """
            processes:
              web:
                command: "echo ready; exec sleep 600"
                watch: ["*.txt"]
                watcher: poll
                interval: 1h
                debounce: 1m
                backoff: 30s
                stop_timeout: 1h
            """)
        defer { dir.remove() }
        #expect(try SuperwatchRun.run(["check"], in: dir.path).status == 0)
        let run = try SuperwatchRun(["up"], in: dir.path)
        #expect(run.waitFor("web        | ready"))
        run.signal(SIGTERM)
        #expect(run.waitForExit() == 0)
    }

    @Test func aFileThatIsNotAConfigIsNamedForWhatItIs() throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        try FileManager.default.createDirectory(atPath: "\(dir.path)/conf.d", withIntermediateDirectories: false)
        #expect(mkfifo("\(dir.path)/fifo.yaml", 0o600) == 0)
        let cases = [
            (
                "conf.d",
                "superwatch: conf.d: error: config file conf.d is a directory, not a file; name a YAML config or a Procfile\n"
            ),
            (
                "/dev/null",
                "superwatch: /dev/null: error: config file /dev/null is not a regular file but a character device; name a YAML config or a Procfile\n"
            ),
            (
                "fifo.yaml",
                "superwatch: fifo.yaml: error: config file fifo.yaml is not a regular file but a FIFO; name a YAML config or a Procfile\n"
            ),
        ]
        for (file, expected) in cases {
            let result = try SuperwatchRun.run(["check", "-f", file], in: dir.path)
            #expect(result.status == 2, "\(file)")
            #expect(result.stderr == expected)
        }
        dir.write("superwatch.yaml", "processes:\n  web:\n    command: x\n    env_file: /dev/zero\n")
        let zero = try SuperwatchRun.run(["check"], in: dir.path)
        #expect(zero.status == 2)
        #expect(
            zero.stderr
                == "superwatch: superwatch.yaml:4:15: error: `env_file`: /dev/zero is not a regular file but a character device; name a file of KEY=VALUE lines\n"
        )
    }

    @Test func aNULIsAnErrorNotACutValue() throws {
        try withStack("processes:\n  web:\n    command: \"echo $X > out\"\n    env: {X: \"a\\0b\"}\n") { run in
            let result = run.finish()
            #expect(result.status == 2)
            #expect(
                result.stderr
                    == "superwatch: superwatch.yaml:4:14: error: the value of X contains a NUL character, which cannot be passed to a process; remove it\n"
            )
            #expect(!FileManager.default.fileExists(atPath: "\(run.path)/out"))
            run.write("superwatch.yaml", "processes:\n  web: {command: x}\n")
            try Data("A=1\nX=a\0b\n".utf8).write(to: URL(fileURLWithPath: "\(run.path)/.env"))
            let envFile = try SuperwatchRun.run(["check"], in: run.path)
            #expect(envFile.status == 2)
            #expect(
                envFile.stderr
                    == "superwatch: .env:2:4: error: a NUL character cannot be passed to a process; remove it\n")
        }
    }

    @Test func aVariableTooLongForTheKernelIsRefusedByCheck() throws {
        let yaml =
            "processes:\n  web:\n    command: x\n    env:\n      BIG: \(String(repeating: "v", count: 140_000))\n"
        try withStack(yaml, arguments: ["check"]) { run in
            let result = run.finish()
            #expect(result.status == 2)
            #expect(
                result.stderr
                    == "superwatch: superwatch.yaml:5:12: error: BIG=VALUE is 140004 bytes; the kernel passes at most 131071 bytes per environment variable (MAX_ARG_STRLEN), so no process could be started with it\n"
            )
        }
    }

    /// superwatch's own environment passed the kernel's limit, but what superwatch adds to it (the Werkzeug
    /// drain directory before PYTHONPATH) may not: the start fails naming the variable.
    @Test func aVariableSuperwatchMakesTooLongIsNamedWhenTheProcessStarts() throws {
        let result = try runStack(
            "processes:\n  web: {command: \"echo hi\", listen: \"127.0.0.1:0\", restart: never}\n",
            environment: ["PYTHONPATH": String(repeating: "p", count: 131_055)])
        #expect(result.stdout.contains("web        * cannot start: PYTHONPATH=VALUE is "))
        #expect(
            result.stdout.contains(
                "bytes; the kernel passes at most 131071 bytes per environment variable (MAX_ARG_STRLEN)"))
        #expect(!result.stdout.contains("web        | hi"))
    }
}
