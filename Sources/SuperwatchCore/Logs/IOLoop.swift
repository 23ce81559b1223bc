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

/// The multiplexer: one thread that waits (epoll) on every running process's channels — its output (stdout and
/// stderr pipes, later a PTY) and a `werkzeug:` bootstrap's report pipe — and on its pidfd. It reads in large
/// chunks, lets each channel parse what it read (output is cut into lines, formatted and handed to the fan-out
/// in batches; a report goes to the supervisor), and when a process exits, drains whatever it wrote before
/// passing the exit on, so no line is ever reported after its process's exit.
///
/// Back-pressure: while the sink's queue is full (stdout is slow or not read), the loop reads no process
/// output — the pipes stay out of the epoll set — but still reaps exits, drains the pipes of ended runs and
/// handles its inbox, so a stalled stdout never holds up a stop or a shutdown.
///
/// Thread confinement: everything but `mailbox` and `ended` is touched only by the loop thread (asserted in
/// debug builds); other threads talk to it through `mailbox`. That is why it is `@unchecked Sendable`.
///
/// Failure: if epoll itself fails (anything but EINTR), the loop cannot go on; it says so through `onFailure`
/// once, ends its thread, and from then on answers every request at once (`stop` returns), so that the
/// supervisor can end `up` with the error instead of waiting for exits nobody will report.
final class IOLoop: @unchecked Sendable {
    private let epoll: OwnedDescriptor
    /// The epoll descriptor (internal for the test that makes epoll_wait fail).
    var epollFD: Int32 { epoll.rawValue }
    /// Replaced when a live reload adds processes (`setFormatter`).
    fileprivate var formatter: LogFormatter
    private let output: LogFanOut
    private let sink: OutputSink
    private let onExit: @Sendable (UInt64, ProcessID, Termination) -> Void
    fileprivate let onReport: @Sendable (ProcessID, BootstrapReport) -> Void
    private let onFailure: @Sendable (SuperwatchError) -> Void
    private let confinement = ThreadConfinement("superwatch-io")

    private enum Message: Sendable {
        case add(Run)
        /// The run's process group is empty: read what is left in its pipes, then call back.
        case drain(runID: UInt64, then: @Sendable () -> Void)
        /// Read what is left in every pipe, flush, end the thread, then call back.
        case stop(then: @Sendable () -> Void)
        /// The sink has room again after the loop paused reading process output.
        case resume
        /// A live reload added processes: format with their names from now on.
        case setFormatter(LogFormatter)
    }
    private let mailbox: Mailbox<Message>
    /// The loop thread has ended: messages are answered by `send` itself from then on.
    private let ended = Mutex(false)

    // Loop-thread state.
    private var channels: [Int32: any ChannelReader] = [:]
    /// A run whose exit the loop waits for: what `add` took over from its `RunIO`. Its pidfd closes when the
    /// loop drops it (reaped); its channels pass to their readers when the loop registers it, and close when
    /// each reaches its end of file. Made by the sender, then touched by the loop thread only.
    private final class Run: @unchecked Sendable {
        let runID: UInt64
        let process: ProcessID
        let pidfd: OwnedDescriptor
        /// Until registered.
        var channels: [Channel]
        let scansForAddressInUse: Bool
        let terminal: TerminalSession?

        init(_ run: consuming RunIO) {
            runID = run.runID
            process = run.process
            channels = run.channels
            scansForAddressInUse = run.scansForAddressInUse
            terminal = run.terminal
            pidfd = run.pidfd
        }
    }
    private var runs: [Int32: Run] = [:]
    /// The open channels of each run, until they reach end of file.
    private var runChannels: [UInt64: [Int32]] = [:]
    private var stopped: (@Sendable () -> Void)?
    fileprivate var batch = OutputBatch()
    private var readBuffer: UnsafeMutableRawBufferPointer
    private var running = true
    /// The sink's queue is full: process output is not read until it has room (`resume`).
    private var paused = false
    /// stdout, watched for its reader going away when it is a pipe or a socket; -1 otherwise.
    private var stdoutFD: Int32 = -1
    /// Processes the "address already in use" hint was given for: it is said once per process, not per run.
    private var hintedAddressInUse = Set<ProcessID>()

