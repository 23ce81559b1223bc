import Foundation
import SuperwatchCore
import SuperwatchTestSupport
import Testing
import Yams

/// The checked-in files next to the sources: the JSON Schema and the man pages.
enum RepositoryFile {
    static let root = repositoryRoot

    static func text(_ relativePath: String) throws -> String {
        try String(contentsOf: root.appendingPathComponent(relativePath), encoding: .utf8)
    }

    static func json(_ relativePath: String) throws -> [String: Any] {
        let data = try Data(contentsOf: root.appendingPathComponent(relativePath))
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }
}

/// `schema/superwatch.schema.json` against the Swift config model, so that neither drifts from the other.
@Suite struct SchemaTests {
    let schema: [String: Any]

    init() throws {
        schema = try RepositoryFile.json("schema/superwatch.schema.json")
    }

    var topLevel: [String: Any] { schema["properties"] as? [String: Any] ?? [:] }
    var process: [String: Any] {
        ((schema["$defs"] as? [String: Any])?["process"] as? [String: Any])?["properties"] as? [String: Any] ?? [:]
    }

    @Test func keysAreExactlyTheOnesTheLoaderAccepts() {
        #expect(Set(topLevel.keys) == Set(ConfigKeys.topLevel))
        #expect(Set(process.keys) == Set(ConfigKeys.process))
    }

    /// Holds today: the loader never accepts a key the schema would reject.
    @Test func everyKeyTheLoaderAcceptsIsInTheSchema() {
        #expect(Set(ConfigKeys.topLevel).subtracting(topLevel.keys).isEmpty)
        #expect(Set(ConfigKeys.process).subtracting(process.keys).isEmpty)
    }

    @Test func everyKeyHasADescription() {
        for (key, value) in topLevel.merging(process, uniquingKeysWith: { a, _ in a }) {
            let description = (value as? [String: Any])?["description"] as? String
            #expect(description?.isEmpty == false, "`\(key)` has no description")
        }
    }

    @Test func everyObjectWithPropertiesForbidsOthers() {
        func visit(_ node: Any, path: String) {
            if let object = node as? [String: Any] {
                if object["properties"] != nil {
                    #expect(object["additionalProperties"] as? Bool == false, "\(path) allows unknown keys")
                }
                for (key, value) in object { visit(value, path: "\(path)/\(key)") }
            } else if let array = node as? [Any] {
                for (index, value) in array.enumerated() { visit(value, path: "\(path)/\(index)") }
            }
        }
        visit(schema, path: "#")
    }

    @Test func defaultsAreTheModelsDefaults() throws {
        let spec = ProcessSpec(name: "web", command: .shell("true"), cwd: "/")
        func value(_ key: String) -> Any? { (process[key] as? [String: Any])?["default"] }
        func duration(_ key: String) -> Duration? { (value(key) as? String).flatMap(parseDuration) }

        #expect((value("restart_codes") as? [Int]).map { Set($0.map(Int32.init)) } == spec.restartCodes)
        #expect(value("restart") as? String == spec.restart.rawValue)
        #expect(value("max_restarts") as? Int == spec.maxRestarts)
        #expect(duration("backoff") == spec.backoff)
        #expect((value("stop_signal") as? String).flatMap(UnixSignal.init(name:)) == spec.stopSignal)
        #expect(duration("stop_timeout") == spec.stopTimeout)
        #expect(value("watch") as? [String] == spec.watch)
        #expect(value("ignore") as? [String] == spec.ignore)
        #expect(value("extra_files") as? [String] == spec.extraFiles)
        #expect(value("watcher") as? String == spec.watcher.rawValue)
        #expect(duration("interval") == spec.interval)
        #expect(duration("debounce") == spec.debounce)
        #expect(duration("ready_timeout") == spec.readyTimeout)
        #expect(duration("ready_period") == spec.readyPeriod)
        #expect(value("restart_dependents") as? Bool == spec.restartDependents)
        let health = (schema["$defs"] as? [String: Any])?["healthProbe"] as? [String: Any]
        let healthKeys = health?["properties"] as? [String: Any]
        #expect(
            ((healthKeys?["period"] as? [String: Any])?["default"] as? String).flatMap(parseDuration)
                == HealthCheck.defaultPeriod)
        #expect((healthKeys?["failures"] as? [String: Any])?["default"] as? Int == HealthCheck.defaultFailures)
    }

    @Test func enumsAreTheModelsCases() {
        func values(_ key: String) -> [String]? { (process[key] as? [String: Any])?["enum"] as? [String] }
        #expect(values("restart") == RestartPolicy.allCases.map(\.rawValue))
        #expect(values("watcher") == WatcherKind.allCases.map(\.rawValue))
        let signals =
            ((process["stop_signal"] as? [String: Any])?["anyOf"] as? [[String: Any]])?.first?["enum"] as? [String]
        let names = UnixSignal.configurable.map(\.name)
        #expect(signals.map(Set.init) == Set(names + names.map { "SIG\($0)" }))
    }
}

