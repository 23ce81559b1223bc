import CSuperwatchShim
import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// How a process ended.
public enum Termination: Sendable, Equatable, CustomStringConvertible {
    case exited(Int32)
    case signaled(Int32)

    /// The shell convention: the code, or 128 + the signal.
    public var shellStatus: Int32 {
        switch self {
        case .exited(let code): return code
        case .signaled(let signal): return 128 + signal
        }
    }

    public var description: String {
        switch self {
        case .exited(let code): return "exited with code \(code)"
        case .signaled(let signal): return "killed by \(UnixSignal(rawValue: signal))"
        }
    }
}

/// The output pipes and exit of one run of a process, handed to the I/O loop when it starts.
struct RunIO: Sendable {
    var runID: UInt64
    var process: Int
    var pidfd: Int32
    var stdout: Int32
    var stderr: Int32
    /// The read end of the pipe a `werkzeug:` bootstrap reports its module files on, or -1.
    var report: Int32 = -1
    /// Look for "address already in use" in the output (a `listen:` process; see `AddressInUseScan`).
    var scansForAddressInUse = false
}

/// The multiplexer: one thread that waits (epoll) on every running process's stdout and stderr pipes and on
/// its pidfd. It reads in large chunks, cuts lines, formats them and writes them to the sink in batches.
/// When a process exits, whatever it wrote is drained and printed before the exit is passed on, so no line
/// is ever reported after its process's exit.
///
/// Back-pressure: while the sink's queue is full (stdout is slow or not read), the loop reads no process
/// output — the pipes stay out of the epoll set — but still reaps exits, drains the pipes of ended runs and
/// handles its inbox, so a stalled stdout never holds up a stop or a shutdown.
///
/// Thread confinement: everything but `mailbox` is touched only by the loop thread; other threads talk to
/// it through `mailbox`. That is why it is `@unchecked Sendable`.
final class IOLoop: @unchecked Sendable {
    private let epollFD: Int32
    private let formatter: LogFormatter
    private let sink: OutputSink
    private let onExit: @Sendable (UInt64, Int, Termination) -> Void
    private let onReport: @Sendable (Int, BootstrapReport) -> Void

    private enum Message: Sendable {
        case add(RunIO)
        /// The run's process group is empty: read what is left in its pipes, then call back.
        case drain(runID: UInt64, then: @Sendable () -> Void)
        /// Read what is left in every pipe, flush, end the thread, then call back.
        case stop(then: @Sendable () -> Void)
        /// The sink has room again after the loop paused reading process output.
        case resume
    }
    private let mailbox: Mailbox<Message>

    // Loop-thread state.
    /// A pipe the loop reads: process output, cut into lines for the log, or a bootstrap's file report
    /// (`file PATH` lines, passed on to the supervisor).
    private struct Stream {
        var runID: UInt64
        var splitter: LineSplitter
        var isReport = false
        var pendingReport: [UInt8] = []
        /// Set while the output is searched for "address already in use".
        var addressInUse: AddressInUseScan?
    }
    private var streams: [Int32: Stream] = [:]
    private var runs: [Int32: RunIO] = [:]
    /// The open pipes of each run, until they reach end of file.
    private var runPipes: [UInt64: [Int32]] = [:]
    private var stopped: (@Sendable () -> Void)?
    private var batch: [UInt8] = []
    private var readBuffer: UnsafeMutableRawBufferPointer
    private var running = true
    /// The sink's queue is full: process output is not read until it has room (`resume`).
    private var paused = false
    /// stdout, watched for its reader going away when it is a pipe or a socket; -1 otherwise.
    private var stdoutFD: Int32 = -1
    /// Processes the "address already in use" hint was given for: it is said once per process, not per run.
    private var hintedAddressInUse = Set<Int>()
    private let finished = Mutex<Bool>(false)

    init(
        formatter: LogFormatter, sink: OutputSink,
        onExit: @escaping @Sendable (UInt64, Int, Termination) -> Void,
        onReport: @escaping @Sendable (Int, BootstrapReport) -> Void
    ) throws(SuperwatchError) {
        self.formatter = formatter
        self.sink = sink
        self.onExit = onExit
        self.onReport = onReport
        epollFD = try retryingEINTR("epoll_create1") { epoll_create1(Int32(EPOLL_CLOEXEC)) }
        mailbox = try Mailbox()
        readBuffer = .allocate(byteCount: 1 << 20, alignment: 16)
        watch(mailbox.fd)
        let mailbox = self.mailbox
        sink.onRoom { mailbox.send(.resume) }
        if sink.reportsReaderClosing {
            // No events asked for: epoll always reports EPOLLERR (a pipe whose reader closed) and EPOLLHUP (a
            // socket whose peer closed), so a closed stdout is noticed even when nothing is being written.
            var event = epoll_event()
            event.data.fd = sink.fd
            if epoll_ctl(epollFD, EPOLL_CTL_ADD, sink.fd, &event) == 0 { stdoutFD = sink.fd }
        }
    }

