import Foundation
import SuperwatchTestSupport
import Synchronization
import Testing

@testable import SuperwatchCore

#if canImport(Glibc)
    import Glibc
#endif

private let web = ProcessID(0)
private let api = ProcessID(1)
private let plain = LogFormatter(names: ["web", "api"], options: LogOptions())

/// Feeds `chunks` to a splitter as separate reads; `finish` ends the stream afterwards.
private func split(
    _ chunks: [String], maximumLength: Int = LineSplitter.maximumLineLength, formatter: LogFormatter = plain,
    finish: Bool = false
) -> OutputBatch {
    var splitter = LineSplitter(process: web, stream: .stdout, maximumLength: maximumLength)
    var batch = OutputBatch()
    for chunk in chunks {
        var bytes = Array(chunk.utf8)
        bytes.withUnsafeMutableBytes {
            splitter.consume(UnsafeRawBufferPointer($0), formatter: formatter, timestamp: [], into: &batch)
        }
    }
    if finish { splitter.finish(formatter: formatter, timestamp: [], into: &batch) }
    return batch
}

private func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

/// The records a batch holds for the rings, as (stream, text) pairs.
private func records(_ batch: OutputBatch) -> [String] {
    batch.lines.map { line in
        let bytes = batch.lineBytes[line.offset..<(line.offset + line.length)]
        return "\(line.stream.rawValue):\(text(Array(bytes)))"
    }
}

/// One line of a process's output, as the I/O loop would batch it.
private func line(_ process: ProcessID, _ text: String, stream: StreamKind = .stdout, into batch: inout OutputBatch) {
    var bytes = Array(text.utf8)
    bytes.withUnsafeMutableBytes {
        batch.appendLine(
            process: process, stream: stream, line: UnsafeRawBufferPointer($0), formatter: plain, timestamp: [])
    }
}

@Suite struct LineSplitterTests {
    @Test func cutsLinesAcrossReadsAndHoldsAnUnfinishedOne() {
        let batch = split(["one\ntw", "o\nthr", "ee\nfo"])
        #expect(text(batch.terminal) == "web        | one\nweb        | two\nweb        | three\n")
        #expect(records(batch) == ["stdout:one", "stdout:two", "stdout:three"])
    }

    @Test func aLastLineWithoutNewlineComesOutAtTheEndOnce() {
        var splitter = LineSplitter(process: web, stream: .stderr)
        var batch = OutputBatch()
        var bytes = Array("done\nno newline".utf8)
        bytes.withUnsafeMutableBytes {
            splitter.consume(UnsafeRawBufferPointer($0), formatter: plain, timestamp: [], into: &batch)
        }
        #expect(records(batch) == ["stderr:done"])
        splitter.finish(formatter: plain, timestamp: [], into: &batch)
        splitter.finish(formatter: plain, timestamp: [], into: &batch)
        #expect(records(batch) == ["stderr:done", "stderr:no newline"])
        #expect(text(batch.terminal) == "web        | done\nweb        | no newline\n")
    }

    @Test func aLineOverTheLimitIsSplitAndAnnouncedOncePerLine() {
        let batch = split(["0123456789", "abcdefghij", "xy\nshort\n", "0123456789\n"], maximumLength: 8)
        #expect(
            records(batch) == [
                "stdout:0123456789", "event:a line over 8 bytes was split", "stdout:abcdefghij", "stdout:xy",
                "stdout:short", "stdout:0123456789",
            ])
        #expect(batch.lines.filter { $0.kind == .lineSplit }.count == 1)
        #expect(text(batch.terminal).contains("web        * a line over 8 bytes was split\n"))
        // A whole line in one read is never held, whatever its length.
        #expect(text(batch.terminal).hasSuffix("web        | 0123456789\n"))
    }

    @Test func carriageReturnsPassThroughAndDoNotEndALine() {
        let batch = split(["crlf\r\nprogress 1\rprogress 2\n", "lone\r"], finish: true)
        #expect(records(batch) == ["stdout:crlf\r", "stdout:progress 1\rprogress 2", "stdout:lone\r"])
        let json = split(["crlf\r\n"], formatter: LogFormatter(names: ["web"], options: LogOptions(format: .json)))
        #expect(text(json.terminal).contains(#""text":"crlf\r"}"#))
    }

    @Test func invalidUTF8PassesThroughTheTextStreamUnchanged() {
        var splitter = LineSplitter(process: web, stream: .stdout)
        var batch = OutputBatch()
        var bytes: [UInt8] = [0x61, 0xFF, 0xFE, 0x0A]
        bytes.withUnsafeMutableBytes {
            splitter.consume(UnsafeRawBufferPointer($0), formatter: plain, timestamp: [], into: &batch)
        }
        #expect(Array(batch.terminal.suffix(4)) == [0x61, 0xFF, 0xFE, 0x0A])
    }
}

