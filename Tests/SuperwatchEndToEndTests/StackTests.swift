import Foundation
import SuperwatchTestSupport
import Testing

/// Procfiles, env files, ports, replicas and the JSON log, through the binary.
@Suite struct StackTests {
    @Test func aProcfileIsFoundWhenThereIsNoYAMLAndGetsItsDotEnv() throws {
        try withStack(
            nil,
            files: [
                "Procfile":
                    "# comment\nweb: echo \"$GREETING from $SUPERWATCH_PROCESS on $PORT\"\nworker: echo \"$GREETING again\"\n",
                ".env": "GREETING='hi there'\n",
            ]
        ) { run in
            let result = run.finish()
            #expect(result.status == 0)
            #expect(lines(of: "web", in: result.stdout) == ["hi there from web on 5000"])
            #expect(lines(of: "worker", in: result.stdout) == ["hi there again"])
            run.write("Procfile.dev", "other: echo dev\n")
            let explicit = try SuperwatchRun.run(["up", "-f", "Procfile.dev"], in: run.path)
            #expect(lines(of: "other", in: explicit.stdout) == ["dev"])
        }
    }

    @Test func procfileLinesForemanAndHonchoSkipAreSkippedWithAWarning() throws {
        try withStack(
            nil, files: ["Procfile": "web: echo ran web\nworker : echo ran worker\n  clock: echo ran clock\n"]
        ) { run in
            let result = run.finish()
            #expect(result.status == 0)
            #expect(
                result.stderr.hasPrefix(
                    """
                    superwatch: Procfile:2:7: warning: skipped `worker :`, a blank before the colon; foreman and honcho skip it too; write `worker:`
                    superwatch: Procfile:3:1: warning: skipped an indented line; foreman and honcho skip it too; write `name: command` at the start of the line to run it

                    """))
            #expect(lines(of: "web", in: result.stdout) == ["ran web"])
            #expect(!result.stdout.contains("ran worker") && !result.stdout.contains("ran clock"))
            let check = try SuperwatchRun.run(["check"], in: run.path)
            #expect(check.status == 0)
            #expect(check.stderr.contains("Procfile:2:7: warning:"))
        }
    }

    @Test func aBadEnvFileLineIsAPositionedErrorAndNothingStarts() throws {
        try withStack(nil, files: ["Procfile": "web: touch started\n", ".env": "OK=1\nexport 2BAD=x\n"]) { run in
            let dotenv = run.finish()
            #expect(dotenv.status == 2)
            #expect(
                dotenv.stderr
                    == "superwatch: .env:2:8: error: `2BAD` is not a valid variable name; use letters, digits and `_`, not starting with a digit\n"
            )
            #expect(dotenv.stdout.isEmpty)
            #expect(!FileManager.default.fileExists(atPath: "\(run.path)/started"))
        }
    }

    @Test func aMissingEnvFileIsAPositionedError() throws {
        try withStack(
            "processes:\n  web:\n    command: touch started\n    env_file: [local.env]\n", arguments: ["check"]
        ) { run in
            let result = run.finish()
            #expect(result.status == 2)
            #expect(
                result.stderr
                    == "superwatch: superwatch.yaml:4:16: error: `env_file`: \(run.path)/local.env does not exist; create it or remove it from the config\n"
            )
        }
    }

    @Test func envFilesAndEnvLayerAsDocumented() throws {
        let yaml = """
            env_file: [base.env]
            env: {B: global-env}
            processes:
              p:
                command: echo "$A $B $C $D $E"
                env_file: p.env
                env: {D: own-env}
            """
        try withStack(
            yaml, files: ["base.env": "A=base\nB=base\nC=base\n", "p.env": "C=p-file\nD=p-file\n"],
            environment: ["A": "outer", "E": "outer"]
        ) { run in
            let result = run.finish()
            #expect(lines(of: "p", in: result.stdout) == ["base global-env p-file own-env outer"])
        }
    }

    /// foreman's "should set port from .env" and honcho's test_expand_processes_port_from_env: PORT in `.env`
    /// is the base of the numbering, over PORT in the shell, under --port; a process's own PORT stays.
    @Test func portFromDotEnvIsTheBaseOfTheNumbering() throws {
        let line = #"echo "$SUPERWATCH_PROCESS $PORT""#
        try withStack(
            nil, files: ["Procfile": "a: \(line)\nb: \(line)\nc: PORT=1 \(line)\n", ".env": "# ports\nPORT=8000\n"],
            environment: ["PORT": "9000"]
        ) { run in
            let result = run.finish()
            #expect(result.status == 0)
            #expect(lines(of: "a", in: result.stdout) == ["a 8000"])
            #expect(lines(of: "b", in: result.stdout) == ["b 8100"])
            let flag = try SuperwatchRun.run(["up", "--port", "7000", "b"], in: run.path)
            #expect(lines(of: "b", in: flag.stdout) == ["b 7100"])
            let fromEnv = try runStack(
                "env: {PORT: \"6000\"}\nprocesses:\n  a: {command: '\(line)'}\n  b: {command: '\(line)', env: {PORT: \"1234\"}}\n"
            )
            #expect(lines(of: "a", in: fromEnv.stdout) == ["a 6000"])
            #expect(lines(of: "b", in: fromEnv.stdout) == ["b 1234"])
        }
    }

    @Test func aPortOutsideOneTo65535IsAnErrorWhereverItComesFrom() throws {
        try withStack(nil, files: ["Procfile": "a: touch started\nb: touch started\n", ".env": "A=1\nPORT=65500\n"]) {
            run in
            let numbered = run.finish()
            #expect(numbered.status == 2)
            #expect(
                numbered.stderr
                    == "superwatch: Procfile:2:1: error: process `b` would get PORT 65600 (65500 + 100 × 1), above 65535; start the ports lower (--port or PORT), or set PORT in its env\n"
            )
            run.write(".env", "A=1\nPORT=70000\n")
            let file = try SuperwatchRun.run(["check"], in: run.path)
            #expect(file.status == 2)
            #expect(
                file.stderr
                    == "superwatch: .env:2:1: error: PORT=70000 is not a port number from 1 to 65535; the first process gets this PORT and each later one 100 more\n"
            )
            run.write(".env", "A=1\n")
            let environment = try SuperwatchRun.run(["up"], in: run.path, environment: ["PORT": "http"])
            #expect(environment.status == 2)
            #expect(
                environment.stderr
                    == "superwatch: error: PORT=http in superwatch's environment is not a port number from 1 to 65535; unset it or start with --port\n"
            )
            let flag = try SuperwatchRun.run(["check", "--port", "0"], in: run.path)
            #expect(flag.status == 2)
            #expect(flag.stderr == "superwatch: error: --port must be between 1 and 65535, found 0\n")
            #expect(!FileManager.default.fileExists(atPath: "\(run.path)/started"))
        }
    }

    @Test func dotEnvInterpolationAndMultiLineValuesReachTheProcess() throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        dir.write("Procfile", "web: printf '%s|%s|%s|%s\\n' \"$URL\" \"$LITERAL\" \"$CERT\" \"$FALLBACK\"\n")
        dir.write(
            ".env",
            "HOST=db\rURL=postgres://${HOST}:${DB_PORT:-5432}/${USER_NAME}\nLITERAL='${HOST}'\nCERT=\"a\nb\"\nFALLBACK=${EMPTY:-none}\n"
        )
        let result = try SuperwatchRun.run(
            ["up"], in: dir.path, environment: ["USER_NAME": "me", "HOST": "shell", "EMPTY": ""])
        #expect(result.status == 0)
        #expect(lines(of: "web", in: result.stdout) == ["postgres://db:5432/me|${HOST}|a", "b|none"])
    }

    @Test func replicasPortsAndConcurrency() throws {
        let line = #"echo "$SUPERWATCH_PROCESS $SUPERWATCH_REPLICA $PORT""#
        let yaml = """
            processes:
              a: {command: '\(line)', replicas: 2}
              b: {command: '\(line)'}
              c: {command: '\(line)'}
              d: {command: '\(line)', env: {PORT: "1234"}}
            """
        try withStack(yaml, arguments: ["up", "--port", "7000", "-c", "c=0,b=3", "-c", "b=1"]) { run in
            let result = run.finish()
            #expect(result.status == 0)
            #expect(lines(of: "a.1", in: result.stdout) == ["a.1 1 7000"])
            #expect(lines(of: "a.2", in: result.stdout) == ["a.2 2 7001"])
            #expect(lines(of: "b", in: result.stdout) == ["b 1 7100"])
            #expect(lines(of: "c", in: result.stdout).isEmpty)
            #expect(lines(of: "d", in: result.stdout) == ["d 1 1234"])
            let fromEnvironment = try SuperwatchRun.run(["up", "a.2"], in: run.path, environment: ["PORT": "9000"])
            #expect(
                fromEnvironment.stdout.split(separator: "\n").filter { $0.contains(" | ") } == [
                    "a.2        | a.2 2 9001"
                ])
            let bad = try SuperwatchRun.run(["up", "-c", "web"], in: run.path)
            #expect(bad.status == 2)
            #expect(bad.stderr.contains("-c: `web` is not NAME=COUNT"))
            let unknown = try SuperwatchRun.run(["up", "-c", "zzz=2"], in: run.path)
            #expect(unknown.status == 2)
            #expect(unknown.stderr.contains("-c names `zzz`"))
        }
    }

    @Test func jsonLogIsOneObjectPerLine() throws {
        let yaml = "processes:\n  web: {command: \"echo 'say \\\"hi\\\"'; echo oops >&2; exit 4\", restart: never}\n"
        try withStack(yaml, arguments: ["up", "--log-format", "json", "--color", "always"]) { run in
            let result = run.finish()
            #expect(result.status == 4)
            let objects = try result.stdout.split(separator: "\n").map { line in
                try #require(
                    try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                    "not a JSON object: \(line)")
            }
            #expect(objects.allSatisfy { ($0["time"] as? String)?.hasSuffix("Z") == true })
            #expect(
                objects.allSatisfy { $0["process"] as? String == "web" || $0["process"] as? String == "superwatch" })
            let output = objects.filter { $0["stream"] != nil }.map { "\($0["stream"]!) \($0["text"]!)" }.sorted()
            #expect(output == ["stderr oops", "stdout say \"hi\""])
            let started = try #require(objects.first { $0["event"] as? String == "started" })
            #expect((started["pid"] as? Int ?? 0) > 0)
            let exited = try #require(objects.first { $0["event"] as? String == "exited" })
            #expect(exited["code"] as? Int == 4)
            #expect(!result.stdout.contains("\u{1B}["), "no colour in JSON")
        }
    }

    @Test func exportSystemdWritesTheUnitsAndNamesThem() throws {
        let dir = stack(
            "processes:\n  web: {command: \"echo hi\", listen: \"127.0.0.1:8123\"}\n  worker: {command: [sleep, \"1\"], replicas: 2}\n"
        )
        defer { dir.remove() }
        let app = URL(fileURLWithPath: dir.path).lastPathComponent
        let result = try SuperwatchRun.run(["export", "systemd", "units"], in: dir.path)
        #expect(result.status == 0, "\(result.stderr)")
        let names = [
            "\(app).target", "\(app)-web.socket", "\(app)-web.service", "\(app)-worker.1.service",
            "\(app)-worker.2.service",
        ]
        #expect(result.stdout == names.map { "units/\($0)\n" }.joined())
        #expect(dir.read("units/\(app)-web.socket")?.contains("ListenStream=127.0.0.1:8123\n") == true)
        #expect(dir.read("units/\(app)-worker.2.service")?.contains("ExecStart=sleep 1\n") == true)
    }

    @Test func completionScriptsAreGenerated() throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        for shell in ["bash", "zsh", "fish"] {
            let result = try SuperwatchRun.run(["--generate-completion-script", shell], in: dir.path)
            #expect(result.status == 0)
            #expect(result.stdout.contains("superwatch"), "\(shell) completion")
            #expect(result.stdout.contains("log-format"), "\(shell) completion knows --log-format")
        }
    }

    static let hasMake = FileManager.default.isExecutableFile(atPath: "/usr/bin/make")

    /// `make install` with a prebuilt binary (BINARY=) so that it does not run a release build.
    @Test(.enabled(if: hasMake, "needs make"))
    func makeInstallAndUninstallWithDESTDIR() throws {
        let root = TemporaryDirectory("superwatch-install")
        defer { root.remove() }
        func make(_ target: String) throws -> Int32 {
            try runCommand([
                "make", "-s", "-C", repositoryRoot.path, target, "PREFIX=/usr", "DESTDIR=\(root.path)",
                "BINARY=\(superwatchBinary)",
            ]).status
        }
        let installed = [
            "usr/bin/superwatch", "usr/share/man/man1/superwatch.1", "usr/share/man/man5/superwatch.yaml.5",
            "usr/share/bash-completion/completions/superwatch", "usr/share/zsh/site-functions/_superwatch",
            "usr/share/fish/vendor_completions.d/superwatch.fish",
        ]
        #expect(try make("install") == 0)
        for path in installed {
            let size = (try? FileManager.default.attributesOfItem(atPath: "\(root.path)/\(path)"))?[.size] as? Int
            #expect((size ?? 0) > 0, "\(path) installed")
        }
        #expect(FileManager.default.isExecutableFile(atPath: "\(root.path)/usr/bin/superwatch"))
        #expect(try make("uninstall") == 0)
        for path in installed { #expect(!FileManager.default.fileExists(atPath: "\(root.path)/\(path)")) }
    }
}
