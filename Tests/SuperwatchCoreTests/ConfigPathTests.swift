import Foundation
import SuperwatchTestSupport
import Testing

@testable import SuperwatchCore

/// One rule for paths: `cwd` is relative to the config file, every other path in a process relative to that
/// process's cwd, top-level paths relative to the config file; errors name the absolute path tried.
@Suite struct ConfigPathTests {
    func load(_ directory: TemporaryDirectory) throws(SuperwatchError) -> Config {
        try ConfigLoader.load(path: "\(directory.path)/superwatch.yaml", hostLookup: .numericOnly)
    }

    func failure(_ directory: TemporaryDirectory) -> String? {
        do {
            _ = try load(directory)
            return nil
        } catch {
            return error.description
        }
    }

    /// The README's own examples, with `cwd` written before and after the paths that depend on it.
    @Test(arguments: [true, false])
    func pathsInAProcessAreRelativeToItsCwd(cwdFirst: Bool) throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        directory.write("services/api/app.py", "")
        directory.write("services/web/web.env", "GREETING=from-web-env\n")
        directory.write("shared/settings.toml", "")
        directory.write("top.env", "TOP=1\n")
        let apiCwd = "    cwd: services/api\n"
        let webCwd = "    cwd: services/web\n"
        let api =
            "    extra_files: [../../shared/settings.toml]\n    watch: [\"**/*.py\"]\n"
            + "    werkzeug: app:app\n    python: .venv/bin/python\n"
        let web = "    command: x\n    env_file: web.env\n    listen: unix:run/web.sock\n"
        directory.write(
            "superwatch.yaml",
            "env_file: top.env\nprocesses:\n"
                + "  api:\n" + (cwdFirst ? apiCwd + api : api + apiCwd)
                + "  web:\n" + (cwdFirst ? webCwd + web : web + webCwd))
        let config = try load(directory)
        #expect(config.env == ["TOP": "1"], "a top-level env_file is relative to the config file")
        let (apiSpec, webSpec) = (config.processes[0], config.processes[1])
        #expect(apiSpec.cwd == "\(directory.path)/services/api")
        #expect(apiSpec.extraFiles == ["\(directory.path)/shared/settings.toml"])
        #expect(apiSpec.watch == ["**/*.py"], "globs stay relative to cwd, where the watcher applies them")
        #expect(apiSpec.werkzeug?.python == "\(directory.path)/services/api/.venv/bin/python")
        #expect(webSpec.cwd == "\(directory.path)/services/web")
        #expect(webSpec.env == ["GREETING": "from-web-env"])
        #expect(webSpec.listen.map(\.address) == [.unix(path: "\(directory.path)/services/web/run/web.sock")])
    }

    /// `export systemd` writes what the loader resolved: the same files, under the process's cwd.
    @Test func theSystemdExportResolvesTheSame() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        directory.write("services/web/web.env", "GREETING=from-web-env\n")
        directory.write(
            "superwatch.yaml",
            """
            processes:
              web: {command: x, env_file: web.env, listen: "unix:run/web.sock", cwd: services/web}
            """)
        let plan = try StackPlan.make(try load(directory))
        let units = try SystemdExport.units(for: plan, appName: "app")
        let text = Dictionary(uniqueKeysWithValues: units.map { ($0.name, $0.contents) })
        #expect(
            text["app-web.socket"]?.contains("\nListenStream=\(directory.path)/services/web/run/web.sock\n") == true)
        let service = try #require(text["app-web.service"])
        #expect(service.contains("\nWorkingDirectory=\(directory.path)/services/web\n"))
        #expect(service.contains("\nEnvironment=\"GREETING=from-web-env\"\n"))
    }

    @Test func aProcessWithoutCwdResolvesAgainstTheConfigFile() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        directory.write("p.env", "A=1\n")
        directory.write(
            "superwatch.yaml",
            """
            processes:
              p: {command: x, env_file: p.env, extra_files: [conf/a.toml], listen: "unix:run/p.sock"}
            """)
        let spec = try load(directory).processes[0]
        #expect(spec.env == ["A": "1"])
        #expect(spec.extraFiles == ["\(directory.path)/conf/a.toml"])
        #expect(spec.listen.map(\.address) == [.unix(path: "\(directory.path)/run/p.sock")])
    }

    @Test func errorsAboutAPathNameTheAbsolutePathTried() {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        directory.write("services/web/.keep", "")
        directory.write("web.env", "A=1\n")  // beside the config: no longer where `env_file: web.env` points
        directory.write(
            "superwatch.yaml", "processes:\n  web:\n    command: x\n    cwd: services/web\n    env_file: web.env\n")
        #expect(
            failure(directory) == "\(directory.path)/superwatch.yaml:5:15: error: `env_file`: "
                + "\(directory.path)/services/web/web.env does not exist; create it or remove it from the config")
        directory.write("superwatch.yaml", "processes:\n  web:\n    command: x\n    cwd: services/nope\n")
        #expect(
            failure(directory) == "\(directory.path)/superwatch.yaml:4:10: error: `cwd` "
                + "\(directory.path)/services/nope is not an existing directory")
        directory.write("superwatch.yaml", "env_file: ../missing.env\nprocesses:\n  web: {command: x}\n")
        let parent = (directory.path as NSString).deletingLastPathComponent
        #expect(
            failure(directory) == "\(directory.path)/superwatch.yaml:1:11: error: `env_file`: "
                + "\(parent)/missing.env does not exist; create it or remove it from the config")
        let long = String(repeating: "d", count: 100)
        directory.write(
            "superwatch.yaml", "processes:\n  web:\n    command: x\n    cwd: services/web\n    listen: unix:\(long)\n")
        #expect(
            failure(directory) == "\(directory.path)/superwatch.yaml:5:13: error: `listen`: the socket path "
                + "\(directory.path)/services/web/\(long) is longer than the 107 bytes Unix sockets allow")
    }

    @Test func aMissingConfigFileNamesTheAbsolutePathTried() {
        let cwd = FileManager.default.currentDirectoryPath
        #expect(
            throws: SuperwatchError(
                .configNotFound,
                "config file nosuch/superwatch.yaml does not exist "
                    + "(tried \(cwd)/nosuch/superwatch.yaml)")
        ) {
            try ConfigLoader.locate(explicit: "nosuch/superwatch.yaml", in: ".")
        }
        #expect(throws: SuperwatchError(.configNotFound, "config file /nosuch/superwatch.yaml does not exist")) {
            try ConfigLoader.locate(explicit: "/nosuch/superwatch.yaml", in: ".")
        }
    }

    /// A syntax error inside a process's env file points into that file, shown as the config file is.
    @Test func aBadLineInAProcessEnvFileIsShownUnderItsCwd() {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        directory.write("services/web/web.env", "A=1\nnot an assignment\n")
        directory.write("superwatch.yaml", "processes:\n  web: {command: x, cwd: services/web, env_file: web.env}\n")
        #expect(failure(directory)?.hasPrefix("\(directory.path)/services/web/web.env:2:1: error: ") == true)
    }

    @Test func aMissingExtraFileIsAccepted() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        directory.write("superwatch.yaml", "processes:\n  p: {command: x, extra_files: [not/yet/there.toml]}\n")
        let config = try load(directory)
        #expect(config.processes[0].extraFiles == ["\(directory.path)/not/yet/there.toml"])
        #expect(describe(config).contains("extra_files: \(directory.path)/not/yet/there.toml (does not exist yet)\n"))
    }

    @Test(
        arguments: [
            (
                "    watch: [\"[a-\"]\n",
                "superwatch.yaml:4:13: error: `watch`: unclosed '[' in glob pattern '[a-'; write '\\[' for a literal bracket"
            ),
            (
                "    watch: [\"src/*.py\", \"src/[a-\"]\n",
                "superwatch.yaml:4:25: error: `watch`: unclosed '[' in glob pattern 'src/[a-'; write '\\[' for a literal bracket"
            ),
            (
                "    ignore: [\"[a-\"]\n",
                "superwatch.yaml:4:14: error: `ignore`: unclosed '[' in glob pattern '[a-'; write '\\[' for a literal bracket"
            ),
            (
                "    watch: [\"{a,b\"]\n",
                "superwatch.yaml:4:13: error: `watch`: unclosed '{' in glob pattern '{a,b'; write '\\{' for a literal brace"
            ),
        ] as [(String, String)])
    func aGlobThatDoesNotParseIsAPositionedError(yaml: String, expected: String) {
        #expect(configError("processes:\n  web:\n    command: x\n" + yaml) == expected)
    }

    @Test func superwatchIsAReservedProcessName() {
        #expect(
            configError("processes:\n  web: {command: x}\n  superwatch: {command: y}\n")
                == "superwatch.yaml:3:3: error: `superwatch` is a reserved process name: the log shows the stack's own "
                + "events as `superwatch * ...`; rename the process")
        #expect(configError("processes:\n  superwatch-worker: {command: x}\n  Superwatch: {command: y}\n") == nil)
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        directory.write("Procfile", "web: x\nsuperwatch: y\n")
        do {
            _ = try ConfigLoader.load(path: "\(directory.path)/Procfile")
            Issue.record("a Procfile process named superwatch was accepted")
        } catch {
            #expect(
                error.description == "\(directory.path)/Procfile:2:1: error: `superwatch` is a reserved process name: "
                    + "the log shows the stack's own events as `superwatch * ...`; rename the process")
        }
    }

    /// Compose-style `x-` keys hold shared settings; merge keys bring them into processes, nested too.
    @Test func topLevelExtensionKeysAreIgnoredAndMergeIntoProcesses() throws {
        let config = try parse(
            """
            x-defaults: &defaults
              restart: always
              backoff: 2s
              env: {SHARED: "1"}
            x-watching: &watching {watch: ["**/*.py"], debounce: 100ms}
            x-anything: [1, {not: a config key}]
            processes:
              web:
                <<: *defaults
                command: web
              worker:
                <<: [*watching, *defaults]
                command: worker
                backoff: 5s
            """)
        let (web, worker) = (config.processes[0], config.processes[1])
        #expect(web.restart == .always && web.backoff == .seconds(2) && web.env == ["SHARED": "1"])
        #expect(worker.restart == .always && worker.backoff == .seconds(5), "the key written in the process wins")
        #expect(worker.watch == ["**/*.py"] && worker.debounce == .milliseconds(100))
        #expect(
            configError("y-defaults: 1\nprocesses:\n  w: {command: x}\n")?
                .hasPrefix("superwatch.yaml:1:1: error: unknown key `y-defaults` in the top level") == true)
        #expect(
            configError("processes:\n  w: {command: x, x-note: y}\n")?
                .hasPrefix("superwatch.yaml:2:19: error: unknown key `x-note` in process `w`") == true,
            "only top-level keys")
    }
}
