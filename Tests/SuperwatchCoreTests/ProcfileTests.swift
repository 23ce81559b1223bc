import Foundation
import SuperwatchCore
import SuperwatchTestSupport
import Testing

@Suite struct ProcfileTests {
    func parse(_ text: String) throws(SuperwatchError) -> Config {
        try Procfile.parse(text, file: "Procfile", directory: "/srv/app")
    }

    /// The error `text` fails with, as the user reads it.
    func failure(_ text: String) -> String? {
        do {
            _ = try parse(text)
            return nil
        } catch {
            #expect(error.code == .invalidConfig)
            return error.description
        }
    }

    // MARK: - Accepted syntax

    @Test func processesInOrderWithDefaults() throws {
        let config = try parse("web: python app.py --port $PORT\nworker: celery -A tasks worker\n")
        var web = ProcessSpec(name: "web", command: .shell("python app.py --port $PORT"), cwd: "/srv/app")
        web.location = SourceLocation(file: "Procfile", line: 1, column: 1)
        var worker = ProcessSpec(name: "worker", command: .shell("celery -A tasks worker"), cwd: "/srv/app")
        worker.location = SourceLocation(file: "Procfile", line: 2, column: 1)
        #expect(config == Config(file: "Procfile", directory: "/srv/app", processes: [web, worker]))
    }

    @Test func everySettingButTheCommandIsTheDefault() throws {
        let spec = try #require(try parse("web: ./run").processes.first)
        #expect(spec.restartCodes == [3])
        #expect(spec.restart == .onFailure)
        #expect(spec.maxRestarts == 5)
        #expect(spec.stopSignal == .terminate)
        #expect(spec.env.isEmpty)
        #expect(!spec.isWatched)
    }

    @Test func commentsAndBlankLinesAreSkipped() throws {
        let config = try parse("# the stack\n\n  # indented comment\n\t\nweb: ./run\n\n")
        #expect(config.processes.map(\.name) == ["web"])
    }

    @Test func whitespaceAroundTheCommandIsTrimmed() throws {
        let config = try parse("web:   ./run -x  \t\nworker:./work")
        #expect(config.processes.map(\.name) == ["web", "worker"])
        #expect(config.processes.map(\.command) == [.shell("./run -x"), .shell("./work")])
        #expect(config.warnings.isEmpty)
    }

    @Test func onlyTheFirstColonSeparates() throws {
        let config = try parse("web: gunicorn -b 0.0.0.0:$PORT app:app")
        #expect(config.processes.first?.command == .shell("gunicorn -b 0.0.0.0:$PORT app:app"))
    }

    @Test func commandsKeepHashesAndQuotes() throws {
        let config = try parse(#"web: echo "a # b" 'c' # shell comment"#)
        #expect(config.processes.first?.command == .shell(#"echo "a # b" 'c' # shell comment"#))
    }

    @Test func namesMayUseDigitsUnderscoresAndDashes() throws {
        let config = try parse("web-1: a\nworker_2: b\nX9: c")
        #expect(config.processes.map(\.name) == ["web-1", "worker_2", "X9"])
    }

    @Test func crlfLineEndingsAndByteOrderMark() throws {
        let config = try parse("\u{FEFF}web: ./run\r\nworker: ./work\r\n")
        #expect(config.processes.map(\.command) == [.shell("./run"), .shell("./work")])
    }

    @Test func namesAreCaseSensitive() throws {
        #expect(try parse("web: a\nWeb: b").processes.count == 2)
    }

    // MARK: - Errors, each at its line and column

    // MARK: - Lines foreman and honcho skip: skipped too, each with a warning at its position

    /// The warnings `text` gives, as the user reads them, and the processes it declares.
    func skipped(_ text: String) throws -> (names: [String], warnings: [String]) {
        let config = try parse(text)
        return (config.processes.map(\.name), config.warnings.map(\.description))
    }

    @Test func anIndentedLineIsSkippedWithAWarning() throws {
        let result = try skipped("web: ./run\n  worker: ./work\n\tclock: ./tick\n")
        #expect(result.names == ["web"])
        #expect(
            result.warnings == [
                "Procfile:2:1: warning: skipped an indented line; foreman and honcho skip it too; write `name: command` at the start of the line to run it",
                "Procfile:3:1: warning: skipped an indented line; foreman and honcho skip it too; write `name: command` at the start of the line to run it",
            ])
    }