    init(
        output: LogFanOut,
        onExit: @escaping @Sendable (UInt64, ProcessID, Termination) -> Void,
        onReport: @escaping @Sendable (ProcessID, BootstrapReport) -> Void,
        onFailure: @escaping @Sendable (SuperwatchError) -> Void
    ) throws(SuperwatchError) {
        self.output = output
        self.formatter = output.formatter
        self.sink = output.sink
        self.onExit = onExit
        self.onReport = onReport
        self.onFailure = onFailure
        epoll = OwnedDescriptor(
            takingOwnershipOf: try retryingEINTR("epoll_create1") { epoll_create1(Int32(EPOLL_CLOEXEC)) })
        mailbox = try Mailbox()
        readBuffer = .allocate(byteCount: 1 << 20, alignment: 16)
        try epollControl(EPOLL_CTL_ADD, mailbox.fd, events: Self.readable)
        let mailbox = self.mailbox
        sink.onRoom { mailbox.send(.resume) }
        if sink.reportsReaderClosing {
            // No events asked for: epoll always reports EPOLLERR (a pipe whose reader closed) and EPOLLHUP (a
            // socket whose peer closed), so a closed stdout is noticed even when nothing is being written.
            try epollControl(EPOLL_CTL_ADD, sink.fd, events: 0)
            stdoutFD = sink.fd
        }
    }

    deinit { readBuffer.deallocate() }

    /// Starts the loop thread.
    func start() {
        let thread = Thread { [self] in
            confinement.claim()
            run()
        }
        thread.name = "superwatch-io"
        thread.start()
    }

    /// Formats with `formatter` from now on: sent before the first run of a process a live reload added, so
    /// that the loop knows its name before it reads a line of it.
    func setFormatter(_ formatter: LogFormatter) { send(.setFormatter(formatter)) }

    /// Hands a new run's descriptors to the loop, which from then on owns them (and closes them).
    func add(_ run: consuming RunIO) { send(.add(Run(run))) }

    /// Once the run's process group is empty, prints whatever is left in its pipes, then calls `then`: so
    /// nothing a process's group wrote appears after the run's end is reported.
    func drain(runID: UInt64, then: @escaping @Sendable () -> Void) { send(.drain(runID: runID, then: then)) }