/// The man pages document every config key and every command-line flag.
@Suite struct ManPageTests {
    /// Whether `source` has the mdoc macro `macro` followed by `argument` (as in `.It Cm restart_codes` or
    /// `.Fl -timestamps`), anywhere on a line.
    static func contains(_ source: String, macro: String, _ argument: String) -> Bool {
        source.split(separator: "\n").contains { line in
            let tokens = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            return zip(tokens, tokens.dropFirst()).contains { ($0 == macro || $0 == ".\(macro)") && $1 == argument }
        }
    }

    @Test func everyConfigKeyIsInTheFileFormatPage() throws {
        let page = try RepositoryFile.text("man/superwatch.yaml.5")
        let schema = try RepositoryFile.json("schema/superwatch.schema.json")
        let schemaKeys =
            Array((schema["properties"] as? [String: Any] ?? [:]).keys)
            + Array(
                ((((schema["$defs"] as? [String: Any])?["process"] as? [String: Any])?["properties"]) as? [String: Any]
                    ?? [:]).keys)
        for key in Set(ConfigKeys.topLevel + ConfigKeys.process + schemaKeys) {
            let documented = Self.contains(page, macro: "Cm", key)
            #expect(documented, "superwatch.yaml.5 does not document `\(key)` (as `.It Cm \(key)`)")
        }
    }

    @Test(.enabled(if: superwatchBinaryIfBuilt != nil, "needs the superwatch executable, built by `swift build`"))
    func everyFlagAndSubcommandIsInTheCommandPage() throws {
        let page = try RepositoryFile.text("man/superwatch.1")
        let binary = try #require(superwatchBinaryIfBuilt)
        let help = try dumpHelp(binary)
        var seen = 0
        func visit(_ command: [String: Any], path: String) {
            for argument in command["arguments"] as? [[String: Any]] ?? []
            where argument["shouldDisplay"] as? Bool != false {
                for name in argument["names"] as? [[String: Any]] ?? [] {
                    guard let kind = name["kind"] as? String, let text = name["name"] as? String else { continue }
                    // mdoc writes `-f` as `Fl f` and `--file` as `Fl -file`.
                    let argument = kind == "long" ? "-\(text)" : text
                    seen += 1
                    let documented = Self.contains(page, macro: "Fl", argument)
                    #expect(
                        documented, "superwatch.1 does not document `-\(argument)` of `\(path)` (as `Fl \(argument)`)")
                }
            }
            for subcommand in command["subcommands"] as? [[String: Any]] ?? [] {
                guard let name = subcommand["commandName"] as? String else { continue }
                let documented = Self.contains(page, macro: "Cm", name)
                #expect(documented, "superwatch.1 does not document the subcommand `\(name)`")
                visit(subcommand, path: "\(path) \(name)")
            }
        }
        visit(try #require(help["command"] as? [String: Any]), path: "superwatch")
        #expect(seen >= 5)
    }

    /// The tool description argument-parser prints for `--experimental-dump-help`.
    func dumpHelp(_ binary: String) throws -> [String: Any] {
        let result = try runCommand([binary, "--experimental-dump-help"])
        #expect(result.status == 0)
        return try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
    }
}

/// Every YAML example in examples/ is valid against the JSON Schema, as an editor using it would say.
@Suite struct ExampleSchemaTests {
    static let hasJSONSchema = pythonCanImport("jsonschema")

    static var exampleFiles: [String] {
        let examples = RepositoryFile.root.appendingPathComponent("examples").path
        let files = FileManager.default.enumerator(atPath: examples)?.compactMap { $0 as? String } ?? []
        return files.filter { $0.hasSuffix(".yaml") || $0.hasSuffix(".yml") }.sorted().map { "examples/\($0)" }
    }

