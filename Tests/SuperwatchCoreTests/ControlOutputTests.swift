import Foundation
import SuperwatchCore
import SuperwatchTestSupport
import Testing

/// What the CLI prints from the API's answers, and the config's `log_buffer`.
@Suite struct ControlOutputTests {
    @Test func statusIsATableInTheStacksOrder() async {
        let now = Date(timeIntervalSince1970: 1_700_000_000 + 192)
        let table = StatusTable.render(await FakeStack.sample().processes, now: now)
        #expect(
            table == """
                NAME      STATE        PID   UPTIME  RESTARTS  LAST EXIT           ADDRESS
                web       running      4001  3m12s   0         -                   http://127.0.0.1:5000
                worker.1  running      4002  3m12s   2         -                   -
                worker.2  backing-off  -     -       3         exited with code 1  -
                db        stopped      -     -       0         -                   -

                """)
    }

    @Test(arguments: [
        (0.0, "0s"), (59.9, "59s"), (60, "1m00s"), (3599, "59m59s"), (3600, "1h00m"), (86399, "23h59m"),
        (86400, "1d00h"), (90061, "1d01h"), (-5, "0s"),
    ])
    func uptimeIsTwoUnitsAtMost(seconds: Double, text: String) {
        #expect(StatusTable.uptime(seconds) == text)
    }

    @Test func recordsArePrintedAsUpPrintsThem() throws {
        let printer = LogRecordPrinter(names: ["web", "worker.1"], color: false, json: false)
        let time = Date(timeIntervalSince1970: 1_800_000_000.25)
        func text(_ record: LogRecord) throws -> String { String(decoding: try printer.format(record), as: UTF8.self) }
        #expect(
            try text(LogRecord(process: "web", stream: .stdout, time: time, text: "hello")) == "web        | hello\n")
        #expect(
            try text(
                LogRecord(process: "worker.1", stream: .event, time: time, text: "started (pid 4)", kind: "started"))
                == "worker.1   * started (pid 4)\n")
        #expect(
            try text(LogRecord(process: "superwatch", stream: .event, time: time, text: "stopping", kind: "shutdown"))
                == "superwatch * stopping\n")

        let colored = LogRecordPrinter(names: ["web", "worker.1"], color: true, json: false)
        #expect(
            String(
                decoding: try colored.format(LogRecord(process: "worker.1", stream: .stderr, time: time, text: "x")),
                as: UTF8.self) == "\u{1B}[33mworker.1   |\u{1B}[0m x\n", "the second process's colour, as in up")

        let json = LogRecordPrinter(names: ["web"], color: true, json: true)
        #expect(
            String(
                decoding: try json.format(LogRecord(process: "web", stream: .stderr, time: time, text: "é\"")),
                as: UTF8.self)
                == "{\"process\":\"web\",\"stream\":\"stderr\",\"text\":\"é\\\"\","
                + "\"time\":\"2027-01-15T08:00:00.250Z\"}\n"
        )
    }

    @Test func logBufferHasATopLevelDefaultAndAPerProcessValue() throws {
        let config = try ConfigLoader.parse(
            yaml: """
                log_buffer: 500
                processes:
                  web: {command: x}
                  api: {command: y, log_buffer: 20}
                """,
            file: "superwatch.yaml", directory: "/tmp")
        #expect(config.processes.map(\.logBuffer) == [500, 20])
        let defaults = try ConfigLoader.parse(
            yaml: "processes:\n  web: {command: x}\n", file: "superwatch.yaml", directory: "/tmp")
        #expect(defaults.processes[0].logBuffer == 10_000)
        let planned = try StackPlan.make(
            try ConfigLoader.parse(
                yaml: "processes:\n  web: {command: x, replicas: 2, log_buffer: 7}\n", file: "superwatch.yaml",
                directory: "/tmp"))
        #expect(planned.processes.map(\.logBuffer) == [7, 7], "every replica has its own buffer of that size")
    }

    @Test(arguments: [
        (
            "log_buffer: 0\nprocesses:\n  web: {command: x}\n",
            "superwatch.yaml:1:13: error: `log_buffer` must be between 1 and 1000000, found 0"
        ),
        (
            "processes:\n  web:\n    command: x\n    log_buffer: 1000001\n",
            "superwatch.yaml:4:17: error: `log_buffer` must be between 1 and 1000000, found 1000001"
        ),
        (
            "processes:\n  web:\n    command: x\n    log_buffer: lots\n",
            "superwatch.yaml:4:17: error: `log_buffer` must be a whole number, found the string `lots`"
        ),
    ])
    func logBufferIsBounded(yaml: String, expected: String) {
        do {
            _ = try ConfigLoader.parse(yaml: yaml, file: "superwatch.yaml", directory: "/tmp")
            Issue.record("accepted: \(yaml)")
        } catch {
            #expect(error.description == expected)
        }
    }
}