    /// Prints whatever is left in every pipe and ends the loop thread; returns when that is done (at once when
    /// the loop has failed).
    func stop() async {
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            send(.stop(then: { done.resume() }))
        }
    }

    private func send(_ message: Message) {
        let delivered = ended.withLock { ended in
            if !ended { mailbox.send(message) }
            return !ended
        }
        if !delivered { answerWithoutLoop(message) }
    }

    /// What a request gets once the loop thread is gone: its callback run. (A run added meanwhile is dropped,
    /// which closes its descriptors.)
    private func answerWithoutLoop(_ message: Message) {
        switch message {
        case .add:
            break
        case .drain(_, let then), .stop(let then):
            then()
        case .resume, .setFormatter:
            break
        }
    }

    private static let readable = EPOLLIN.rawValue | EPOLLHUP.rawValue | EPOLLERR.rawValue

    /// epoll_ctl, whose failure is the loop's: a descriptor it cannot watch is output it cannot read.
    private func epollControl(_ operation: Int32, _ fd: Int32, events: UInt32) throws(SuperwatchError) {
        var event = epoll_event()
        event.events = events
        event.data.fd = fd
        try retryingEINTR("epoll_ctl") { epoll_ctl(epollFD, operation, fd, &event) }
    }

    private func run() {
        confinement.assertOnOwner()
        var events = [epoll_event](repeating: epoll_event(), count: 64)
        do throws(SuperwatchError) {
            while running {
                let count = try retryingEINTR("epoll_wait") {
                    epoll_wait(epollFD, &events, Int32(events.count), -1)
                }
                let timestamp = formatter.timestampPrefix()
                bytesThisRound = 0
                terminalFilled = false
                for index in 0..<Int(count) {
                    let fd = events[index].data.fd
                    if fd == mailbox.fd {
                        try handleInbox()
                    } else if fd == stdoutFD {
                        try epollControl(EPOLL_CTL_DEL, fd, events: 0)
                        stdoutFD = -1
                        sink.readerClosed()
                    } else if let channel = channels[fd] {
                        if !paused {
                            let n = try readOnce(fd, timestamp: timestamp)
                            if n >= Self.terminalBufferFull && channel.channel.kind == .output(.pty) {
                                terminalFilled = true
                            }
                        }
                        try park(fd, channel)
                    } else if let run = runs[fd] {
                        try reap(run, timestamp: timestamp)
                    }
                    if batch.terminal.count >= 1 << 20 {
                        flush()
                        paused = sink.shouldPause()
                    }
                }
                flush()
                // Coalescing: a chatty process that writes small chunks would otherwise wake this thread (and
                // pay a context switch on both sides) for every write. When a round read only a little, wait a
                // moment so the next read is large. Costs at most `coalescingDelay` of latency per line.
                // Not when a pseudo-terminal came back (nearly) full: its kernel buffer holds only 4 KiB, so its
                // writer is blocked already and a pause would only throttle it (to ~2 MB/s per terminal).
                if bytesThisRound > 0 && bytesThisRound < Self.coalescingThreshold && !terminalFilled {
                    var pause = timespec(tv_sec: 0, tv_nsec: Self.coalescingDelayNanoseconds)
                    // ignored: an EINTR only shortens the pause, which is an optimisation.
                    nanosleep(&pause, nil)
                }
                paused = sink.shouldPause()
                if !paused { try unpark() }
            }
        } catch {
            // epoll failed: nothing can be waited for any more. Print what was read, then say why the loop ends.
            flush()
            end()
            onFailure(
                SuperwatchError(
                    error.code,
                    "cannot wait for process output and exits any more (\(error.message)); stopping all processes"))
            return
        }
        flush()
        end()
        stopped?()
    }

    /// Marks the loop thread as ended and answers what was sent meanwhile.
    private func end() {
        confinement.assertOnOwner()
        ended.withLock { $0 = true }
        for message in mailbox.receive() { answerWithoutLoop(message) }
    }

    private static let coalescingThreshold = 256 << 10
    /// The most a drain reads from a pseudo-terminal (see `drainChannels`).
    private static let terminalDrainLimit = 64 << 20
    private static let coalescingDelayNanoseconds = 2_000_000
    fileprivate var bytesThisRound = 0
    /// Whether a pseudo-terminal's read this round returned at least `terminalBufferFull` bytes.
    private var terminalFilled = false
    /// Half of the 4 KiB a Linux pseudo-terminal passes to its master per read (N_TTY_BUF_SIZE): a read this
    /// large means the writer was filling the terminal faster than the loop took it.
    private static let terminalBufferFull = 2048
    /// Channels taken out of the epoll set until the end of this round (see `park`).
    private var parked: [Int32] = []

    /// Takes a pipe that was just read out of the epoll set until the round ends. A pipe that epoll watches
    /// makes *every* write to it call into epoll (Linux's pipe_write wakes pollers on each write once the pipe
    /// has ever been polled); a pipe nobody waits on costs its writer nothing extra. While this thread
    /// formats, writes and pauses, chatty writers should not pay for wake-ups nobody needs.
    private func park(_ fd: Int32, _ channel: any ChannelReader) throws(SuperwatchError) {
        confinement.assertOnOwner()
        // A channel that reached its end of file in the read is closed and gone already.
        guard channels[fd] === channel, channel.isWatched else { return }
        try epollControl(EPOLL_CTL_DEL, fd, events: 0)
        channel.isWatched = false
        parked.append(fd)
    }

    /// Puts the parked pipes back; one that has data is reported by the next epoll_wait at once. While the
    /// sink is full they stay parked, and so does every other pipe once it has data (back-pressure).
    private func unpark() throws(SuperwatchError) {
        confinement.assertOnOwner()
        for fd in parked {
            guard let channel = channels[fd], !channel.isWatched else { continue }
            try epollControl(EPOLL_CTL_ADD, fd, events: Self.readable)
            channel.isWatched = true
        }
        parked.removeAll(keepingCapacity: true)
    }

    private func handleInbox() throws(SuperwatchError) {
        confinement.assertOnOwner()
        for message in mailbox.receive() {
            switch message {
            case .add(let run):
                try register(run)
            case .drain(let runID, let then):
                let timestamp = formatter.timestampPrefix()
                try drainChannels(runChannels[runID] ?? [], timestamp: timestamp)
                flush()
                then()
            case .stop(let then):
                try drainChannels(Array(channels.keys), timestamp: formatter.timestampPrefix())
                running = false
                stopped = then
            case .resume:
                break  // the round's end asks the sink again and unparks
            case .setFormatter(let formatter):
                self.formatter = formatter
            }
        }
    }

    private func register(_ run: Run) throws(SuperwatchError) {
        confinement.assertOnOwner()
        for channel in run.channels {
            let fd = channel.fd
            let flags = try retryingEINTR("fcntl") { fcntl(fd, F_GETFL) }
            try retryingEINTR("fcntl") { fcntl(fd, F_SETFL, flags | O_NONBLOCK) }
            let reader: any ChannelReader
            switch channel.kind {
            case .output(let stream):
                let scans = run.scansForAddressInUse && !hintedAddressInUse.contains(run.process)
                reader = OutputReader(
                    channel, runID: run.runID, splitter: LineSplitter(process: run.process, stream: stream),
                    addressInUse: scans ? AddressInUseScan() : nil,
                    terminal: stream == .pty
                        ? TerminalOutput(
                            filter: TerminalFilter(keepsColour: true), session: run.terminal)
                        : nil)
            case .report:
                reader = ReportReader(channel, runID: run.runID, process: run.process)
            }
            channels[fd] = reader
            try epollControl(EPOLL_CTL_ADD, fd, events: Self.readable)
            reader.isWatched = true
        }
        runChannels[run.runID] = run.channels.map(\.fd)
        run.channels = []
        runs[run.pidfd.rawValue] = run
        try epollControl(EPOLL_CTL_ADD, run.pidfd.rawValue, events: Self.readable)
    }

    /// Reads one chunk (at most `limit` bytes) from a channel and lets it parse what came. Returns the bytes
    /// read; 0 when it is empty now; -1 once it is at end of file (and closed).
    @discardableResult
    private func readOnce(_ fd: Int32, limit: Int = Int.max, timestamp: [UInt8]) throws(SuperwatchError) -> Int {
        confinement.assertOnOwner()
        guard let channel = channels[fd] else { return -1 }
        let n = read(fd, readBuffer.baseAddress, min(limit, readBuffer.count))
        if n > 0 {
            let chunk = UnsafeRawBufferPointer(start: readBuffer.baseAddress, count: n)
            channel.consume(chunk, loop: self, timestamp: timestamp)
            return n
        }
        if n < 0 && (errno == EAGAIN || errno == EINTR) { return 0 }
        // End of file, or an error that ends the stream the same way (the writer is gone either way).
        channel.finish(loop: self, timestamp: timestamp)
        channels[fd] = nil
        // Taken out of the epoll set first: a copy of the descriptor in a child between fork and exec would
        // keep it registered past close(2), which happens as the reader (the channel's owner) goes.
        if channel.isWatched { try epollControl(EPOLL_CTL_DEL, fd, events: 0) }
        runChannels[channel.runID]?.removeAll { $0 == fd }
        if runChannels[channel.runID]?.isEmpty == true { runChannels[channel.runID] = nil }
        return -1
    }

    /// Reads what the channels hold now — no more, so a writer that keeps writing cannot hold the loop — and
    /// ends an unfinished last line of each.
    private func drainChannels(_ fds: [Int32], timestamp: [UInt8]) throws(SuperwatchError) {
        confinement.assertOnOwner()
        for fd in fds where channels[fd] != nil {
            var remaining = Int(sw_bytes_available(fd))
            if channels[fd]?.channel.kind == .output(.pty) {
                // A terminal passes its output on through the kernel's buffers, not all of it at once: FIONREAD
                // counts only what reached the master. A read waits for what is on its way, so reading until
                // EAGAIN (or EIO, the end) gets all of it; the cap keeps a writer that holds the terminal open
                // elsewhere from holding the loop.
                remaining = Self.terminalDrainLimit
            }
            repeat {
                let n = try readOnce(fd, limit: remaining > 0 ? remaining : Int.max, timestamp: timestamp)
                if n <= 0 { break }
                remaining -= n
                if batch.terminal.count >= 1 << 20 { flush() }
            } while remaining > 0
            channels[fd]?.finish(loop: self, timestamp: timestamp)
        }
    }

    /// Gives the "address already in use" hint for `process`, after the output that holds it, and stops
    /// looking in all of the process's channels.
    fileprivate func hintAddressInUse(process: ProcessID) {
        confinement.assertOnOwner()
        guard hintedAddressInUse.insert(process).inserted else { return }
        batch.appendEvent(process: process, AddressInUseScan.hint, formatter: formatter)
        for case let reader as OutputReader in channels.values where reader.splitter.process == process {
            reader.addressInUse = nil
        }
    }

    private func reap(_ run: Run, timestamp: [UInt8]) throws(SuperwatchError) {
        confinement.assertOnOwner()
        var code: Int32 = 0
        var signal: Int32 = 0
        let reaped = sw_pidfd_reap(run.pidfd.rawValue, &code, &signal)
        if reaped == 0 { return }
        let status: Termination = reaped < 0 ? .exited(-1) : (signal != 0 ? .signaled(signal) : .exited(code))
        // Out of the epoll set, then closed as the loop drops the run.
        try epollControl(EPOLL_CTL_DEL, run.pidfd.rawValue, events: 0)
        runs[run.pidfd.rawValue] = nil
        // Everything the process wrote is in its pipes by now: print it, and end an unfinished last line.
        try drainChannels(runChannels[run.runID] ?? [], timestamp: timestamp)
        flush()
        onExit(run.runID, run.process, status)
    }

    private func flush() {
        confinement.assertOnOwner()
        guard !batch.isEmpty else { return }
        // The sink holds on to the terminal bytes until they are written: start a new buffer, as large as this
        // one was (up to the 1 MiB a round flushes at), so a busy stream does not regrow it by doubling.
        let size = batch.terminal.count
        output.write(&batch)
        batch.terminal.reserveCapacity(min(size, 1 << 20))
    }
}