    deinit {
        readBuffer.deallocate()
        close(epollFD)
    }

    /// Starts the loop thread.
    func start() {
        let thread = Thread { [self] in self.run() }
        thread.name = "superwatch-io"
        thread.start()
    }

    /// Hands a new run's descriptors to the loop, which from then on owns them (and closes them).
    func add(_ run: RunIO) { send(.add(run)) }

    /// Once the run's process group is empty, prints whatever is left in its pipes, then calls `then`: so
    /// nothing a process's group wrote appears after the run's end is reported.
    func drain(runID: UInt64, then: @escaping @Sendable () -> Void) { send(.drain(runID: runID, then: then)) }

    /// Prints whatever is left in every pipe and ends the loop thread; returns when that is done.
    func stop() async {
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            send(.stop(then: { done.resume() }))
        }
    }

    private func send(_ message: Message) { mailbox.send(message) }

    private func watch(_ fd: Int32) {
        var event = epoll_event()
        event.events = EPOLLIN.rawValue | EPOLLHUP.rawValue | EPOLLERR.rawValue
        event.data.fd = fd
        _ = epoll_ctl(epollFD, EPOLL_CTL_ADD, fd, &event)
    }

    private func unwatch(_ fd: Int32) {
        _ = epoll_ctl(epollFD, EPOLL_CTL_DEL, fd, nil)
        close(fd)
    }

    private func run() {
        var events = [epoll_event](repeating: epoll_event(), count: 64)
        while running {
            let count = epoll_wait(epollFD, &events, Int32(events.count), -1)
            if count < 0 { if errno == EINTR { continue } else { break } }
            let timestamp = formatter.timestampPrefix()
            bytesThisRound = 0
            for index in 0..<Int(count) {
                let fd = events[index].data.fd
                if fd == mailbox.fd {
                    handleInbox()
                } else if fd == stdoutFD {
                    _ = epoll_ctl(epollFD, EPOLL_CTL_DEL, fd, nil)
                    stdoutFD = -1
                    sink.readerClosed()
                } else if streams[fd] != nil {
                    if !paused { readOnce(fd, timestamp: timestamp) }
                    park(fd)
                } else if let run = runs[fd] {
                    reap(run, timestamp: timestamp)
                }
                if batch.count >= 1 << 20 {
                    flush()
                    paused = sink.shouldPause()
                }
            }
            flush()
            // Coalescing: a chatty process that writes small chunks would otherwise wake this thread (and
            // pay a context switch on both sides) for every write. When a round read only a little, wait a
            // moment so the next read is large. Costs at most `coalescingDelay` of latency per line.
            if bytesThisRound > 0 && bytesThisRound < Self.coalescingThreshold {
                var pause = timespec(tv_sec: 0, tv_nsec: Self.coalescingDelayNanoseconds)
                nanosleep(&pause, nil)
            }
            paused = sink.shouldPause()
            if !paused { unpark() }
        }
        flush()
        stopped?()
    }

    private static let coalescingThreshold = 256 << 10
    private static let coalescingDelayNanoseconds = 2_000_000
    private var bytesThisRound = 0
    /// Pipes taken out of the epoll set until the end of this round (see `park`).
    private var parked: [Int32] = []

    /// Takes a pipe that was just read out of the epoll set until the round ends. A pipe that epoll watches
    /// makes *every* write to it call into epoll (Linux's pipe_write wakes pollers on each write once the pipe
    /// has ever been polled); a pipe nobody waits on costs its writer nothing extra. While this thread
    /// formats, writes and pauses, chatty writers should not pay for wake-ups nobody needs.
    private func park(_ fd: Int32) {
        guard streams[fd] != nil else { return }
        _ = epoll_ctl(epollFD, EPOLL_CTL_DEL, fd, nil)
        parked.append(fd)
    }

    /// Puts the parked pipes back; one that has data is reported by the next epoll_wait at once. While the
    /// sink is full they stay parked, and so does every other pipe once it has data (back-pressure).
    private func unpark() {
        for fd in parked where streams[fd] != nil { watch(fd) }
        parked.removeAll(keepingCapacity: true)
    }

    private func handleInbox() {
        for message in mailbox.receive() {
            switch message {
            case .add(let run):
                for (fd, kind) in [(run.stdout, StreamKind.stdout), (run.stderr, .stderr)] {
                    _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
                    let scans = run.scansForAddressInUse && !hintedAddressInUse.contains(run.process)
                    streams[fd] = Stream(
                        runID: run.runID, splitter: LineSplitter(process: run.process, stream: kind),
                        addressInUse: scans ? AddressInUseScan() : nil)
                    watch(fd)
                }
                if run.report >= 0 {
                    _ = fcntl(run.report, F_SETFL, fcntl(run.report, F_GETFL) | O_NONBLOCK)
                    streams[run.report] = Stream(
                        runID: run.runID, splitter: LineSplitter(process: run.process, stream: .stdout), isReport: true)
                    watch(run.report)
                }
                runPipes[run.runID] = [run.report, run.stdout, run.stderr].filter { $0 >= 0 }
                runs[run.pidfd] = run
                watch(run.pidfd)
            case .drain(let runID, let then):
                let timestamp = formatter.timestampPrefix()
                drainPipes(runPipes[runID] ?? [], timestamp: timestamp)
                flush()
                then()
            case .stop(let then):
                drainPipes(Array(streams.keys), timestamp: formatter.timestampPrefix())
                running = false
                stopped = then
            case .resume:
                break  // the round's end asks the sink again and unparks
            }
        }
    }

    /// Reads one chunk (at most `limit` bytes) from a pipe. Returns the bytes read; 0 when it is empty now;
    /// -1 once it is at end of file (and closed).
    @discardableResult
    private func readOnce(_ fd: Int32, limit: Int = Int.max, timestamp: [UInt8]) -> Int {
        let n = read(fd, readBuffer.baseAddress, min(limit, readBuffer.count))
        if n > 0, streams[fd]!.isReport {
            streams[fd]!.pendingReport.append(
                contentsOf: UnsafeRawBufferPointer(start: readBuffer.baseAddress, count: n))
            deliverReport(fd)
            return n
        }
        if n > 0 {
            bytesThisRound += n
            let chunk = UnsafeRawBufferPointer(start: readBuffer.baseAddress, count: n)
            streams[fd]!.splitter.consume(chunk, formatter: formatter, timestamp: timestamp, into: &batch)
            if streams[fd]!.addressInUse != nil {
                if streams[fd]!.addressInUse!.scan(chunk) {
                    hintAddressInUse(process: streams[fd]!.splitter.process)
                } else if streams[fd]!.addressInUse!.isSpent {
                    streams[fd]!.addressInUse = nil
                }
            }
            return n
        }
        if n < 0 && (errno == EAGAIN || errno == EINTR) { return 0 }
        if !streams[fd]!.isReport {
            streams[fd]!.splitter.finish(formatter: formatter, timestamp: timestamp, into: &batch)
        }
        let runID = streams[fd]!.runID
        streams[fd] = nil
        unwatch(fd)
        runPipes[runID]?.removeAll { $0 == fd }
        if runPipes[runID]?.isEmpty == true { runPipes[runID] = nil }
        return -1
    }

    /// Reads what the pipes hold now — no more, so a writer that keeps writing cannot hold the loop — and
    /// ends an unfinished last line of each.
    private func drainPipes(_ fds: [Int32], timestamp: [UInt8]) {
        for fd in fds where streams[fd] != nil {
            var remaining = Int(sw_bytes_available(fd))
            repeat {
                let n = readOnce(fd, limit: remaining > 0 ? remaining : Int.max, timestamp: timestamp)
                if n <= 0 { break }
                remaining -= n
                if batch.count >= 1 << 20 { flush() }
            } while remaining > 0
            if streams[fd]?.isReport == false {
                streams[fd]?.splitter.finish(formatter: formatter, timestamp: timestamp, into: &batch)
            }
        }
    }

    /// Gives the "address already in use" hint for `process`, after the output that holds it, and stops
    /// looking in all of the process's streams.
    private func hintAddressInUse(process: Int) {
        guard hintedAddressInUse.insert(process).inserted else { return }
        batch.append(contentsOf: formatter.event(process: process, AddressInUseScan.hint))
        for fd in streams.keys where streams[fd]!.splitter.process == process { streams[fd]!.addressInUse = nil }
    }

    /// Passes on every complete `file PATH` and `preload NAME` line of a bootstrap's report.
    private func deliverReport(_ fd: Int32) {
        guard let end = streams[fd]!.pendingReport.lastIndex(of: 0x0A) else { return }
        let text = String(decoding: streams[fd]!.pendingReport[...end], as: UTF8.self)
        streams[fd]!.pendingReport.removeSubrange(...end)
        let report = BootstrapReport(lines: text)
        if !report.isEmpty { onReport(streams[fd]!.splitter.process, report) }
    }

    private func reap(_ run: RunIO, timestamp: [UInt8]) {
        var code: Int32 = 0
        var signal: Int32 = 0
        let reaped = sw_pidfd_reap(run.pidfd, &code, &signal)
        if reaped == 0 { return }
        let status: Termination = reaped < 0 ? .exited(-1) : (signal != 0 ? .signaled(signal) : .exited(code))
        runs[run.pidfd] = nil
        unwatch(run.pidfd)
        // Everything the process wrote is in its pipes by now: print it, and end an unfinished last line.
        drainPipes([run.report, run.stdout, run.stderr].filter { $0 >= 0 }, timestamp: timestamp)
        flush()
        onExit(run.runID, run.process, status)
    }

    private func flush() {
        guard !batch.isEmpty else { return }
        sink.write(batch)
        // The sink holds on to this buffer until it is written: start a new one, as large as this one was (up
        // to the 1 MiB a round flushes at), so a busy stream does not regrow it by doubling every round.
        let size = batch.count
        batch = []
        batch.reserveCapacity(min(size, 1 << 20))
    }
}