@Suite struct LogFormatterLineTests {
    private func format(_ line: String, process: ProcessID = web, _ formatter: LogFormatter, timestamp: [UInt8] = [])
        -> String
    {
        var out: [UInt8] = []
        var bytes = Array(line.utf8)
        bytes.withUnsafeMutableBytes {
            formatter.appendLine(
                process: process, stream: .stdout, line: UnsafeRawBufferPointer($0), timestamp: timestamp, into: &out)
        }
        return text(out)
    }

    @Test func textWithoutColourIsAPaddedPrefix() {
        #expect(format("hello", plain) == "web        | hello\n")
        #expect(format("hi", process: api, plain) == "api        | hi\n")
    }

    @Test func textWithColourGivesEachProcessItsOwnColour() {
        let coloured = LogFormatter(names: ["web", "api"], options: LogOptions(color: true))
        #expect(format("hello", coloured) == "\u{1B}[36mweb        |\u{1B}[0m hello\n")
        #expect(format("hi", process: api, coloured) == "\u{1B}[33mapi        |\u{1B}[0m hi\n")
        #expect(
            text(coloured.event(process: nil, SupervisorEvent(.notice, "n"))) == "\u{1B}[1msuperwatch *\u{1B}[0m n\n")
    }

    @Test func timestampsComeFirstAsHoursMinutesSeconds() throws {
        let stamped = LogFormatter(names: ["web"], options: LogOptions(timestamps: true))
        let timestamp = stamped.timestampPrefix()
        #expect(text(timestamp).wholeMatch(of: #/\d\d:\d\d:\d\d /#) != nil)
        #expect(format("hello", stamped, timestamp: timestamp) == text(timestamp) + "web        | hello\n")
        #expect(plain.timestampPrefix().isEmpty, "no clock read when timestamps are off")
    }

    @Test func jsonEscapesWhatJSONCannotCarryRaw() throws {
        let json = LogFormatter(names: ["web"], options: LogOptions(format: .json))
        let timestamp = json.timestampPrefix()
        #expect(text(timestamp).wholeMatch(of: #/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z/#) != nil)
        var out: [UInt8] = []
        var bytes = Array("quote \" backslash \\ tab \t bell \u{07} é".utf8) + [0xFF]
        bytes.withUnsafeMutableBytes {
            json.appendLine(
                process: web, stream: .stderr, line: UnsafeRawBufferPointer($0), timestamp: timestamp, into: &out)
        }
        #expect(out.last == 0x0A && out.dropLast().contains(0x0A) == false, "one line")
        #expect(text(out).contains(#"bell \u0007"#))
        let object = try #require(JSONSerialization.jsonObject(with: Data(out)) as? [String: String])
        #expect(object["process"] == "web")
        #expect(object["stream"] == "stderr")
        #expect(object["time"] == text(timestamp))
        #expect(object["text"] == "quote \" backslash \\ tab \t bell \u{07} é\u{FFFD}", "invalid UTF-8 replaced")
    }

    @Test func aJSONEventCarriesItsKindAndFields() throws {
        let json = LogFormatter(names: ["web"], options: LogOptions(format: .json))
        let out = json.event(
            process: web, SupervisorEvent(.exited, "exited with code 3", [("code", .int(3)), ("why", .string("a\"b"))]))
        let object = try #require(JSONSerialization.jsonObject(with: Data(out)) as? [String: Any])
        #expect(object["event"] as? String == "exited")
        #expect(object["code"] as? Int == 3)
        #expect(object["why"] as? String == "a\"b")
        #expect(object["text"] as? String == "exited with code 3")
    }
}

@Suite struct LogRingTests {
    private func texts(_ ring: LogRing, tail: Int = .max) -> [String] { ring.newest(tail).map(\.text) }

    private func append(_ ring: inout LogRing, _ text: String, sequence: UInt64 = 0) {
        var bytes = Array(text.utf8)
        bytes.withUnsafeMutableBytes {
            ring.append(UnsafeRawBufferPointer($0), time: 0, sequence: sequence, stream: .stdout)
        }
    }