/// How the loop parses one channel: it reads every channel alike and hands the bytes to its reader. The reader
/// holds the channel, so the descriptor closes when the loop drops the reader.
private protocol ChannelReader: AnyObject {
    var channel: Channel { get }
    var runID: UInt64 { get }
    /// Whether the descriptor is in the epoll set now (not while parked).
    var isWatched: Bool { get set }
    /// Parses bytes just read.
    func consume(_ chunk: UnsafeRawBufferPointer, loop: IOLoop, timestamp: [UInt8])
    /// The channel ended, or the run's channels were drained: nothing more is coming for now.
    func finish(loop: IOLoop, timestamp: [UInt8])
}

/// What a pseudo-terminal's output needs on its way to the line splitter: the terminal filter (no CR, no cursor
/// movement, colour as superwatch's output has it) and the session `attach` forwards it to.
private struct TerminalOutput {
    var filter: TerminalFilter
    let session: TerminalSession?
    /// The filtered bytes of the chunk being split (kept for its storage).
    var filtered: [UInt8] = []
}

/// Process output: cut into lines for the fan-out, and searched for "address already in use" while asked to.
private final class OutputReader: ChannelReader {
    let channel: Channel
    let runID: UInt64
    var isWatched = false
    var splitter: LineSplitter
    /// Set while the output is searched for "address already in use".
    var addressInUse: AddressInUseScan?
    /// For a pseudo-terminal.
    private var terminal: TerminalOutput?

