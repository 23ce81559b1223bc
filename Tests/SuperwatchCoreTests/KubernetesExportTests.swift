import Foundation
import SuperwatchTestSupport
import Testing
import Yams

@testable import SuperwatchCore

/// `superwatch export kubernetes`: the mapping of every setting, compared whole with a golden file, the errors, and
/// the YAML the manifests are written in.
@Suite struct KubernetesExportTests {
    /// A stack that uses every setting the mapping handles, with values YAML and kubelet would misread.
    static let yaml = """
        env: {GREETING: "yes", MODE: "0755"}
        env_file: global.env
        log_buffer: 500
        processes:
          web:
            command: exec python3 -m http.server --bind 0.0.0.0 $PORT
            image: registry.example/shop/web:1.2
            cwd: services/web
            listen: [127.0.0.1:8000, "unix:run/web.sock", ":8001"]
            replicas: 2
            stop_signal: INT
            stop_timeout: 1.5s
            restart: always
            restart_codes: [4, 3]
            backoff: 250ms
            watch: ["**/*.py"]
            ignore: [tests/]
          api:
            werkzeug: "app:create_app('prod')"
            python: .venv/bin/python
            debug: true
            env_file: api.env
          worker_2:
            command: [/bin/sh, -c, "echo \\"$SUPERWATCH_PROCESS\\" $$ $(date) it's $PORT"]
            max_restarts: 2
            log_buffer: 10
            env: {"on": "off", EMPTY: "", LINES: "a\\nb: c"}
          migrate:
            command: ./migrate.sh && echo done
            restart: never
            replicas: 3
            ready: {log: "^migrated"}
            depends_on: [db]
          serve:
            command: node server.js --port $PORT
            restart: on-failure
            env: {PORT: "9000"}
            depends_on: {db: ready, migrate: completed, worker_2: started, api: started}
            health: {http: "http://localhost:9000/health?deep=1", period: 1500ms}
          db:
            command: postgres
            env: {PORT: "5432"}
            ready: {tcp: "127.0.0.1:5432"}
            ready_timeout: 30s
            health: {exec: "pg_isready -q -p $(echo 5432)", period: 2s, failures: 4}
            restart_dependents: true
        """

    /// The stack above in a directory of its own (its `cwd` and env files exist), loaded.
    static func withStack<T>(_ yaml: String = yaml, _ body: (Config) throws -> T) throws -> T {
        let directory = TemporaryDirectory("superwatch-kubernetes")
        defer { directory.remove() }
        directory.write("services/web/.keep", "")
        directory.write("global.env", "SECRET='a: b # not a comment'\n")
        directory.write("api.env", "FLASK_ENV=production\nTRUE=true\n")
        let config = try ConfigLoader.parse(yaml: yaml, file: "superwatch.yaml", directory: directory.path)
        return try body(config)
    }

    static let options = KubernetesExport.Options(
        app: "shop", image: "shop:latest", workdirRoot: "/app/", basePort: 5000)

