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
            #expect(
                error.message
                    == "no config file found in \(directory.path); tried ./superwatch.yaml, ./superwatch.yml, ./Procfile (use -f FILE to name one)"
            )
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
        directory.write(
            "superwatch.yaml",
            """
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
        #expect(
            config.env.merging(config.processes[0].env) { $1 } == [
                "A": "one", "B": "two", "C": "global", "D": "proc", "E": "own",
            ])
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
        #expect(
            failure(directory)
                == "\(directory.path)/superwatch.yaml:1:12: error: `env_file`: \(directory.path)/.env.local does not exist; create it or remove it from the config"
        )
        directory.write("superwatch.yaml", "processes:\n  p:\n    command: x\n    env_file: nope.env\n")
        #expect(
            failure(directory)
                == "\(directory.path)/superwatch.yaml:4:15: error: `env_file`: \(directory.path)/nope.env does not exist; create it or remove it from the config"
        )
    }

    @Test func aBadLineInAnEnvFileIsAnErrorInThatFile() {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        directory.write(".env", "GOOD=1\nthis is not an assignment\n")
        directory.write("superwatch.yaml", "processes:\n  p: {command: x}\n")
        #expect(
            failure(directory)
                == "\(directory.path)/.env:2:1: error: expected KEY=VALUE but this line has no `=`; write it as NAME=value, or start it with `#` to make it a comment"
        )
        directory.write("Procfile", "p: x\n")
        #expect(failure(directory, "Procfile")?.hasPrefix("\(directory.path)/.env:2:1: error:") == true)
    }

    @Test func referencesInEnvFilesSeeEarlierFilesThenTheGlobalEnv() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        directory.write(
            "superwatch.yaml",
            """
            env_file: [base.env, more.env]
            env: {TOP: top}
            processes:
              p: {command: x, env_file: [p.env]}
            """)
        directory.write("base.env", "HOST=db\n")
        directory.write("more.env", "URL=pg://${HOST}/${TOP:-unset}\n")
        directory.write("p.env", "OWN=${URL}|${TOP}|${HOST}\n")
        let config = try load(directory)
        #expect(config.env["URL"] == "pg://db/unset", "the top-level env is applied over the files, not read by them")
        #expect(config.processes.first?.env["OWN"] == "pg://db/unset|top|db")
        #expect(config.envLocations["URL"] == SourceLocation(file: "\(directory.path)/more.env", line: 1, column: 1))
    }

    @Test func envFilePathsAreShownAsTheConfigFileIs() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        directory.write("superwatch.yaml", "processes:\n  p: {command: x}\n")
        directory.write(".env", "A='unterminated\n")
        let reader = ConfigReader(file: "deploy/superwatch.yaml", directory: directory.path)
        #expect(
            throws: SuperwatchError(
                .invalidConfig,
                "unterminated single-quoted value: no closing `'` before the end of the file; add one (a quoted value may span lines)",
                at: SourceLocation(file: "deploy/.env", line: 1, column: 3))
        ) {
            try reader.defaultEnvFile()
        }
    }

    @Test func envFileMustBeAPathOrAList() {
        #expect(
            configError("env_file: {a: b}\nprocesses:\n  p: {command: x}\n")
                == "superwatch.yaml:1:11: error: `env_file` must be a string, found a mapping")
        #expect(
            configError("processes:\n  p:\n    command: x\n    env_file: ['']\n")
                == "superwatch.yaml:4:16: error: `env_file` must not be empty")
    }

    @Test func replicasIsValidated() throws {
        #expect(try parse("processes:\n  w: {command: x, replicas: 3}\n").processes[0].replicas == 3)
        #expect(
            configError("processes:\n  w: {command: x, replicas: 0}\n")
                == "superwatch.yaml:2:29: error: `replicas` must be between 1 and 1000, found 0")
        #expect(
            try parse("processes:\n  w: {command: x, replicas: 2, listen: \"127.0.0.1:0\"}\n").processes[0].replicas
                == 2)
    }
}

/// Files that are not what a config names: directories, devices, FIFOs, unreadable and huge files. Each is
/// said for what it is, at the entry that names it, and none is read into memory or waited on.
@Suite struct ConfigFileKindTests {
    func loadError(_ path: String) -> String? {
        do {
            _ = try ConfigLoader.load(path: path)
            return nil
        } catch {
            return error.description
        }
    }

    @Test func aConfigThatIsNotARegularFileSaysWhatItIs() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        try FileManager.default.createDirectory(atPath: "\(directory.path)/conf", withIntermediateDirectories: false)
        #expect(
            loadError("\(directory.path)/conf")
                == "\(directory.path)/conf: error: config file \(directory.path)/conf is a directory, not a file; name a YAML config or a Procfile"
        )
        #expect(
            loadError("/dev/null")
                == "/dev/null: error: config file /dev/null is not a regular file but a character device; name a YAML config or a Procfile"
        )
        #expect(mkfifo("\(directory.path)/fifo", 0o600) == 0)
        #expect(
            loadError("\(directory.path)/fifo")
                == "\(directory.path)/fifo: error: config file \(directory.path)/fifo is not a regular file but a FIFO; name a YAML config or a Procfile",
            "refused without waiting for a writer")
    }

    @Test func anEnvFileThatIsNotARegularFileIsAnErrorAtItsEntry() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        try FileManager.default.createDirectory(atPath: "\(directory.path)/envdir", withIntermediateDirectories: false)
        #expect(mkfifo("\(directory.path)/fifo.env", 0o600) == 0)
        let cases = [
            ("/dev/zero", "/dev/zero is not a regular file but a character device"),
            ("fifo.env", "\(directory.path)/fifo.env is not a regular file but a FIFO"),
            ("envdir", "\(directory.path)/envdir is a directory, not a file"),
        ]
        for (name, reason) in cases {
            directory.write("superwatch.yaml", "processes:\n  p:\n    command: x\n    env_file: [\(name)]\n")
            #expect(
                loadError("\(directory.path)/superwatch.yaml")
                    == "\(directory.path)/superwatch.yaml:4:16: error: `env_file`: \(reason); name a file of KEY=VALUE lines"
            )
        }
        directory.write("superwatch.yaml", "processes:\n  p:\n    command: x\n    env_file: [/proc/self/mem]\n")
        #expect(
            loadError("\(directory.path)/superwatch.yaml")
                == "\(directory.path)/superwatch.yaml:4:16: error: `env_file`: /proc/self/mem cannot be read (read: Input/output error)"
        )
    }

    @Test func aDotEnvThatIsADirectoryIsAnError() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        try FileManager.default.createDirectory(atPath: "\(directory.path)/.env", withIntermediateDirectories: false)
        directory.write("superwatch.yaml", "processes:\n  p: {command: x}\n")
        #expect(
            loadError("\(directory.path)/superwatch.yaml")
                == "\(directory.path)/.env: error: env file \(directory.path)/.env is a directory, not a file; superwatch reads .env beside the config"
        )
    }

    @Test func aFileTooLargeForAConfigIsRefusedWithoutReadingItAll() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let path = "\(directory.path)/huge.env"
        #expect(FileManager.default.createFile(atPath: path, contents: nil))
        let handle = try #require(FileHandle(forWritingAtPath: path))
        try handle.truncate(atOffset: UInt64(SourceFile.maximumSize + 1))
        try handle.close()
        directory.write("superwatch.yaml", "env_file: huge.env\nprocesses:\n  p: {command: x}\n")
        #expect(
            loadError("\(directory.path)/superwatch.yaml")
                == "\(directory.path)/superwatch.yaml:1:11: error: `env_file`: \(path) is larger than 16 MiB, too large for a configuration file; name a file of KEY=VALUE lines"
        )
    }

    @Test func invalidUTF8InAnEnvFileIsAnErrorAtItsPosition() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        directory.write("superwatch.yaml", "processes:\n  p: {command: x, env_file: bad.env}\n")
        try Data(Array("A=1\nB=caf".utf8) + [0xE9] + Array("\n".utf8)).write(
            to: URL(fileURLWithPath: "\(directory.path)/bad.env"))
        #expect(
            loadError("\(directory.path)/superwatch.yaml")
                == "\(directory.path)/bad.env:2:6: error: invalid UTF-8 (byte 0xE9); save the file as UTF-8")
    }
}
