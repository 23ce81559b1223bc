import Foundation
import SuperwatchTestSupport
import Testing
@testable import SuperwatchCore

/// Loading from disk: finding the file, Procfiles, `.env` and `env_file`.
@Suite struct EnvFileTests {
    /// Loads `name` in `directory` the way `superwatch -f DIR/NAME` would; errors as the user reads them.
    func load(_ directory: TemporaryDirectory, _ name: String = "superwatch.yaml") throws(SuperwatchError) -> Config {
        try ConfigLoader.load(path: "\(directory.path)/\(name)")
    }

    func failure(_ directory: TemporaryDirectory, _ name: String = "superwatch.yaml") -> String? {
        do {
            _ = try load(directory, name)
            return nil
        } catch {
            #expect(error.exitStatus == 2)
            return error.description
        }
    }

    @Test func locateTriesTheYAMLNamesThenProcfile() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        #expect(throws: SuperwatchError.self) { try ConfigLoader.locate(explicit: nil, in: directory.path) }
        do {
            _ = try ConfigLoader.locate(explicit: nil, in: directory.path)
        } catch {
            #expect(error.message == "no config file found; tried ./superwatch.yaml, ./superwatch.yml, ./Procfile (use -f FILE to name one)")
        }
        directory.write("Procfile", "web: true\n")
        #expect(try ConfigLoader.locate(explicit: nil, in: directory.path) == "\(directory.path)/Procfile")
        directory.write("superwatch.yml", "processes: {a: {command: x}}\n")
        #expect(try ConfigLoader.locate(explicit: nil, in: directory.path) == "\(directory.path)/superwatch.yml")
    }

    @Test(arguments: [
        ("Procfile", true), ("Procfile.dev", true), ("dir/Procfile", true), ("superwatch.yaml", false),
        ("MyProcfile", false), ("procfile", false),
    ])
    func procfileIsRecognisedByName(path: String, isProcfile: Bool) {
        #expect(ConfigLoader.isProcfile(path) == isProcfile)
    }

    @Test func aProcfileIsLoadedWithItsDotEnv() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        directory.write("Procfile.dev", "web: python3 -m http.server $PORT\nworker: ./work\n")
        directory.write(".env", "GREETING=hi\nexport MODE='dev'\n")
        let config = try load(directory, "Procfile.dev")
        #expect(config.processes.map(\.name) == ["web", "worker"])
        #expect(config.processes[0].command == .shell("python3 -m http.server $PORT"))
        #expect(config.processes[0].cwd == directory.path)
        #expect(config.env == ["GREETING": "hi", "MODE": "dev"])
    }

    @Test func dotEnvIsReadWhenNoEnvFileIsNamed() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        directory.write("superwatch.yaml", "env: {B: yaml}\nprocesses:\n  a: {command: x}\n")
        #expect(try load(directory).env == ["B": "yaml"])
        directory.write(".env", "A=dotenv\nB=dotenv\n")
        #expect(try load(directory).env == ["A": "dotenv", "B": "yaml"])
    }

    @Test func envFilesLayerInTheDocumentedOrder() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        directory.write(".env", "NOT_READ=1\n")
        directory.write("one.env", "A=one\nB=one\nC=one\nD=one\nE=one\n")
        directory.write("two.env", "B=two\nC=two\nD=two\nE=two\n")
        directory.write("conf/proc.env", "D=proc\nE=proc\n")
        directory.write("superwatch.yaml", """
            env_file: [one.env, two.env]
            env: {C: global}
            processes:
              p:
                command: x
                env: {E: own}
                env_file: conf/proc.env
              q: {command: y}
            """)
        let config = try load(directory)
        #expect(config.env == ["A": "one", "B": "two", "C": "global", "D": "two", "E": "two"])
        #expect(config.processes[0].env == ["D": "proc", "E": "own"])
        #expect(config.processes[1].env.isEmpty)
        // What a process sees: the global part under its own.
        #expect(config.env.merging(config.processes[0].env) { $1 } == ["A": "one", "B": "two", "C": "global", "D": "proc", "E": "own"])
    }

    @Test func anEmptyEnvFileListReadsNothing() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        directory.write(".env", "A=1\n")
        directory.write("superwatch.yaml", "env_file: []\nprocesses:\n  p: {command: x}\n")
        #expect(try load(directory).env.isEmpty)
    }

    @Test func aMissingEnvFileIsAnErrorAtItsEntry() {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        directory.write("superwatch.yaml", "env_file: [.env.local]\nprocesses:\n  p: {command: x}\n")
        #expect(failure(directory) == "\(directory.path)/superwatch.yaml:1:12: error: `env_file`: \(directory.path)/.env.local does not exist; create it or remove it from the config")
        directory.write("superwatch.yaml", "processes:\n  p:\n    command: x\n    env_file: nope.env\n")
        #expect(failure(directory) == "\(directory.path)/superwatch.yaml:4:15: error: `env_file`: \(directory.path)/nope.env does not exist; create it or remove it from the config")
    }

    @Test func aBadLineInAnEnvFileIsAnErrorInThatFile() {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        directory.write(".env", "GOOD=1\nthis is not an assignment\n")
        directory.write("superwatch.yaml", "processes:\n  p: {command: x}\n")
        #expect(failure(directory) == "\(directory.path)/.env:2:1: error: expected KEY=VALUE but this line has no `=`; write it as NAME=value, or start it with `#` to make it a comment")
        directory.write("Procfile", "p: x\n")
        #expect(failure(directory, "Procfile")?.hasPrefix("\(directory.path)/.env:2:1: error:") == true)
    }

    @Test func envFilePathsAreShownAsTheConfigFileIs() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        directory.write("superwatch.yaml", "processes:\n  p: {command: x}\n")
        directory.write(".env", "A='unterminated\n")
        let reader = ConfigReader(file: "deploy/superwatch.yaml", directory: directory.path)
        #expect(throws: SuperwatchError(.invalidConfig, "unterminated single-quoted value; add a closing `'` on the same line",
                                        at: SourceLocation(file: "deploy/.env", line: 1, column: 3))) {
            try reader.defaultEnvFile()
        }
    }

    @Test func envFileMustBeAPathOrAList() {
        #expect(configError("env_file: {a: b}\nprocesses:\n  p: {command: x}\n")
            == "superwatch.yaml:1:11: error: `env_file` must be a string, found a mapping")
        #expect(configError("processes:\n  p:\n    command: x\n    env_file: ['']\n")
            == "superwatch.yaml:4:16: error: `env_file` must not be empty")
    }

    @Test func replicasIsValidated() throws {
        #expect(try parse("processes:\n  w: {command: x, replicas: 3}\n").processes[0].replicas == 3)
        #expect(configError("processes:\n  w: {command: x, replicas: 0}\n")
            == "superwatch.yaml:2:29: error: `replicas` must be between 1 and 1000, found 0")
        #expect(try parse("processes:\n  w: {command: x, replicas: 2, listen: \"127.0.0.1:0\"}\n").processes[0].replicas == 2)
    }
}
