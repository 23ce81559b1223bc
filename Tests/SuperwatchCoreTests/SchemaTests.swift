import Foundation
import SuperwatchCore
import SuperwatchTestSupport
import Yams
import Testing

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
        #expect((value("stop_signal") as? String).flatMap(SignalName.number) == spec.stopSignal)
        #expect(duration("stop_timeout") == spec.stopTimeout)
        #expect(value("watch") as? [String] == spec.watch)
        #expect(value("ignore") as? [String] == spec.ignore)
        #expect(value("extra_files") as? [String] == spec.extraFiles)
        #expect(value("watcher") as? String == spec.watcher.rawValue)
        #expect(duration("interval") == spec.interval)
        #expect(duration("debounce") == spec.debounce)
    }

    @Test func enumsAreTheModelsCases() {
        func values(_ key: String) -> [String]? { (process[key] as? [String: Any])?["enum"] as? [String] }
        #expect(values("restart") == RestartPolicy.allCases.map(\.rawValue))
        #expect(values("watcher") == WatcherKind.allCases.map(\.rawValue))
        let signals = ((process["stop_signal"] as? [String: Any])?["anyOf"] as? [[String: Any]])?.first?["enum"] as? [String]
        let names = SignalName.all.map(\.name)
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
        let schemaKeys = Array((schema["properties"] as? [String: Any] ?? [:]).keys)
            + Array(((((schema["$defs"] as? [String: Any])?["process"] as? [String: Any])?["properties"]) as? [String: Any] ?? [:]).keys)
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
            for argument in command["arguments"] as? [[String: Any]] ?? [] where argument["shouldDisplay"] as? Bool != false {
                for name in argument["names"] as? [[String: Any]] ?? [] {
                    guard let kind = name["kind"] as? String, let text = name["name"] as? String else { continue }
                    // mdoc writes `-f` as `Fl f` and `--file` as `Fl -file`.
                    let argument = kind == "long" ? "-\(text)" : text
                    seen += 1
                    let documented = Self.contains(page, macro: "Fl", argument)
                    #expect(documented, "superwatch.1 does not document `-\(argument)` of `\(path)` (as `Fl \(argument)`)")
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
            let result = try runCommand(["python3", "-c", """
                import json, sys, jsonschema
                jsonschema.validate(json.load(sys.stdin), json.load(open(sys.argv[1])))
                """, schema], input: json)
            #expect(result.status == 0, "\(file) does not match the schema: \(result.stderr)")
        }
    }

    @Test(.enabled(if: hasJSONSchema, "needs python3 with jsonschema (pip install jsonschema)"))
    func theSchemaRejectsWhatTheLoaderRejects() throws {
        // A guard that the validation above can fail: replicas: 0 is refused by both.
        let result = try runCommand(["python3", "-c", """
            import json, sys, jsonschema
            try:
                jsonschema.validate({"processes": {"w": {"command": "x", "replicas": 0}}}, json.load(open(sys.argv[1])))
            except jsonschema.ValidationError:
                sys.exit(0)
            sys.exit(1)
            """, RepositoryFile.root.appendingPathComponent("schema/superwatch.schema.json").path])
        #expect(result.status == 0)
    }
}

/// Whether mandoc is installed (CI installs it; the lint test says so when it is missing).
let hasMandoc = FileManager.default.isExecutableFile(atPath: "/usr/bin/mandoc")

@Suite struct ManPageLintTests {
    /// `mandoc -T lint -W warning` prints nothing for both pages; `-T utf8` renders them.
    @Test(.enabled(if: hasMandoc, "needs mandoc (apt-get install mandoc)"), arguments: ["man/superwatch.1", "man/superwatch.yaml.5"])
    func pagesAreLintCleanAndRender(page: String) throws {
        func mandoc(_ arguments: [String]) throws -> (status: Int32, output: String) {
            let result = try runCommand(["mandoc"] + arguments + [RepositoryFile.root.appendingPathComponent(page).path])
            return (result.status, result.stdout + result.stderr)
        }
        let lint = try mandoc(["-T", "lint", "-W", "warning"])
        #expect(lint.output.isEmpty && lint.status == 0, "\(lint.output)")
        let rendered = try mandoc(["-T", "utf8"])
        #expect(rendered.status == 0 && rendered.output.contains("superwatch"))
    }
}
