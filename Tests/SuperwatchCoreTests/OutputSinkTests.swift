import Foundation
import SuperwatchTestSupport
import Synchronization
import Testing

@testable import SuperwatchCore

#if canImport(Glibc)
    import Glibc
#endif

/// A pipe for a sink to write to (64 KiB, the default size); the test reads (or does not read) the other end.
private func makePipe() throws -> (read: Int32, write: Int32) {
    try Launcher.makePipe(size: nil)
}

/// Reads from `fd` until `count` bytes have arrived (or end of file).
private func readBytes(_ fd: Int32, count: Int) -> [UInt8] {
    var got: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 1 << 16)
    while got.count < count {
        let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n < 0 && errno == EINTR { continue }
        if n <= 0 { break }
        got.append(contentsOf: buffer[0..<n])
    }
    return got
}

/// The sink's queue on real pipes: back-pressure, giving up on a stalled reader at exit, a reader that left.
@Suite struct OutputSinkTests {
    @Test func aFullQueueAsksToPauseAndSaysWhenThereIsRoomAgain() throws {
        let pipe = try makePipe()
        defer {
            close(pipe.read)
            close(pipe.write)
        }
        let sink = OutputSink(fd: pipe.write)
        let rooms = Mutex(0)
        sink.onRoom { rooms.withLock { $0 += 1 } }
        var sent: [UInt8] = []
        for index in 0..<8 {
            let chunk = [UInt8](repeating: UInt8(ascii: "a") + UInt8(index), count: 1 << 20)
            sent += chunk
            sink.write(chunk)
        }
        // Nobody reads: the pipe holds 64 KiB and the queue the rest, far over the pause threshold.
        #expect(sink.shouldPause())
        #expect(rooms.withLock { $0 } == 0)
        let received = readBytes(pipe.read, count: sent.count)
        #expect(received == sent, "everything, in order")
        // The writer counts its last piece just after the read took it.
        #expect(eventually { rooms.withLock { $0 } == 1 })
        #expect(!sink.shouldPause())
        #expect(sink.finish(within: .seconds(5)) == .written)
    }

    @Test func finishGivesUpOnAReaderThatDoesNotReadAndCountsWhatIsLeft() throws {
        let pipe = try makePipe()
        let sink = OutputSink(fd: pipe.write)
        let closed = Mutex(false)
        sink.onClosed { closed.withLock { $0 = true } }
        sink.write([UInt8](repeating: 0x61, count: 1 << 20))
        let outcome = sink.finish(within: .milliseconds(100))
        guard case .unwritten(let left) = outcome else {
            Issue.record("expected unwritten output, got \(outcome)")
            return
        }
        // The pipe took at most its capacity; the piece being written counts as not written.
        #expect(left > (1 << 20) - (128 << 10) && left <= 1 << 20)
        // Closing the reading end ends the write the writer thread is blocked in (EPIPE); once the sink is
        // closed it writes no more, and the descriptor can go.
        close(pipe.read)
        #expect(eventually { closed.withLock { $0 } })
        close(pipe.write)
    }

    @Test func aReaderThatLeftClosesTheSinkOnce() throws {
        let pipe = try makePipe()
        defer { close(pipe.write) }
        close(pipe.read)
        let sink = OutputSink(fd: pipe.write)
        let closings = Mutex(0)
        sink.onClosed { closings.withLock { $0 += 1 } }
        sink.write(Array("a line\n".utf8))
        sink.write(Array("another\n".utf8))
        #expect(eventually { closings.withLock { $0 } == 1 })
        #expect(sink.finish(within: .seconds(1)) == .closed)
        #expect(closings.withLock { $0 } == 1)
    }
}

@Suite struct LogFormatterTests {
    @Test func eachLineOfAMultiLineEventHasThePrefix() {
        let formatter = LogFormatter(names: ["web", "b"], options: LogOptions())
        let text = formatter.event(
            process: ProcessID(0), SupervisorEvent(.started, "started (pid 1): echo a\necho b\n"))
        // The name column is as wide as `superwatch`, the name of the stack's own events.
        #expect(String(decoding: text, as: UTF8.self) == "web        * started (pid 1): echo a\nweb        * echo b\n")
        let global = formatter.event(process: nil, SupervisorEvent(.notice, "one\n\ntwo"))
        #expect(String(decoding: global, as: UTF8.self) == "superwatch * one\nsuperwatch * \nsuperwatch * two\n")
    }

    @Test func aMultiLineEventIsOneJSONObject() throws {
        let formatter = LogFormatter(names: ["web"], options: LogOptions(format: .json))
        let text = String(
            decoding: formatter.event(process: ProcessID(0), SupervisorEvent(.started, "a\nb")), as: UTF8.self)
        #expect(text.hasSuffix("\"text\":\"a\\nb\"}\n"))
        #expect(text.dropLast().contains("\n") == false)
    }
}
