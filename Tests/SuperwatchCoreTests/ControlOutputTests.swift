import Foundation
import SuperwatchTestSupport
import Testing

@testable import SuperwatchCore

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

    /// The follow stream's own JSON writer (no `Codable` encoder per record) writes what the API's encoder
    /// writes, byte for byte, but for control characters, which JSON lets either spell: decoded, they are the
    /// same record.
    @Test func aRecordsJSONIsWhatTheAPIsEncoderWrites() throws {
        let texts = [
            "plain", "quote \" and \\ backslash", "tab\tnew\nline\rcr", "\u{1}\u{8}\u{C}\u{1F}\u{7F}", "é ü 中文 🎉",
            "/a/path/", "", "{\"json\": [1]}",
        ]
        var times = UTCTimestamps()
        for (n, text) in texts.enumerated() {
            for kind in [nil, "started"] {
                let record = LogRecord(
                    process: n % 2 == 0 ? "web.1" : "superwatch", stream: kind == nil ? .stderr : .event,
                    time: Date(timeIntervalSince1970: 1_700_000_000.123 + Double(n) * 0.5), text: text, kind: kind)
                var fast: [UInt8] = []
                record.appendJSON(into: &fast, times: &times)
                let decoded = try ControlAPI.decoder().decode(LogRecord.self, from: Data(fast))
                #expect(decoded.text == text && decoded.kind == kind && decoded.process == record.process)
                #expect(decoded.stream == record.stream)
                #expect(ControlAPI.timestamp(decoded.time) == ControlAPI.timestamp(record.time))
                if !text.unicodeScalars.contains(where: { $0.value < 0x20 }) {
                    let encoded = try ControlAPI.encoder().encode(record)
                    #expect(String(decoding: fast, as: UTF8.self) == String(decoding: encoded, as: UTF8.self))
                }
            }
        }
    }

    /// Times are read back as written, through the direct reader of the API's own form (a follower reads one per
    /// line); a form it does not take goes to the ISO 8601 formatter, which agrees.
    @Test func timestampsReadBackAsWritten() throws {
        var times = UTCTimestamps()
        for milliseconds: Int64 in [0, 1, 999, 1_000, 951_782_400_000, 1_700_000_000_123, 4_102_444_799_999, -1] {
            let date = Date(timeIntervalSince1970: Double(milliseconds) / 1000)
            var bytes: [UInt8] = []
            times.append(date, into: &bytes)
            let text = String(decoding: bytes, as: UTF8.self)
            #expect(text == ControlAPI.timestamp(date))
            let parsed = try #require(UTCTimestamps.parse(text), "\(text)")
            #expect(ControlAPI.timestamp(parsed) == text)
            let formatter = ISO8601DateFormatter()
            formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
            let viaFormatter = try #require(formatter.date(from: text))
            #expect(abs(parsed.timeIntervalSince(viaFormatter)) < 0.000_5, "\(text)")
        }
        #expect(
            ControlAPI.timestamp(try #require(ControlAPI.date("2026-11-29T13:05:01Z"))) == "2026-11-29T13:05:01.000Z")
        for other in [
            "2026-02-30T00:00:00Z", "2026-11-29T24:00:00Z", "2026-11-29 13:05:01Z", "2026-11-29T13:05:01.12Z",
            "2026-11-29T13:05:01+01:00", "x026-11-29T13:05:01Z",
        ] {
            #expect(UTCTimestamps.parse(other) == nil, "\(other)")
        }
        // Another ISO 8601 form still reads, through the formatter.
        #expect(ControlAPI.date("2026-11-29T14:05:01+01:00").map(ControlAPI.timestamp) == "2026-11-29T13:05:01.000Z")
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