    @Test func thereAreYAMLExamples() {
        #expect(Self.exampleFiles.count >= 2)
    }

    @Test func everyYAMLExampleNamesTheSchemaOnItsFirstLine() throws {
        for file in Self.exampleFiles {
            let first = try RepositoryFile.text(file).split(separator: "\n").first
            #expect(first == "# yaml-language-server: $schema=../../schema/superwatch.schema.json", "\(file)")
        }
    }

    @Test(.enabled(if: hasJSONSchema, "needs python3 with jsonschema (pip install jsonschema)"))
    func everyYAMLExampleIsValidAgainstTheSchema() throws {
        let schema = RepositoryFile.root.appendingPathComponent("schema/superwatch.schema.json").path
        for file in Self.exampleFiles {
            let value = try Yams.load(yaml: try RepositoryFile.text(file))
            let json = try JSONSerialization.data(withJSONObject: try #require(value))
            let result = try runCommand(
                [
                    "python3", "-c",
                    """
                    import json, sys, jsonschema
                    jsonschema.validate(json.load(sys.stdin), json.load(open(sys.argv[1])))
                    """, schema,
                ], input: json)
            #expect(result.status == 0, "\(file) does not match the schema: \(result.stderr)")
        }
    }

    @Test(.enabled(if: hasJSONSchema, "needs python3 with jsonschema (pip install jsonschema)"))
    func theSchemaRejectsWhatTheLoaderRejects() throws {
        // A guard that the validation above can fail: replicas: 0 is refused by both.
        let result = try runCommand([
            "python3", "-c",
            """
            import json, sys, jsonschema
            try:
                jsonschema.validate({"processes": {"w": {"command": "x", "replicas": 0}}}, json.load(open(sys.argv[1])))
            except jsonschema.ValidationError:
                sys.exit(0)
            sys.exit(1)
            """, RepositoryFile.root.appendingPathComponent("schema/superwatch.schema.json").path,
        ])
        #expect(result.status == 0)
    }
}

/// The loader and the JSON Schema accept and refuse the same configs, in both directions: a table of cases
/// each side is asked about (the schema through python's jsonschema, on the JSON an editor would see), and
/// every duration key's pattern against the loader's parser on many strings. What the schema cannot know —
/// files and directories that exist, host names that resolve, glob syntax, the kernel's 128 KiB limit on a
/// variable — is left out of these cases; the README lists those loader-only checks.
@Suite(.enabled(if: ExampleSchemaTests.hasJSONSchema, "needs python3 with jsonschema (pip install jsonschema)"))
struct SchemaAgreementTests {
    static let schemaPath = RepositoryFile.root.appendingPathComponent("schema/superwatch.schema.json").path

    /// Whether jsonschema finds each JSON document (one per line) valid against `schema` (a JSON Schema
    /// document, or a `$ref` into the schema file's `$defs`).
    static func schemaVerdicts(_ documents: [String], definition: String? = nil) throws -> [Bool] {
        let result = try runCommand(
            [
                "python3", "-c",
                """
                import json, sys, jsonschema
                schema = json.load(open(sys.argv[1]))
                if sys.argv[2]:
                    schema = {"$defs": schema["$defs"], "$ref": "#/$defs/" + sys.argv[2]}
                validator = jsonschema.Draft202012Validator(schema)
                for line in sys.stdin:
                    print(1 if validator.is_valid(json.loads(line)) else 0)
                """, schemaPath, definition ?? "",
            ], input: Data((documents.joined(separator: "\n") + "\n").utf8))
        #expect(result.status == 0, "\(result.stderr)")
        return result.stdout.split(separator: "\n").map { $0 == "1" }
    }

    static let processes = "processes:\n  w:\n"