    init(
        _ channel: Channel, runID: UInt64, splitter: LineSplitter, addressInUse: AddressInUseScan?,
        terminal: TerminalOutput? = nil
    ) {
        self.channel = channel
        self.runID = runID
        self.splitter = splitter
        self.addressInUse = addressInUse
        self.terminal = terminal
    }

    /// The loop drops a reader when its channel ends: for a pseudo-terminal, that ends the run's session.
    deinit { terminal?.session?.end() }

    func consume(_ chunk: UnsafeRawBufferPointer, loop: IOLoop, timestamp: [UInt8]) {
        loop.bytesThisRound += chunk.count
        if var output = terminal {
            terminal = nil  // so that `output.filtered` is not copied on write
            output.session?.forward(chunk)
            if output.filter.filter(chunk, into: &output.filtered) { splitter.discardPending() }
            output.filtered.withUnsafeBytes {
                splitter.consume($0, formatter: loop.formatter, timestamp: timestamp, into: &loop.batch)
            }
            terminal = output
        } else {
            splitter.consume(chunk, formatter: loop.formatter, timestamp: timestamp, into: &loop.batch)
        }
        guard addressInUse != nil else { return }
        if addressInUse!.scan(chunk) {
            loop.hintAddressInUse(process: splitter.process)
        } else if addressInUse!.isSpent {
            addressInUse = nil
        }
    }

    func finish(loop: IOLoop, timestamp: [UInt8]) {
        if let tail = terminal?.filter.finish() {
            tail.withUnsafeBytes {
                splitter.consume($0, formatter: loop.formatter, timestamp: timestamp, into: &loop.batch)
            }
        }
        splitter.finish(formatter: loop.formatter, timestamp: timestamp, into: &loop.batch)
    }
}

/// A bootstrap's report pipe: complete lines go to the supervisor as they arrive.
private final class ReportReader: ChannelReader {
    let channel: Channel
    let runID: UInt64
    let process: ProcessID
    var isWatched = false
    private var parser = BootstrapReport.Parser()

    init(_ channel: Channel, runID: UInt64, process: ProcessID) {
        self.channel = channel
        self.runID = runID
        self.process = process
    }

    func consume(_ chunk: UnsafeRawBufferPointer, loop: IOLoop, timestamp: [UInt8]) {
        if let report = parser.consume(chunk) { loop.onReport(process, report) }
    }

    /// A report line is only ever acted on whole: an unfinished one is dropped with the pipe.
    func finish(loop: IOLoop, timestamp: [UInt8]) {}
}
