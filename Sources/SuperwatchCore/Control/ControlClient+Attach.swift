import Dispatch
import Foundation
import NIOCore
import NIOHTTP1
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// `superwatch attach NAME`: this terminal connected to a `tty: true` process's, over the control API
/// (`ControlServer.attach`), across the process's restarts, until the detach key or the process stops for good.
extension ControlClient {
    /// Ctrl-], as telnet has it: a key no shell, REPL or debugger binds, so typing it cannot mean anything to the
    /// process. Documented in superwatch(1).
    public static let detachKey: UInt8 = 0x1D
    public static let detachKeyName = "Ctrl-]"

    /// How an attach ended.
    public enum AttachEnd: Sendable, Equatable {
        /// The user pressed the detach key (or stdin ended): the process keeps running.
        case detached
        /// `up` ended the attachment: the process stopped and will not start again by itself (stopped by the user,
        /// exited or gave up with nothing watched, removed by a reload), or `up` is ending. Its last line on the
        /// terminal says which.
        case ended

        /// What `attach` says on stderr as it returns, for process `name`.
        public func message(_ name: String) -> String {
            switch self {
            case .detached: return "detached from \(name); it keeps running"
            case .ended: return "\(name) stopped and will not restart by itself; detached"
            }
        }
    }

    /// Connects the terminal on `input` (keys) and `output` (screen) to process `name`'s pseudo-terminal. Once
    /// `up` has accepted, calls `attached` (to say so while the terminal still has its settings), puts `input` in
    /// raw mode and passes bytes both ways, the window size too, until the detach key or the end of the answer
    /// (the process stopped for good). A restart of the process keeps it attached (`up` says so on the screen).
    /// The terminal's settings are restored before it returns or throws.
    public func attach(
        _ name: String, input: Int32 = 0, output: Int32 = 1, attached: @Sendable () -> Void
    ) async throws(SuperwatchError) -> AttachEnd {
        let channel: NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>
        do {
            channel = try await connect()
        } catch {
            throw notRunning(error)
        }
        let path = "/v1/processes/\(name.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed) ?? name)/attach"
        let hostHeader: String
        switch target {
        case .unix: hostHeader = "localhost"
        case .tcp(let host, let port): hostHeader = host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        }
        do {
            return try await channel.executeThenClose { inbound, outbound in
                var head = HTTPRequestHead(version: .http1_1, method: .POST, uri: path)
                head.headers.add(name: "Host", value: hostHeader)
                head.headers.add(name: "Content-Type", value: "application/octet-stream")
                head.headers.add(name: "Transfer-Encoding", value: "chunked")
                if let token { head.headers.add(name: "Authorization", value: "Bearer \(token)") }
                try await outbound.write(.head(head))
                var parts = inbound.makeAsyncIterator()
                guard case .head(let response)? = try await parts.next() else { throw AttachConnectionEnded() }
                guard response.status == .ok else {
                    var body: [UInt8] = []
                    while let part = try await parts.next() {
                        if case .body(let buffer) = part { body += buffer.readableBytesView }
                        if case .end = part { break }
                    }
                    throw refusal(Answer(status: Int(response.status.code), body: body))
                }
                guard isatty(input) == 1 else {
                    // Accepted, but there is no terminal to connect: let go at once.
                    try await outbound.write(.end(nil))
                    throw SuperwatchError(
                        .usage, "attach needs a terminal: run it in one (its stdin is what is typed into \(name))")
                }
                attached()
                let raw = try RawTerminal(input)
                defer { raw.restore() }
                let keys = TerminalKeys(input: input)
                defer { keys.stop() }
                if let size = WindowSize.of(input) ?? WindowSize.of(output) {
                    try await outbound.write(.body(.byteBuffer(ByteBuffer(bytes: AttachFrame.resize(size).encoded))))
                }
                let events = keys.events
                return try await withThrowingTaskGroup(of: Bool.self) { group in
                    // Keys and window sizes up; `true` once the detach key was typed.
                    group.addTask {
                        for await event in events {
                            switch event {
                            case .typed(let bytes):
                                if let key = bytes.firstIndex(of: Self.detachKey) {
                                    if key > 0 {
                                        try await outbound.write(.body(.byteBuffer(Self.frame(Array(bytes[..<key])))))
                                    }
                                    try await outbound.write(.end(nil))
                                    return true
                                }
                                try await outbound.write(.body(.byteBuffer(Self.frame(bytes))))
                            case .resized(let size):
                                try await outbound.write(
                                    .body(.byteBuffer(ByteBuffer(bytes: AttachFrame.resize(size).encoded))))
                            case .closed:
                                try await outbound.write(.end(nil))
                                return true
                            }
                        }
                        return false
                    }
                    // The process's output down, to the screen as it is.
                    while let part = try await parts.next() {
                        if case .body(let buffer) = part {
                            var bytes = Array(buffer.readableBytesView)
                            _ = bytes.withUnsafeMutableBytes { writeAll(output, $0) }
                        }
                        if case .end = part { break }
                    }
                    // The answer ended: after the detach key, or because the process stopped for good.
                    group.cancelAll()
                    var detached = false
                    do {
                        while let typedDetach = try await group.next() { detached = detached || typedDetach }
                    } catch {
                        // ignored: sending a key failed because the connection closed as the answer ended; the
                        // end of the answer is what counts.
                    }
                    return detached ? .detached : .ended
                }
            }
        } catch let error as SuperwatchError {
            throw error
        } catch is AttachConnectionEnded {
            throw SuperwatchError(.notRunning, "superwatch running \(stackName) closed the connection before answering")
        } catch {
            throw SuperwatchError(.notRunning, "the control API of \(stackName) failed: \(error)")
        }
    }