    /// (YAML, whether it is a valid config). Cases the issue named first, then one for each rule both sides
    /// check.
    static let cases: [(yaml: String, valid: Bool)] = [
        (processes + "    werkzeug: host:-1\n", false),
        (processes + "    command: true\n", false),
        (processes + "    command: 42\n", false),
        ("version: '1'\n" + processes + "    command: x\n", false),
        (processes + "    command: x\n    listen: []\n", false),
        (processes + "    command: !!binary aGVsbG8=\n", false),
        (processes + "    !!python/object {command: x}\n", false),
        (processes + "    command: !custom x\n", false),
        (processes + "    command: !!timestamp 2001-12-14\n", false),
        (processes + "    command: !!int 3\n", false),
        (processes + "    command: !!str 42\n", true),
        (processes + "    command: \"42\"\n", true),
        (processes + "    command: 2001-12-14\n", true),
        (processes + "    command: 1.5\n", false),
        (processes + "    command: yes\n", false),
        (processes + "    command: ~\n", false),
        (processes + "    command: \"\"\n", false),
        (processes + "    command: \" \\t\"\n", false),
        (processes + "    command: \"a\\0b\"\n", false),
        (processes + "    command: []\n", false),
        (processes + "    command: [python3, 1]\n", false),
        (processes + "    command: [python3, app.py]\n", true),
        (processes + "    command: !!seq [python3, app.py]\n", true),
        (processes + "    !!map {command: x}\n", true),
        (processes + "    command: !!set {a, b}\n", false),
        ("version: 1\n" + processes + "    command: x\n", true),
        ("version: 1.0\n" + processes + "    command: x\n", true),
        ("version: 2\n" + processes + "    command: x\n", false),
        ("version: true\n" + processes + "    command: x\n", false),
        (processes + "    command: x\n    replicas: 0x10\n", true),
        (processes + "    command: x\n    replicas: 1_000\n", true),
        (processes + "    command: x\n    replicas: 2.0\n", true),
        (processes + "    command: x\n    replicas: !!int \"3\"\n", true),
        (processes + "    command: x\n    replicas: \"2\"\n", false),
        (processes + "    command: x\n    replicas: 1.5\n", false),
        (processes + "    command: x\n    replicas: 1001\n", false),
        (processes + "    command: x\n    replicas: 99999999999999999999999\n", false),
        (processes + "    command: x\n    replicas: .inf\n", false),
        (processes + "    command: x\n    replicas: true\n", false),
        (processes + "    command: x\n    max_restarts: 0o17\n", true),
        (processes + "    command: x\n    max_restarts: -1\n", false),
        (processes + "    command: x\n    restart_codes: [3, 0x4]\n", true),
        (processes + "    command: x\n    restart_codes: [256]\n", false),
        (processes + "    command: x\n    restart_codes: 3\n", false),
        (processes + "    command: x\n    backoff: 30s\n", true),
        (processes + "    command: x\n    backoff: 30\n", true),
        (processes + "    command: x\n    backoff: 0.5m\n", true),
        (processes + "    command: x\n    backoff: 0.0001s\n", true),
        (processes + "    command: x\n    backoff: 30.001\n", false),
        (processes + "    command: x\n    backoff: 31s\n", false),
        (processes + "    command: x\n    backoff: 1:30\n", false),
        (processes + "    command: x\n    backoff: 0\n", false),
        (processes + "    command: x\n    backoff: 99999999999999999999h\n", false),
        (processes + "    command: x\n    stop_timeout: 1:30\n", true),
        (processes + "    command: x\n    stop_timeout: 0\n", true),
        (processes + "    command: x\n    stop_timeout: 1h\n", true),
        (processes + "    command: x\n    stop_timeout: 3600.5\n", false),
        (processes + "    command: x\n    stop_timeout: -1\n", false),
        (processes + "    command: x\n    stop_timeout: .nan\n", false),
        (processes + "    command: x\n    interval: 2562048h\n", false),
        (processes + "    command: x\n    interval: 0s\n", false),
        (processes + "    command: x\n    interval: 60m\n", true),
        (processes + "    command: x\n    debounce: \" 3s\\t\"\n", true),
        (processes + "    command: x\n    debounce: \"3s\\n\"\n", false),
        (processes + "    command: x\n    debounce: 1.5m\n", false),
        (processes + "    command: x\n    debounce: true\n", false),
        (processes + "    command: x\n    stop_signal: sigterm\n", true),
        (processes + "    command: x\n    stop_signal: \"TERM\\n\"\n", false),
        (processes + "    command: x\n    stop_signal: WINCH\n", false),
        (processes + "    command: x\n    stop_signal: 15\n", false),
        (processes + "    command: x\n    restart: sometimes\n", false),
        (processes + "    command: x\n    watcher: inotify\n", false),
        (processes + "    command: x\n    listen: \":0\"\n", true),
        (processes + "    command: x\n    listen: \"[::1]:09999\"\n", true),
        (processes + "    command: x\n    listen: [\"127.0.0.1:65535\", \"unix:run/web.sock\"]\n", true),
        (processes + "    command: x\n    listen: 5000\n", false),
        (processes + "    command: x\n    listen: 1:30\n", false),
        (processes + "    command: x\n    listen: \"127.0.0.1:65536\"\n", false),
        (processes + "    command: x\n    listen: \":+5000\"\n", false),
        (processes + "    command: x\n    listen: \"[foo]:80\"\n", false),
        (processes + "    command: x\n    listen: \"a b:80\"\n", false),
        (processes + "    command: x\n    listen: \"unix:a\\nb\"\n", false),
        (processes + "    werkzeug: app:create_app('dev')\n    debug: yes\n", true),
        (processes + "    werkzeug: pkg.module\n    python: .venv/bin/python\n", true),
        (processes + "    werkzeug: \"app\\n\"\n", false),
        (processes + "    werkzeug: \"app:f(\\n)\"\n", false),
        (processes + "    werkzeug: app\n    debug: \"true\"\n", false),
        (processes + "    command: x\n    python: python3\n", false),
        (processes + "    command: x\n    werkzeug: app\n", false),
        (processes + "    command: x\n    env: {A: 1, B: true, C: 1.5, D: 0x10, E: \"\", F: 2001-12-14}\n", true),
        (processes + "    command: x\n    env: {A: ~}\n", false),
        (processes + "    command: x\n    env: {A: [1]}\n", false),
        (processes + "    command: x\n    env: {1A: x}\n", false),
        (processes + "    command: x\n    env: {A: \"x\\0\"}\n", false),
        (processes + "    command: x\n    env_file: []\n", true),
        (processes + "    command: x\n    cwd: \" \"\n", false),
        (processes + "    command: x\n    watch: [\"\"]\n", false),
        ("processes:\n  web app:\n    command: x\n", false),
        ("processes:\n  \"web\\n\":\n    command: x\n", false),
        ("processes: {}\n", false),
        ("extra: 1\nprocesses:\n  w: {command: x}\n", false),
        ("- a\n", false),
        ("processes:\n  a: &defaults {command: x, backoff: 2s}\n  b: {<<: *defaults, restart: always}\n", true),
        ("processes:\n  a: &defaults {command: x}\n  b: {<<: [*defaults], cmd: y}\n", false),
        ("x-defaults: &defaults {restart: always, backoff: 2s}\nprocesses:\n  w: {<<: *defaults, command: x}\n", true),
        (
            "x-defaults: &d {env: {A: 1}}\nx-more: &m {watch: [\"**/*.py\"]}\nprocesses:\n  w:\n    <<: [*d, *m]\n    command: x\n",
            true
        ),
        ("x-anything: [1, {not: a key}]\nx-: null\nprocesses:\n  w: {command: x}\n", true),
        ("x-defaults: &d {restart: sometimes}\nprocesses:\n  w: {<<: *d, command: x}\n", false),
        ("x-defaults: &d {comand: x}\nprocesses:\n  w: {<<: *d}\n", false),
        ("X-defaults: 1\nprocesses:\n  w: {command: x}\n", false),
        ("y-defaults: 1\nprocesses:\n  w: {command: x}\n", false),
        ("processes:\n  w: {command: x, x-note: y}\n", false),
        ("processes:\n  superwatch: {command: x}\n", false),
        ("processes:\n  superwatch2: {command: x}\n", true),
        (processes + "    command: x\n    image: registry.example/app:1.2\n", true),
        (processes + "    command: x\n    image: \"app latest\"\n", false),
        (processes + "    command: x\n    image: \"\"\n", false),
        (processes + "    command: x\n    image: 3\n", false),
        (processes + "    command: x\n    ready: {tcp: \"127.0.0.1:5432\"}\n", true),
        (processes + "    command: x\n    ready: {tcp: \":5432\"}\n", true),
        (processes + "    command: x\n    ready: {tcp: \"[::1]:5432\"}\n", true),
        (processes + "    command: x\n    ready: {tcp: \"127.0.0.1:0\"}\n", false),
        (processes + "    command: x\n    ready: {tcp: 5432}\n", false),
        (processes + "    command: x\n    ready: {tcp: \"unix:a.sock\"}\n", false),
        (processes + "    command: x\n    ready: {http: \"http://127.0.0.1:8000/health?x=1\"}\n", true),
        (processes + "    command: x\n    ready: {http: \"HTTP://localhost\"}\n", true),
        (processes + "    command: x\n    ready: {http: \"https://127.0.0.1/\"}\n", false),
        (processes + "    command: x\n    ready: {http: \"http://127.0.0.1:0/\"}\n", false),
        (processes + "    command: x\n    ready: {http: \"http://127.0.0.1/a b\"}\n", false),
        (processes + "    command: x\n    ready: {http: \"127.0.0.1:8000\"}\n", false),
        (processes + "    command: x\n    ready: {exec: \"pg_isready -q\"}\n", true),
        (processes + "    command: x\n    ready: {log: \"ready to accept\"}\n", true),
        (processes + "    command: x\n    ready: {}\n", false),
        (processes + "    command: x\n    ready: {tcp: \":1\", exec: y}\n", false),
        (processes + "    command: x\n    ready: {exec: y, period: 1s}\n", false),
        (processes + "    command: x\n    ready: y\n", false),
        (processes + "    command: x\n    ready: {exec: y}\n    ready_timeout: 30s\n    ready_period: 0.1\n", true),
        (processes + "    command: x\n    ready_timeout: 0\n", false),
        (processes + "    command: x\n    ready_period: 2h\n", false),
        (processes + "    command: x\n    health: {http: \"http://127.0.0.1:8000/\", period: 5s, failures: 3}\n", true),
        (processes + "    command: x\n    health: {exec: y}\n", true),
        (processes + "    command: x\n    health: {log: y}\n", false),
        (processes + "    command: x\n    health: {period: 5s}\n", false),
        (processes + "    command: x\n    health: {exec: y, failures: 0}\n", false),
        (processes + "    command: x\n    health: {exec: y, tcp: \":1\"}\n", false),
        (processes + "    command: x\n    restart_dependents: true\n", true),
        (processes + "    command: x\n    restart_dependents: 1\n", false),
        ("processes:\n  a: {command: x}\n  b: {command: y, depends_on: [a]}\n", true),
        ("processes:\n  a: {command: x}\n  b: {command: y, depends_on: {a: completed}}\n", true),
        ("processes:\n  a: {command: x}\n  b: {command: y, depends_on: {a: finished}}\n", false),
        ("processes:\n  a: {command: x}\n  b: {command: y, depends_on: [a, a]}\n", false),
        ("processes:\n  a: {command: x}\n  b: {command: y, depends_on: a}\n", false),
        ("processes:\n  a: {command: x}\n  b: {command: y, depends_on: [\"a b\"]}\n", false),
    ]

