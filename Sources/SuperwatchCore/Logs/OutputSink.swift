import Dispatch
import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// The one place bytes reach superwatch's stdout: a queue of whole lines in front of a thread of its own
/// that writes them.
///
/// Nothing that produces output waits for stdout. The I/O loop and the supervisor's events append whole lines
/// to the queue (so lines never interleave), under a lock that is never held across a write(2); only the
/// writer thread blocks when the reader of stdout is slow or has stopped reading (a paused pager, a hung log
/// shipper), so signals, restarts and shutdown go on meanwhile. Process output is held back rather than
/// dropped: past `pauseThreshold` queued bytes, `shouldPause()` tells the I/O loop to stop reading the
/// processes' pipes until the writer is down to `resumeThreshold`, and the processes block on their own full
/// pipes (back-pressure). Only at exit is anything dropped: what `finish(within:)` could not write in time,
/// with a note on stderr saying how much.
///
/// When the reader is gone (EPIPE, or the I/O loop saw the pipe's reader close), output is dropped from then
/// on and `onClosed` runs once: the supervisor stops the stack, as a SIGPIPE would have stopped it.
public final class OutputSink: Sendable {
    /// Queued bytes at which the I/O loop stops reading process output.
    static let pauseThreshold = 4 << 20
    /// Queued bytes at which it reads again.
    static let resumeThreshold = 1 << 20
    /// The most one write(2) is given, so that an unfinished write leaves at most this much uncounted when a
    /// stalled stdout makes `finish` give up.
    static let writeSize = 64 << 10

    /// How the last of the output fared, from `finish(within:)`.
    public enum Outcome: Sendable, Equatable {
        case written
        /// stdout's reader went away: output was dropped from then on.
        case closed
        /// stdout was not being read: this many bytes were still queued when time ran out.
        case unwritten(Int)
    }

    private struct State {
        var chunks: [[UInt8]] = []
        /// Bytes queued or being written, not yet written.
        var pending = 0
        /// The writer thread sleeps on `wake` and must be signalled for new chunks.
        var writerSleeps = false
        /// The I/O loop paused reading process output and waits for `onRoom`.
        var roomWanted = false
        /// `finish` was called: the writer ends once the queue is empty, and signals `drained` then.
        var finishing = false
        var closed = false
        /// A write failed for another reason than a closed reader; said once on stderr.
        var failureReported = false
        var onClosed: (@Sendable () -> Void)?
        var onRoom: (@Sendable () -> Void)?
    }

    /// The descriptor written to (stdout).
    let fd: Int32
    private let state = Mutex(State())
    private let wake = DispatchSemaphore(value: 0)
    private let drained = DispatchSemaphore(value: 0)
    /// The writer thread's: `runWriter`, `writeOut` and `settle` run on it alone (asserted in debug builds).
    private let writer = ThreadConfinement("superwatch-stdout")

    /// Starts the writer thread. The sink lives until `finish(within:)` (the thread holds it until then).
    public init(fd: Int32 = 1) {
        self.fd = fd
        let thread = Thread { [self] in
            writer.claim()
            runWriter()
        }
        thread.name = "superwatch-stdout"
        thread.start()
    }

    /// Queues `bytes` (whole lines) to be written. Never waits for stdout. Dropped once stdout is closed.
    public func write(_ bytes: [UInt8]) {
        guard !bytes.isEmpty else { return }
        let wakeWriter = state.withLock { state -> Bool in
            guard !state.closed else { return false }
            state.chunks.append(bytes)
            state.pending += bytes.count
            guard state.writerSleeps else { return false }
            state.writerSleeps = false
            return true
        }
        if wakeWriter { wake.signal() }
    }

    /// Sets what runs, once, when stdout's reader is gone. Runs at once when that has already happened.
    public func onClosed(_ handler: @escaping @Sendable () -> Void) {
        let closedAlready = state.withLock { state -> Bool in
            state.onClosed = handler
            return state.closed
        }
        if closedAlready { handler() }
    }

    /// Sets what runs when the queue has drained to `resumeThreshold` after `shouldPause()` said to pause.
    func onRoom(_ handler: @escaping @Sendable () -> Void) {
        state.withLock { $0.onRoom = handler }
    }

    /// Whether the I/O loop should stop reading process output for now: the queue is full. When true, the
    /// `onRoom` handler runs once the writer has caught up.
    func shouldPause() -> Bool {
        state.withLock { state in
            guard state.pending >= Self.pauseThreshold, !state.closed else { return false }
            state.roomWanted = true
            return true
        }
    }

    /// The I/O loop saw stdout's reader go away (the pipe reports an error, the socket a hang-up).
    func readerClosed() { markClosed() }

    /// Whether stdout is a pipe or a socket, which report their reader's departure to epoll (EPOLLERR,
    /// EPOLLHUP) before anything is written. A terminal's hang-up comes as SIGHUP instead; files have no reader.
    var reportsReaderClosing: Bool {
        var info = stat()
        guard fstat(fd, &info) == 0 else { return false }
        let type = info.st_mode & S_IFMT
        return type == S_IFIFO || type == S_IFSOCK
    }

    /// Waits for the queue to be written, then gives up on the rest and says so on stderr, all within
    /// `timeout` (the last tenth of it is for saying so). The last call: nothing may be written after it.
    @discardableResult
    public func finish(within timeout: Duration) -> Outcome {
        let deadline = ContinuousClock.now + timeout
        let wait = state.withLock { state -> Bool in
            state.finishing = true
            if state.writerSleeps {
                state.writerSleeps = false
                wake.signal()  // to end the thread
            }
            return !state.closed && state.pending > 0
        }
        if wait { _ = drained.wait(timeout: .now() + .milliseconds(Int((timeout * 0.9).milliseconds))) }
        let outcome = state.withLock { state -> Outcome in
            if state.closed { return .closed }
            return state.pending > 0 ? .unwritten(state.pending) : .written
        }
        if case .unwritten(let bytes) = outcome {
            Self.notice(
                "stdout is not being read; \((bytes + 1023) / 1024) KiB of output not written",
                waitingAtMost: max(deadline - ContinuousClock.now, .milliseconds(10)))
        }
        return outcome
    }