    private static func frame(_ bytes: [UInt8]) -> ByteBuffer { ByteBuffer(bytes: AttachFrame.input(bytes).encoded) }

    private struct AttachConnectionEnded: Error {}
}

/// What an attached terminal does: keys typed (read on a thread of its own, since a read of a terminal blocks)
/// and window size changes (SIGWINCH), as one stream in the order they happened.
private final class TerminalKeys {
    enum Event: Sendable {
        case typed([UInt8])
        case resized(WindowSize)
        /// stdin ended (or failed): nothing more can be typed.
        case closed
    }

    let events: AsyncStream<Event>
    private let continuation: AsyncStream<Event>.Continuation
    private let stopped = StopFlag()
    private let windowChanges: any DispatchSourceSignal

    init(input: Int32) {
        (events, continuation) = AsyncStream<Event>.makeStream()
        let continuation = self.continuation
        // ignored: signal(2) fails only for an invalid number.
        signal(SIGWINCH, SIG_IGN)
        windowChanges = DispatchSource.makeSignalSource(signal: SIGWINCH, queue: DispatchQueue(label: "attach.winch"))
        windowChanges.setEventHandler {
            if let size = WindowSize.of(input) { continuation.yield(.resized(size)) }
        }
        windowChanges.resume()
        let stopped = self.stopped
        let thread = Thread {
            var buffer = [UInt8](repeating: 0, count: 4096)
            while !stopped.isSet {
                // A timeout, so that the thread sees `stop()` soon after the attach ends.
                var poller = pollfd(fd: input, events: Int16(POLLIN), revents: 0)
                let ready = poll(&poller, 1, 100)
                if ready == 0 || (ready < 0 && errno == EINTR) { continue }
                let count = ready < 0 ? -1 : read(input, &buffer, buffer.count)
                if count < 0 && (errno == EINTR || errno == EAGAIN) { continue }
                guard count > 0 else {
                    continuation.yield(.closed)
                    break
                }
                continuation.yield(.typed(Array(buffer[..<count])))
            }
            continuation.finish()
        }
        thread.name = "superwatch-attach-keys"
        thread.start()
    }

    func stop() {
        stopped.set()
        windowChanges.cancel()
        continuation.finish()
    }
}

/// Set once, read by another thread.
private final class StopFlag: Sendable {
    private let flag = Mutex(false)
    var isSet: Bool { flag.withLock { $0 } }
    func set() { flag.withLock { $0 = true } }
}