    @Test func keepsTheNewestLinesUpToItsCapacity() {
        var ring = LogRing(capacity: 3, byteLimit: 1 << 20)
        for index in 1...5 { append(&ring, "line \(index)") }
        #expect(ring.count == 3)
        #expect(texts(ring) == ["line 3", "line 4", "line 5"])
        #expect(texts(ring, tail: 2) == ["line 4", "line 5"])
        #expect(texts(ring, tail: 0).isEmpty)
    }

    @Test func dropsOldestLinesPastItsByteLimitButKeepsTheNewest() {
        var ring = LogRing(capacity: 100, byteLimit: 10)
        for text in ["aaaa", "bbbb", "cccc"] { append(&ring, text) }
        #expect(texts(ring) == ["bbbb", "cccc"])
        #expect(ring.bytes == 8)
        append(&ring, String(repeating: "x", count: 50))
        #expect(texts(ring) == [String(repeating: "x", count: 50)], "a line over the limit is kept alone")
    }

    @Test func staysCorrectOverManyLinesAndSegments() {
        var ring = LogRing(capacity: 10, byteLimit: 1 << 20)
        let long = String(repeating: "y", count: LogRing.segmentSize + 5)
        for index in 0..<5000 { append(&ring, index == 4995 ? long : "line \(index)", sequence: UInt64(index)) }
        #expect(texts(ring) == (4990..<5000).map { $0 == 4995 ? long : "line \($0)" })
        #expect(ring.newest(10).map(\.entry.sequence) == (4990..<5000).map(UInt64.init))
    }
}

@Suite struct LogFanOutTests {
    @Test func theTerminalGetsExactlyWhatTheFormatterMakes() throws {
        let pipe = try Launcher.makePipe(size: nil)
        defer { close(pipe.read) }
        let sink = OutputSink(fd: pipe.write)
        let output = LogFanOut(formatter: plain, sink: sink)
        var batch = OutputBatch()
        line(web, "one", into: &batch)
        line(api, "two", stream: .stderr, into: &batch)
        output.write(&batch)
        #expect(batch.isEmpty)
        output.event(web, SupervisorEvent(.started, "started (pid 1)"))
        #expect(sink.finish(within: .seconds(5)) == .written)
        close(pipe.write)
        var got: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while case let n = buffer.withUnsafeMutableBytes({ read(pipe.read, $0.baseAddress, $0.count) }), n > 0 {
            got += buffer[0..<n]
        }
        #expect(text(got) == "web        | one\napi        | two\nweb        * started (pid 1)\n")
    }

    @Test func recentMergesProcessesOldestFirstAndTakesTheTail() async throws {
        try await withNullSink { sink in
            let output = LogFanOut(formatter: plain, sink: sink, capacity: 100)
            output.event(nil, SupervisorEvent(.banner, "superwatch.yaml: 2 processes"))
            var batch = OutputBatch()
            line(web, "w1", into: &batch)
            line(api, "a1", stream: .stderr, into: &batch)
            output.write(&batch)
            output.event(api, SupervisorEvent(.exited, "exited with code 1"))
            line(web, "w2", into: &batch)
            output.write(&batch)

            let all = output.recent(tail: 10)
            #expect(all.map(\.text) == ["superwatch.yaml: 2 processes", "w1", "a1", "exited with code 1", "w2"])
            #expect(all.map(\.process) == ["superwatch", "web", "api", "api", "web"])
            #expect(all.map(\.stream) == [.event, .stdout, .stderr, .event, .stdout])
            #expect(all.map(\.kind) == ["banner", nil, nil, "exited", nil])
            #expect(all.map(\.time) == all.map(\.time).sorted())
            #expect(output.recent(tail: 2).map(\.text) == ["exited with code 1", "w2"])
            #expect(output.recent(processes: [web], tail: 10).map(\.text) == ["w1", "w2"])
            #expect(output.recent(processes: [api], tail: 1).map(\.text) == ["exited with code 1"])
            #expect(output.recent(tail: 0).isEmpty)
        }
    }

    @Test func eachProcessRingIsBoundedOnItsOwn() async throws {
        try await withNullSink { sink in
            let output = LogFanOut(formatter: plain, sink: sink, capacity: 3)
            var batch = OutputBatch()
            for index in 0..<10 { line(web, "w\(index)", into: &batch) }
            line(api, "a0", into: &batch)
            output.write(&batch)
            #expect(output.recent(tail: 100).map(\.text) == ["w7", "w8", "w9", "a0"])
        }
    }