    // MARK: - Writer thread

    private func runWriter() {
        writer.assertOnOwner()
        // A write to a pipe without a reader raises SIGPIPE at this thread; blocked, it stays pending and the
        // write fails with EPIPE, whatever the process's disposition (superwatch ignores it anyway).
        var pipeSignal = sigset_t()
        sigemptyset(&pipeSignal)
        sigaddset(&pipeSignal, SIGPIPE)
        // ignored: fails only for an invalid `how`, a constant here.
        pthread_sigmask(SIG_BLOCK, &pipeSignal, nil)
        while true {
            let next = state.withLock { state -> [[UInt8]]? in
                if !state.chunks.isEmpty {
                    defer { state.chunks = [] }
                    return state.chunks
                }
                if state.finishing { return [] }
                state.writerSleeps = true
                return nil
            }
            guard let chunks = next else {
                wake.wait()
                continue
            }
            if chunks.isEmpty { return }
            for chunk in chunks { writeOut(chunk) }
        }
    }

    /// Writes one chunk in pieces of at most `writeSize`, counting each piece as written.
    private func writeOut(_ chunk: [UInt8]) {
        writer.assertOnOwner()
        chunk.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = Glibc.write(fd, raw.baseAddress! + offset, min(Self.writeSize, raw.count - offset))
                if n > 0 {
                    offset += n
                    if !settle(n) { return }
                    continue
                }
                var error = n < 0 ? errno : EIO
                if error == EAGAIN {
                    // Someone else made stdout non-blocking (the flag belongs to the shared open file): wait. A
                    // poll that fails (for want of memory) fails this chunk as a write would.
                    var pollFD = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                    do throws(SuperwatchError) {
                        try retryingEINTR("poll") { poll(&pollFD, 1, -1) }
                    } catch let failed {
                        if case .system(_, let pollErrno) = failed.code {
                            error = pollErrno.rawValue
                        } else {
                            error = EIO
                        }
                    }
                }
                switch error {
                case EINTR, EAGAIN:
                    continue
                case EPIPE:
                    markClosed()
                    return
                default:
                    // A full disk, a terminal gone: this chunk is lost; later output is tried again.
                    let report = state.withLock { state -> Bool in
                        defer { state.failureReported = true }
                        return !state.failureReported
                    }
                    if report {
                        Self.notice(
                            "cannot write to stdout: \(String(cString: strerror(error))); output is lost while this lasts"
                        )
                    }
                    _ = settle(raw.count - offset)
                    return
                }
            }
        }
    }

    /// Counts `count` bytes as done (written, or lost to an error). Returns false once stdout is closed.
    private func settle(_ count: Int) -> Bool {
        writer.assertOnOwner()
        let (open, room) = state.withLock { state -> (Bool, (@Sendable () -> Void)?) in
            guard !state.closed else { return (false, nil) }
            state.pending -= count
            if state.pending == 0 && state.finishing { drained.signal() }
            guard state.roomWanted, state.pending <= Self.resumeThreshold else { return (true, nil) }
            state.roomWanted = false
            return (true, state.onRoom)
        }
        room?()
        return open
    }

    private func markClosed() {
        let handlers = state.withLock { state -> [@Sendable () -> Void] in
            guard !state.closed else { return [] }
            state.closed = true
            state.chunks = []
            state.pending = 0
            if state.finishing { drained.signal() }
            let room = state.roomWanted ? state.onRoom : nil
            state.roomWanted = false
            return [state.onClosed, room].compactMap { $0 }
        }
        handlers.forEach { $0() }
    }

    // MARK: - stderr

    /// Prints `superwatch: MESSAGE` on stderr without blocking for longer than `limit`: stderr may be the
    /// same stalled pipe as stdout (`up 2>&1 | less`, paused). Then the message is lost.
    public static func notice(_ message: String, waitingAtMost limit: Duration = .seconds(1)) {
        let deadline = ContinuousClock.now + limit
        var bytes = Array("superwatch: \(message)\n".utf8)
        bytes.withUnsafeMutableBytes { raw in
            var offset = 0
            while offset < raw.count {
                var pollFD = pollfd(fd: 2, events: Int16(POLLOUT), revents: 0)
                let left = max(0, (deadline - ContinuousClock.now).milliseconds)
                let ready = poll(&pollFD, 1, Int32(clamping: left))
                if ready < 0 && errno == EINTR { continue }
                guard ready > 0, pollFD.revents & Int16(POLLOUT) != 0 else { return }
                // A pipe with room takes a write of up to PIPE_BUF bytes without blocking.
                let n = Glibc.write(2, raw.baseAddress! + offset, min(Int(PIPE_BUF), raw.count - offset))
                if n > 0 { offset += n } else if n < 0 && errno == EINTR { continue } else { return }
            }
        }
    }
}

/// Writes all of a buffer to a descriptor, retrying short writes and EINTR. Returns false on error.
@discardableResult
public func writeAll(_ fd: Int32, _ bytes: UnsafeMutableRawBufferPointer) -> Bool {
    var offset = 0
    while offset < bytes.count {
        let n = Glibc.write(fd, bytes.baseAddress! + offset, bytes.count - offset)
        if n > 0 { offset += n } else if n < 0 && errno == EINTR { continue } else { return false }
    }
    return true
}
