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
        case .signaled(let signal): return "killed by \(SignalName.describe(signal))"
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
}

/// The multiplexer: one thread that waits (epoll) on every running process's stdout and stderr pipes and on
/// its pidfd. It reads in large chunks, cuts lines, formats them and writes them to the sink in batches.
/// When a process exits, whatever it wrote is drained and printed before the exit is passed on, so no line
/// is ever reported after its process's exit.
///
/// Thread confinement: everything but `mailbox` is touched only by the loop thread; other threads talk to
/// it through `mailbox`. That is why it is `@unchecked Sendable`.
final class IOLoop: @unchecked Sendable {
    private let epollFD: Int32
    private let formatter: LogFormatter
    private let sink: OutputSink
    private let onExit: @Sendable (UInt64, Int, Termination) -> Void
    private let onReport: @Sendable (Int, [String]) -> Void

    private enum Message: Sendable { case add(RunIO), stop }
    private let mailbox: Mailbox<Message>

    // Loop-thread state.
    /// A pipe the loop reads: process output, cut into lines for the log, or a bootstrap's file report
    /// (`file PATH` lines, passed on to the supervisor).
    private struct Stream {
        var splitter: LineSplitter
        var isReport = false
        var pendingReport: [UInt8] = []
    }
    private var streams: [Int32: Stream] = [:]
    private var runs: [Int32: RunIO] = [:]
    private var batch: [UInt8] = []
    private var readBuffer: UnsafeMutableRawBufferPointer
    private var running = true
    private let finished = Mutex<Bool>(false)

    init(formatter: LogFormatter, sink: OutputSink,
         onExit: @escaping @Sendable (UInt64, Int, Termination) -> Void,
         onReport: @escaping @Sendable (Int, [String]) -> Void) throws(SuperwatchError) {
        self.formatter = formatter
        self.sink = sink
        self.onExit = onExit
        self.onReport = onReport
        epollFD = try retryingEINTR("epoll_create1") { epoll_create1(Int32(EPOLL_CLOEXEC)) }
        mailbox = try Mailbox()
        readBuffer = .allocate(byteCount: 1 << 20, alignment: 16)
        batch.reserveCapacity(2 << 20)
        watch(mailbox.fd)
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

    /// Asks the loop thread to end after flushing.
    func stop() { send(.stop) }

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
                } else if streams[fd] != nil {
                    readOnce(fd, timestamp: timestamp)
                } else if let run = runs[fd] {
                    reap(run, timestamp: timestamp)
                }
                if batch.count >= 1 << 20 { flush() }
            }
            flush()
            // Coalescing: a chatty process that writes small chunks would otherwise wake this thread (and
            // pay a context switch on both sides) for every write. When a round read only a little, wait a
            // moment so the next read is large. Costs at most `coalescingDelay` of latency per line.
            if bytesThisRound > 0 && bytesThisRound < Self.coalescingThreshold {
                var pause = timespec(tv_sec: 0, tv_nsec: Self.coalescingDelayNanoseconds)
                nanosleep(&pause, nil)
            }
        }
        flush()
    }

    private static let coalescingThreshold = 256 << 10
    private static let coalescingDelayNanoseconds = 2_000_000
    private var bytesThisRound = 0

    private func handleInbox() {
        for message in mailbox.receive() {
            switch message {
            case .add(let run):
                for (fd, kind) in [(run.stdout, StreamKind.stdout), (run.stderr, .stderr)] {
                    _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
                    streams[fd] = Stream(splitter: LineSplitter(process: run.process, stream: kind))
                    watch(fd)
                }
                if run.report >= 0 {
                    _ = fcntl(run.report, F_SETFL, fcntl(run.report, F_GETFL) | O_NONBLOCK)
                    streams[run.report] = Stream(splitter: LineSplitter(process: run.process, stream: .stdout), isReport: true)
                    watch(run.report)
                }
                runs[run.pidfd] = run
                watch(run.pidfd)
            case .stop:
                running = false
            }
        }
    }

    /// Reads one chunk from a pipe. Returns false once the pipe is at end of file (and closed) or empty now.
    @discardableResult
    private func readOnce(_ fd: Int32, timestamp: [UInt8]) -> Bool {
        let n = read(fd, readBuffer.baseAddress, readBuffer.count)
        if n > 0, streams[fd]!.isReport {
            streams[fd]!.pendingReport.append(contentsOf: UnsafeRawBufferPointer(start: readBuffer.baseAddress, count: n))
            deliverReport(fd)
            return true
        }
        if n > 0 {
            bytesThisRound += n
            streams[fd]!.splitter.consume(UnsafeRawBufferPointer(start: readBuffer.baseAddress, count: n),
                                          formatter: formatter, timestamp: timestamp, into: &batch)
            return true
        }
        if n < 0 && (errno == EAGAIN || errno == EINTR) { return false }
        if !streams[fd]!.isReport {
            streams[fd]!.splitter.finish(formatter: formatter, timestamp: timestamp, into: &batch)
        }
        streams[fd] = nil
        unwatch(fd)
        return false
    }

    /// Passes on every complete `file PATH` line of a bootstrap's report.
    private func deliverReport(_ fd: Int32) {
        guard let end = streams[fd]!.pendingReport.lastIndex(of: 0x0A) else { return }
        let text = String(decoding: streams[fd]!.pendingReport[...end], as: UTF8.self)
        streams[fd]!.pendingReport.removeSubrange(...end)
        let files = text.split(separator: "\n").compactMap { line in
            line.hasPrefix("file ") ? String(line.dropFirst(5)) : nil
        }
        if !files.isEmpty { onReport(streams[fd]!.splitter.process, files) }
    }

    private func reap(_ run: RunIO, timestamp: [UInt8]) {
        var code: Int32 = 0
        var signal: Int32 = 0
        let reaped = sw_pidfd_reap(run.pidfd, &code, &signal)
        if reaped == 0 { return }
        let status: Termination = reaped < 0 ? .exited(-1) : (signal != 0 ? .signaled(signal) : .exited(code))
        runs[run.pidfd] = nil
        unwatch(run.pidfd)
        // Everything the process wrote is in its pipes by now: drain them, and end an unfinished last line.
        for fd in [run.report, run.stdout, run.stderr] where fd >= 0 && streams[fd] != nil {
            while streams[fd] != nil, readOnce(fd, timestamp: timestamp) {
                if batch.count >= 1 << 20 { flush() }
            }
            if streams[fd]?.isReport == false {
                streams[fd]?.splitter.finish(formatter: formatter, timestamp: timestamp, into: &batch)
            }
        }
        flush()
        onExit(run.runID, run.process, status)
    }

    private func flush() {
        guard !batch.isEmpty else { return }
        sink.write(batch)
        batch.removeAll(keepingCapacity: true)
    }
}