    @Test func aBlankBeforeTheColonIsSkippedWithAWarning() throws {
        let result = try skipped("web : ./run\nworker: ./work")
        #expect(result.names == ["worker"])
        #expect(
            result.warnings == [
                "Procfile:1:4: warning: skipped `web :`, a blank before the colon; foreman and honcho skip it too; write `web:`"
            ])
    }

    @Test func aLineWithoutColonIsSkippedWithAWarning() throws {
        let result = try skipped("web: ./run\n\nworker ./work\n")
        #expect(result.names == ["web"])
        #expect(
            result.warnings == [
                "Procfile:3:1: warning: skipped a line without `:`; foreman and honcho skip it too; write it as e.g. `web: python app.py`, or start it with `#` to make it a comment"
            ])
    }

    @Test func aLineWithoutNameIsSkippedWithAWarning() throws {
        let result = try skipped("web: a\n: ./run")
        #expect(
            result.warnings == [
                "Procfile:2:1: warning: skipped a line with no process name before `:`; foreman and honcho skip it too; write it as e.g. `web: python app.py`"
            ])
    }

    @Test func aBadNameIsSkippedWithAWarningAtTheFirstBadCharacter() throws {
        let result = try skipped("web.1: ./run\nmy web: ./run\nwéb: ./run\nok: ./run")
        #expect(result.names == ["ok"])
        #expect(
            result.warnings == [
                "Procfile:1:4: warning: skipped `web.1:`: a process name may only contain letters, digits, `_` and `-`; foreman and honcho skip it too",
                "Procfile:2:3: warning: skipped `my web:`: a process name may only contain letters, digits, `_` and `-`; foreman and honcho skip it too",
                "Procfile:3:2: warning: skipped `wéb:`: a process name may only contain letters, digits, `_` and `-`; foreman and honcho skip it too",
            ])
    }

    @Test func aProcfileWhoseEveryLineIsSkippedIsAnErrorAtTheFirst() {
        #expect(
            failure("# c\n  web: ./run\n")
                == "Procfile:2:1: error: the Procfile declares no processes: skipped an indented line; foreman and honcho skip it too; write `name: command` at the start of the line to run it"
        )
    }

    /// Lines superwatch takes, skips with a warning or skips silently, for comparing with foreman and honcho.
    static let mixedProcfile = "web: a\n  indented: b\nspaced : c\nno colon\nweb.1: d\n# web2: e\n:f\nok:g\nx-y_9: h\n"

    /// honcho's own Procfile reader, when installed, takes exactly the processes superwatch takes.
    @Test(.enabled(if: pythonCanImport("honcho"), "needs honcho"))
    func honchoTakesTheSameProcesses() throws {
        let script =
            "import sys; from honcho.environ import parse_procfile; print(' '.join(parse_procfile(sys.stdin.read()).processes))"
        let honcho = try runCommand(["python3", "-c", script], input: Data(Self.mixedProcfile.utf8))
        #expect(honcho.status == 0, "\(honcho.stderr)")
        #expect(honcho.stdout == "web ok x-y_9\n")
        #expect(try skipped(Self.mixedProcfile).names == ["web", "ok", "x-y_9"])
    }

    /// foreman's own Procfile reader, when installed, takes exactly the processes superwatch takes.
    @Test(.enabled(if: (try? runCommand(["ruby", "-e", "require 'foreman/procfile'"]))?.status == 0, "needs foreman"))
    func foremanTakesTheSameProcesses() throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        dir.write("Procfile", Self.mixedProcfile)
        let foreman = try runCommand(
            [
                "ruby", "-e",
                "require 'foreman/procfile'; n = []; Foreman::Procfile.new(ARGV[0]).entries { |name, _| n << name }; puts n.join(' ')",
                "\(dir.path)/Procfile",
            ])
        #expect(foreman.status == 0, "\(foreman.stderr)")
        #expect(foreman.stdout == "web ok x-y_9\n")
        #expect(try skipped(Self.mixedProcfile).names == ["web", "ok", "x-y_9"])
    }

    @Test func duplicateNameIsReportedAtTheSecondOne() {
        #expect(
            failure("web: a\nworker: b\n# c\nweb: c")
                == "Procfile:4:1: error: duplicate process `web` (first defined at line 1); rename or remove one of them"
        )
    }

    @Test func emptyCommand() {
        #expect(
            failure("web: a\nworker:   ")
                == "Procfile:2:8: error: process `worker` has no command; write it after the `:`")
        #expect(failure("worker:") == "Procfile:1:8: error: process `worker` has no command; write it after the `:`")
    }

    @Test func noProcessesAtAll() {
        let expected =
            "Procfile:1:1: error: the Procfile declares no processes; add a line such as `web: python app.py`"
        #expect(failure("") == expected)
        #expect(failure("# nothing yet\n\n") == expected)
    }

    @Test func aNULIsAnErrorAtItsPosition() {
        #expect(
            failure("web: a\nworker: echo x\u{0}y\n")
                == "Procfile:2:15: error: a NUL character cannot be passed to a process; remove it")
    }

    @Test func aCommandTooLongForTheKernelIsAnErrorAtTheCommand() {
        // It runs as `/bin/sh -c 'exec COMMAND'`, and the kernel takes at most 131071 bytes per argument.
        let command = String(repeating: "a", count: ExecLimits.maximumStringLength - 4)
        #expect(
            failure("web: \(command)\n")
                == "Procfile:1:6: error: the command of `web` is too long: it is 131072 bytes; the kernel passes at most 131071 bytes per argument (MAX_ARG_STRLEN)"
        )
        #expect(failure("web: \(command.dropLast())\n") == nil)
    }

    @Test func invalidUTF8IsAnErrorAtItsPosition() {
        #expect(
            throws: SuperwatchError(
                .invalidConfig, "invalid UTF-8 (byte 0xFF); save the file as UTF-8",
                at: SourceLocation(file: "/srv/app/Procfile", line: 2, column: 9))
        ) {
            try ConfigLoader.parse(bytes: Array("web: a\nworker: ".utf8) + [0xFF], path: "/srv/app/Procfile")
        }
    }

    @Test func errorsNameTheFileAsGiven() {
        do {
            _ = try Procfile.parse("oops", file: "deploy/Procfile.dev", directory: "/srv/app")
            Issue.record("expected an error")
        } catch {
            #expect(error.location == SourceLocation(file: "deploy/Procfile.dev", line: 1, column: 1))
            #expect(error.exitStatus == 2)
        }
    }
}
