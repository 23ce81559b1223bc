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

            #expect(await texts(fast) == (0..<100).map { "line \($0)" } + ["exited with code 0"])
            #expect(await texts(slow) == (96..<100).map { "line \($0)" } + ["exited with code 0"], "the newest 5 only")
            #expect(
                await texts(apiOnly) == stride(from: 1, to: 100, by: 2).map { "line \($0)" } + ["exited with code 0"])
            // The rings still hold everything, whatever the subscribers did.
            #expect(output.recent(tail: 1000).count == 101)
        }
    }

    /// A round of the I/O loop reaches a subscriber as one batch, in order, whatever the number of lines in it; a
    /// stack event is a batch of its own; and what a slow reader has not taken yet, it takes in one go.
    @Test func aRoundReachesASubscriberAsOneBatch() async throws {
        try await withNullSink { sink in
            let output = LogFanOut(formatter: plain, sink: sink)
            let follow = output.subscribe()
            var batches = follow.batches.makeAsyncIterator()
            var batch = OutputBatch()
            for index in 0..<500 { line(index % 2 == 0 ? web : api, "first \(index)", into: &batch) }
            output.write(&batch)
            let first = try #require(await batches.next())
            #expect(first.map(\.text) == (0..<500).map { "first \($0)" })
            #expect(first.prefix(2).map(\.process) == ["web", "api"])
            output.event(nil, SupervisorEvent(.notice, "between"))
            let event = try #require(await batches.next())
            #expect(event.map(\.process) == ["superwatch"] && event.first?.kind == "notice")
            // Two rounds before the reader comes back: it gets both at once.
            for index in 0..<3 { line(api, "second \(index)", into: &batch) }
            output.write(&batch)
            line(web, "third", into: &batch)
            output.write(&batch)
            let queued = try #require(await batches.next())
            #expect(queued.map(\.text) == ["second 0", "second 1", "second 2", "third"])
            output.finishSubscribers()
            #expect(await batches.next() == nil)
        }
    }

    /// A reader already waiting is woken once per round, with the whole round: were records handed over one by
    /// one, the reader woken by the first would now and then take a part of a round.
    @Test func aWaitingReaderIsWokenOncePerRound() async throws {
        try await withNullSink { sink in
            let output = LogFanOut(formatter: plain, sink: sink)
            let follow = output.subscribe()
            let sizes = Mutex<[Int]>([])
            let reader = Task {
                for await batch in follow.batches { sizes.withLock { $0.append(batch.count) } }
            }
            var batch = OutputBatch()
            for round in 1...20 {
                for index in 0..<500 { line(web, "\(index)", into: &batch) }
                output.write(&batch)
                #expect(await eventuallyAsync { sizes.withLock { $0.count } == round })
            }
            output.finishSubscribers()
            await reader.value
            #expect(sizes.withLock { $0 } == Array(repeating: 500, count: 20))
        }
    }

    /// The backlog and the stream meet exactly: lines written on another thread while the subscription is made
    /// are in one of them, never both, never neither.
    @Test func theBacklogEndsWhereTheStreamStarts() async throws {
        try await withNullSink { sink in
            let total = 20_000
            let output = LogFanOut(formatter: plain, sink: sink, capacity: total)
            let written = Mutex(0)
            let writer = Thread {
                var batch = OutputBatch()
                for index in 0..<total {
                    line(web, "\(index)", into: &batch)
                    if index % 7 == 6 || index == total - 1 { output.write(&batch) }
                    written.withLock { $0 = index + 1 }
                }
            }
            writer.start()
            #expect(await eventuallyAsync { written.withLock { $0 } > 100 })
            let follow = output.subscribe(tail: total, buffering: total)
            #expect(await eventuallyAsync { written.withLock { $0 } == total })
            output.finishSubscribers()
            var numbers = follow.backlog.compactMap { Int($0.text) }
            #expect(!numbers.isEmpty && numbers.first == 0)
            for await batch in follow.batches { numbers += batch.compactMap { Int($0.text) } }
            #expect(numbers == Array(0..<total))
        }
    }

    /// superwatch's own events reach every subscriber that follows their process (or all), as lines do.
    @Test func eventsReachTheSubscribersOfTheirProcess() async throws {
        try await withNullSink { sink in
            let output = LogFanOut(formatter: plain, sink: sink)
            let all = output.subscribe()
            let webOnly = output.subscribe(processes: [web])
            output.event(web, SupervisorEvent(.started, "started (pid 1)"))
            output.event(api, SupervisorEvent(.started, "started (pid 2)"))
            output.event(nil, SupervisorEvent(.shutdown, "stopping"))
            output.finishSubscribers()
            #expect(await texts(all) == ["started (pid 1)", "started (pid 2)", "stopping"])
            #expect(await texts(webOnly) == ["started (pid 1)"])
        }
    }

    /// A subscription made after the stack ended (a request that came in as `up` was stopping) ends at once,
    /// with the backlog, instead of waiting forever.
    @Test func aSubscriptionAfterTheEndIsFinished() async throws {
        try await withNullSink { sink in
            let output = LogFanOut(formatter: plain, sink: sink)
            output.event(web, SupervisorEvent(.exited, "exited with code 0"))
            output.finishSubscribers()
            let late = output.subscribe(tail: 10)
            #expect(late.backlog.map(\.text) == ["exited with code 0"])
            output.event(web, SupervisorEvent(.notice, "after the end"))
            #expect(await texts(late).isEmpty)
            #expect(output.subscriberCount == 0)
        }
    }

    /// `finish` ends one stream (the API's `timeout`) after what is queued for it; the others go on.
    @Test func finishEndsOneStreamAfterWhatIsQueued() async throws {
        try await withNullSink { sink in
            let output = LogFanOut(formatter: plain, sink: sink)
            let ended = output.subscribe()
            let other = output.subscribe()
            output.event(web, SupervisorEvent(.notice, "one"))
            ended.finish()
            output.event(web, SupervisorEvent(.notice, "two"))
            #expect(await texts(ended) == ["one"])
            output.finishSubscribers()
            #expect(await texts(other) == ["one", "two"])
        }
    }

    /// A follower that never reads does not block the I/O loop's writes: 200,000 lines go through while it
    /// holds its subscription, and it is left with the newest `buffering` records. (Were the hot path to wait
    /// for it, this test would never end.)
    @Test func aStalledFollowerNeverBlocksTheHotPath() async throws {
        try await withNullSink { sink in
            let output = LogFanOut(formatter: plain, sink: sink)
            let stalled = output.subscribe(buffering: 100)
            var batch = OutputBatch()
            for round in 0..<2_000 {
                for index in 0..<100 { line(web, "\(round * 100 + index)", into: &batch) }
                output.write(&batch)
            }
            #expect(output.recent(tail: 1).map(\.text) == ["199999"], "every line went through")
            output.finishSubscribers()
            #expect(await texts(stalled) == (199_900..<200_000).map(String.init))
        }
    }

    @Test func aDroppedSubscriptionIsForgotten() async throws {
        try await withNullSink { sink in
            let output = LogFanOut(formatter: plain, sink: sink)
            var follow: LogFollow? = output.subscribe()
            #expect(output.subscriberCount == 1)
            follow = nil
            _ = follow
            #expect(eventually { output.subscriberCount == 0 })
        }
    }

    /// A reader waiting for records that is cancelled (a client that went away) ends its stream.
    @Test func aCancelledReaderEndsItsStream() async throws {
        try await withNullSink { sink in
            let output = LogFanOut(formatter: plain, sink: sink)
            let follow = output.subscribe()
            let reader = Task { await texts(follow) }
            #expect(output.subscriberCount == 1)
            reader.cancel()
            #expect(await reader.value.isEmpty)
        }
    }
}

/// Every text a follow's stream gives until it ends, batches flattened.
private func texts(_ follow: LogFollow) async -> [String] {
    var texts: [String] = []
    for await batch in follow.batches { texts += batch.map(\.text) }
    return texts
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