    @Test func eachProcessKeepsAsManyLinesAsItsLogBufferSays() async throws {
        try await withNullSink { sink in
            let output = LogFanOut(formatter: plain, sink: sink, capacities: [2, 4])
            var batch = OutputBatch()
            for index in 0..<10 { line(web, "w\(index)", into: &batch) }
            for index in 0..<10 { line(api, "a\(index)", into: &batch) }
            output.write(&batch)
            #expect(output.recent(tail: 100).map(\.text) == ["w8", "w9", "a6", "a7", "a8", "a9"])
        }
    }

    @Test func aSlowSubscriberLosesItsOldestRecordsAndHoldsUpNobody() async throws {
        try await withNullSink { sink in
            let output = LogFanOut(formatter: plain, sink: sink)
            let slow = output.subscribe(buffering: 5)
            let fast = output.subscribe(buffering: 1000)
            let apiOnly = output.subscribe(processes: [api], buffering: 1000)
            // Nobody reads while 100 lines go out: every write returns at once.
            var batch = OutputBatch()
            for index in 0..<100 {
                line(index % 2 == 0 ? web : api, "line \(index)", into: &batch)
                output.write(&batch)
            }
            output.event(api, SupervisorEvent(.exited, "exited with code 0"))
            output.finishSubscribers()

            var fastTexts: [String] = []
            for await record in fast { fastTexts.append(record.text) }
            #expect(fastTexts == (0..<100).map { "line \($0)" } + ["exited with code 0"])
            var slowTexts: [String] = []
            for await record in slow { slowTexts.append(record.text) }
            #expect(slowTexts == (96..<100).map { "line \($0)" } + ["exited with code 0"], "the newest 5 only")
            var apiTexts: [String] = []
            for await record in apiOnly { apiTexts.append(record.text) }
            #expect(apiTexts == stride(from: 1, to: 100, by: 2).map { "line \($0)" } + ["exited with code 0"])
            // The rings still hold everything, whatever the subscribers did.
            #expect(output.recent(tail: 1000).count == 101)
        }
    }

    @Test func aDroppedSubscriptionIsForgotten() async throws {
        try await withNullSink { sink in
            let output = LogFanOut(formatter: plain, sink: sink)
            var stream: AsyncStream<LogRecord>? = output.subscribe()
            #expect(output.subscriberCount == 1)
            stream = nil
            _ = stream
            #expect(eventually { output.subscriberCount == 0 })
        }
    }
}

/// A sink writing to /dev/null, for tests that look at the rings, the subscribers or the loop.
private func withNullSink(_ body: (OutputSink) async throws -> Void) async throws {
    let fd = open("/dev/null", O_WRONLY | O_CLOEXEC)
    try #require(fd >= 0)
    let sink = OutputSink(fd: fd)
    try await body(sink)
    sink.finish(within: .seconds(5))
    close(fd)
}

@Suite struct IOLoopFailureTests {
    /// epoll_wait made to fail for real: the loop's epoll descriptor is replaced (dup2) by one that is not an
    /// epoll instance, so the kernel answers EINVAL. The loop must say so through `onFailure`, not just stop,
    /// and must still answer requests (a `stop` returns) so that `up` can end with the error.
    @Test func anEpollWaitFailureIsReportedAndStopStillReturns() async throws {
        try await withNullSink { sink in
            let failures = Mutex<[SuperwatchError]>([])
            let loop = try IOLoop(
                output: LogFanOut(formatter: plain, sink: sink), onExit: { _, _, _ in }, onReport: { _, _ in },
                onFailure: { error in failures.withLock { $0.append(error) } })
            let notEpoll = open("/dev/null", O_RDONLY | O_CLOEXEC)
            try #require(notEpoll >= 0)
            // Taken by the loop, which closes it in deinit.
            try #require(dup2(notEpoll, loop.epollFD) == loop.epollFD)
            close(notEpoll)
            loop.start()
            let drained = Mutex(false)
            // Wakes a loop already waiting (on the old instance, which it holds until it returns).
            loop.drain(runID: 1) { drained.withLock { $0 = true } }
            #expect(eventually { failures.withLock { !$0.isEmpty } })
            #expect(eventually { drained.withLock { $0 } }, "a request is answered even when the loop has ended")
            await loop.stop()
            let failure = try #require(failures.withLock { $0.first })
            #expect(failure.code == .system(syscall: "epoll_wait", errno: .invalidArgument))
            #expect(failure.message.contains("epoll_wait: Invalid argument"))
            #expect(failure.message.contains("stopping all processes"))
            #expect(failures.withLock { $0.count } == 1)
        }
    }
}