    @Test func theMappingOfEverySetting() throws {
        let output = try Self.withStack { try KubernetesExport.export($0, options: Self.options) }
        let mismatch = Golden.mismatch("kubernetes/mapping.yaml", output.stream)
        #expect(mismatch == nil, "\(mismatch ?? "")")
        #expect(
            output.files.map(\.name) == [
                "web.yaml", "api.yaml", "worker-2.yaml", "migrate.yaml", "serve.yaml", "db.yaml",
            ])
    }

    @Test func everyFileIsTheHeaderAndOneProcess() throws {
        let output = try Self.withStack { try KubernetesExport.export($0, options: Self.options) }
        for (file, process) in zip(output.files, output.processes) {
            #expect(file.contents == output.header + process.body)
        }
        #expect(output.stream == output.header + output.processes.map(\.body).joined())
    }

    @Test func everyNoteIsAWarningAtItsKeyAndACommentBeforeItsProcess() throws {
        let output = try Self.withStack { try KubernetesExport.export($0, options: Self.options) }
        let comments = output.stream.split(separator: "\n").filter { $0.hasPrefix("# ") }.dropFirst()
        #expect(comments.map(String.init) == output.notes.map { "# " + $0.description })
        for process in output.processes {
            #expect(process.body.hasPrefix(process.notes.map { "# \($0.description)\n" }.joined() + "---\n"))
        }
        let web = try #require(output.processes.first)
        // listen (three addresses), replicas, stop_signal, stop_timeout, restart_codes, backoff, watch + ignore;
        // `exec …` is PID 1 already and `restart: always` maps, so neither is noted.
        #expect(
            web.notes.map { "\($0.location.line):\($0.location.column)" } == [
                "9:14", "9:30", "9:51", "10:5", "11:5", "12:5", "14:5", "15:5", "16:5",
            ])
        let expected: [String] = [
            "web: `listen` 127.0.0.1:8000 becomes port 8000 on all the pod's interfaces, since a Service cannot "
                + "reach 127.0.0.1 inside a pod; Kubernetes passes no socket (no LISTEN_FDS or WERKZEUG_SERVER_FD), "
                + "so the program must bind port 8000 on all interfaces itself",
            "web: `listen` unix:services/web/run/web.sock is left out: a Service reaches TCP ports only, and "
                + "Kubernetes passes no socket, so the program must make it itself if it still needs it",
            "web: `listen` :8001: Kubernetes passes no socket (no LISTEN_FDS or WERKZEUG_SERVER_FD), so the "
                + "program must bind port 8001 on all interfaces itself",
        ]
        #expect(Array(web.notes.map(\.message).prefix(3)) == expected)
        #expect(
            output.stackNotes.map(\.description) == [
                "superwatch.yaml: warning: the top-level `log_buffer` does not carry over: `kubectl logs` reads what "
                    + "the node keeps"
            ])
    }

    static let hasKubernetesValidate = (try? runCommand(["kubernetes-validate", "--version"]))?.status == 0

    @Test(.enabled(if: hasKubernetesValidate, "needs kubernetes-validate (python3 -m pip install kubernetes-validate)"))
    func kubernetesValidateAcceptsTheMapping() throws {
        let output = try Self.withStack { try KubernetesExport.export($0, options: Self.options) }
        let directory = TemporaryDirectory("superwatch-kubernetes")
        defer { directory.remove() }
        let paths = output.files.map { directory.write($0.name, $0.contents) }
        let result = try runCommand(["kubernetes-validate", "--strict", "--kubernetes-version", "1.37.0"] + paths)
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        #expect(!result.stdout.contains("ERROR") && !result.stdout.contains("WARN"), "\(result.stdout)")
    }

    /// The error `export` throws for `yaml` (in the stack's directory) with `options`, with the stack's directory
    /// (different on every run) as `DIR` in its message.
    func exportError(_ yaml: String, options: KubernetesExport.Options = options) throws -> SuperwatchError? {
        try Self.withStack(yaml) { config -> SuperwatchError? in
            do {
                _ = try KubernetesExport.export(config, options: options)
                return nil
            } catch let error as SuperwatchError {
                var error = error
                let parent = (config.directory as NSString).deletingLastPathComponent
                error.message = error.message.replacingOccurrences(of: config.directory, with: "DIR")
                    .replacingOccurrences(of: "`cwd` \(parent) ", with: "`cwd` PARENT ")
                return error
            }
        }
    }

    @Test func processesWithoutAnImageAreNamed() throws {
        var options = Self.options
        options.image = nil
        let error = try exportError(
            "processes:\n  a: {command: x, image: a:1}\n  b: {command: x}\n  c: {command: x}\n", options: options)
        #expect(
            error
                == SuperwatchError(
                    .usage,
                    "no container image for b, c: give each of them an `image:` in superwatch.yaml, or pass --image "
                        + "IMAGE for every process without one"))
    }

    @Test(arguments: [
        (
            "processes:\n  w: {command: x, listen: \"127.0.0.1:0\"}\n",
            "superwatch.yaml:2:27: error: process `w`: `listen`: Kubernetes needs a fixed port, not 0; write the "
                + "port to export it"
        ),
        (
            "processes:\n  a_b: {command: x}\n  a-b: {command: x}\n",
            "superwatch.yaml:3:3: error: processes `a_b` and `a-b` would both be named `a-b` in Kubernetes "
                + "(lowercase, `_` as `-`); rename one of them"
        ),
        (
            "processes:\n  1web: {command: x}\n",
            "superwatch.yaml:2:3: error: process `1web` cannot be named `1web` in Kubernetes, whose names start with "
                + "a letter, end with a letter or digit and have at most 63 characters; rename it to export it"
        ),
        (
            "processes:\n  w: {command: x, cwd: ..}\n",
            "superwatch.yaml:2:19: error: process `w`: `cwd` PARENT is outside DIR, so --workdir-root cannot place it "
                + "in the image"
        ),
        (
            "processes:\n  w: {werkzeug: \"app:app\", listen: \"unix:w.sock\"}\n",
            "superwatch.yaml:2:28: error: process `w`: a `werkzeug` app runs as `flask run` in Kubernetes, which "
                + "serves one TCP port; give it one TCP `listen` address to export it"
        ),
    ])
    func whatKubernetesCannotRunIsAnError(yaml: String, expected: String) throws {
        #expect(try exportError(yaml)?.description == expected)
    }

    @Test func anInterpreterPathNeedsTheWorkdirRoot() throws {
        var options = Self.options
        options.workdirRoot = nil
        let error = try #require(
            try exportError("processes:\n  w: {werkzeug: \"app:app\", python: venv/bin/python}\n", options: options))
        #expect(error.location == SourceLocation(file: "superwatch.yaml", line: 2, column: 28))
        #expect(error.message.contains("`python` ") && error.message.contains("pass --workdir-root DIR"))
    }

    @Test func theCommandLineOptionsAreChecked() throws {
        var options = Self.options
        options.app = "-shop"
        #expect(try exportError("processes:\n  w: {command: x}\n", options: options)?.code == .usage)
        options.app = "shop"
        options.workdirRoot = "app"
        #expect(
            try exportError("processes:\n  w: {command: x}\n", options: options)
                == SuperwatchError(.usage, "--workdir-root must be an absolute path in the image, found app"))
    }

    @Test func theAppIsNamedAfterTheConfigDirectory() {
        #expect(KubernetesExport.appName(directory: "/home/me/quickstart") == "quickstart")
        #expect(KubernetesExport.appName(directory: "/home/me/-my app!-") == "my-app")
        #expect(KubernetesExport.appName(directory: "/") == "superwatch")
        #expect(KubernetesExport.appName(directory: "/x/" + String(repeating: "a", count: 70)).count == 63)
        #expect(KubernetesExport.isValidApp("shop_2.0") && !KubernetesExport.isValidApp("shop_"))
    }

    @Test(arguments: [
        ("web", "web"), ("/bin/sh", "/bin/sh"), ("a.b-c_d/e", "a.b-c_d/e"), ("yes", "\"yes\""), ("On", "\"On\""),
        ("n", "\"n\""), ("null", "\"null\""), ("0755", "\"0755\""), ("1:30", "\"1:30\""), ("app:1.2", "app:1.2"),
        ("a:", "\"a:\""), ("http://x:80/a", "http://x:80/a"), ("1e3", "\"1e3\""),
        (".inf", "\".inf\""), ("-c", "\"-c\""), ("", "\"\""), ("a: b", "\"a: b\""), ("#x", "\"#x\""),
        ("say \"hi\"\\", #""say \"hi\"\\""#), ("a\nb\tc\u{1}\u{7F}", #""a\nb\tc\x01\x7F""#),
        ("line\u{2028}sep\u{85}", #""line\Lsep\N""#), ("é", "\"é\""), ("~", "\"~\""), ("*ref", "\"*ref\""),
    ])
    func scalarsAreQuotedUnlessPlainIsUnambiguous(text: String, written: String) throws {
        #expect(KubernetesExport.scalar(text) == written)
        // Read back by a YAML reader that types values as YAML 1.1 does, it is the same string.
        let loaded = try Yams.load(yaml: "key: \(written)\n") as? [String: Any]
        #expect(loaded?["key"] as? String == text)
    }

    @Test func documentsAreBlockStyleWithEmptyCollectionsInline() {
        typealias Entry = KubernetesExport.Entry
        let value = KubernetesExport.Value.map([
            Entry("a", .list([.map([Entry("b", .integer(1)), Entry("c", .boolean(true))]), .string("on")])),
            Entry("d", .map([])), Entry("e", .list([])), Entry("f", .map([Entry("g", .list([.list([.integer(2)])]))])),
        ])
        #expect(
            KubernetesExport.yaml(value) == """
                a:
                  - b: 1
                    c: true
                  - "on"
                d: {}
                e: []
                f:
                  g:
                    - - 2

                """)
    }

    @Test(arguments: [
        ("$PORT ${X}", "$PORT ${X}"), ("$(date)", "$$(date)"), ("$$", "$$$"), ("$$(", "$$$$("), ("a$", "a$"),
    ])
    func kubeletReferencesAreEscaped(argument: String, escaped: String) {
        #expect(KubernetesExport.escapingKubeletReferences(argument) == escaped)
    }
}