    @Test func theLoaderAndTheSchemaAgreeOnEveryCase() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        var documents: [String] = []
        for (yaml, _) in Self.cases {
            let node = try #require(try Yams.compose(yaml: yaml))
            documents.append((try? SchemaView.json(node)) ?? "\"not representable as JSON\"")
        }
        let verdicts = try Self.schemaVerdicts(documents)
        try #require(verdicts.count == Self.cases.count)
        for ((yaml, valid), schemaValid) in zip(Self.cases, verdicts) {
            let loaderError: SuperwatchError?
            do {
                _ = try ConfigLoader.parse(
                    yaml: yaml, file: "superwatch.yaml", directory: directory.path, hostLookup: .numericOnly)
                loaderError = nil
            } catch {
                loaderError = error
            }
            #expect((loaderError == nil) == valid, "loader: \(loaderError?.description ?? "accepted") for\n\(yaml)")
            #expect(schemaValid == valid, "schema: \(schemaValid ? "accepted" : "rejected") for\n\(yaml)")
        }
    }

    /// Many spellings around each maximum, in every unit: the pattern and the parser decide alike.
    @Test(arguments: DurationKey.allCases)
    func durationPatternsMatchTheParser(key: DurationKey) throws {
        let numbers = [
            "0", "00", "0.0", ".0", "0.", "1", "1.0", "1.0001", "0.9999", "5.", ".5", "0.5", "0.50", "0.51", "0.0083",
            "0.00833", "0.0083333333", "0.0084", "0.01666", "0.0166666", "0.0167", "29", "29.9999", "30", "30.", "30.0",
            "30.000", "30.0001", "31", "59", "60", "60.0", "60.01", "3599", "3600", "3600.0", "3600.1", "29999",
            "30000", "30000.0", "30001", "59999.5", "60000", "60000.5", "3599999", "3600000", "3600000.0", "3600000.1",
            "99999999999999999999", "", ".", "1e3", "-1", "+1", "0x1", "1.2.3", "١",
        ]
        var texts: [String] = []
        for number in numbers {
            for unit in ["", "ms", "s", "m", "h", "S", "sec", "mss"] {
                for form in ["\(number)\(unit)", " \(number)\(unit)\t", "\(number)\(unit)\n", "\(number) \(unit)"] {
                    texts.append(form)
                }
            }
        }
        let definition = [
            "backoff": "backoffDuration", "stop_timeout": "stopTimeoutDuration",
            "interval": "intervalDuration", "debounce": "debounceDuration",
            "ready_timeout": "intervalDuration", "ready_period": "intervalDuration",
        ][key.rawValue]!
        let verdicts = try Self.schemaVerdicts(texts.map(SchemaView.quoted), definition: definition)
        try #require(verdicts.count == texts.count)
        #expect(verdicts.filter { $0 }.count > 50 && verdicts.filter { !$0 }.count > 50)
        for (text, schemaValid) in zip(texts, verdicts) {
            let parsed = try? parseDuration(text, maximum: key.maximum).get()
            let loaderValid = parsed.map { !key.mustBePositive || $0 > .zero } ?? false
            #expect(
                loaderValid == schemaValid,
                "\(key.rawValue): \(text.debugDescription): loader \(loaderValid), schema \(schemaValid)")
        }
    }

    /// The schema's patterns are the ones `DurationPattern` builds from the maxima, and its number forms have
    /// the same maximum, so changing a maximum in the code without the schema fails here.
    @Test(arguments: DurationKey.allCases)
    func durationDefinitionsFollowTheMaxima(key: DurationKey) throws {
        let schema = try RepositoryFile.json("schema/superwatch.schema.json")
        let process =
            ((schema["$defs"] as? [String: Any])?["process"] as? [String: Any])?["properties"] as? [String: Any]
        let reference = try #require((process?[key.rawValue] as? [String: Any])?["$ref"] as? String)
        let name = try #require(reference.split(separator: "/").last.map(String.init))
        let definition = try #require((schema["$defs"] as? [String: Any])?[name] as? [String: Any])
        let branches = try #require(definition["oneOf"] as? [[String: Any]])
        let expected = DurationPattern.pattern(maximumMilliseconds: Int(key.maximum.milliseconds))
        #expect(branches[0]["pattern"] as? String == expected, "the schema's \(name) pattern should be \(expected)")
        #expect(branches[1]["maximum"] as? Int == Int(key.maximum.milliseconds / 1000))
        #expect((branches[1]["exclusiveMinimum"] != nil) == key.mustBePositive)
    }
}

/// Whether mandoc is installed (CI installs it; the lint test says so when it is missing).
let hasMandoc = FileManager.default.isExecutableFile(atPath: "/usr/bin/mandoc")

@Suite struct ManPageLintTests {
    /// `mandoc -T lint -W warning` prints nothing for both pages; `-T utf8` renders them.
    @Test(
        .enabled(if: hasMandoc, "needs mandoc (apt-get install mandoc)"),
        arguments: ["man/superwatch.1", "man/superwatch.yaml.5"])
    func pagesAreLintCleanAndRender(page: String) throws {
        func mandoc(_ arguments: [String]) throws -> (status: Int32, output: String) {
            let result = try runCommand(
                ["mandoc"] + arguments + [RepositoryFile.root.appendingPathComponent(page).path])
            return (result.status, result.stdout + result.stderr)
        }
        let lint = try mandoc(["-T", "lint", "-W", "warning"])
        #expect(lint.output.isEmpty && lint.status == 0, "\(lint.output)")
        let rendered = try mandoc(["-T", "utf8"])
        #expect(rendered.status == 0 && rendered.output.contains("superwatch"))
    }
}
