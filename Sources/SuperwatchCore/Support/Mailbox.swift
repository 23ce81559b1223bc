import CSuperwatchShim
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// How other threads talk to a thread that sleeps in poll/epoll: messages go into a locked queue and an
/// eventfd wakes the thread, which polls `fd` and takes everything queued with `receive()`.
final class Mailbox<Message: Sendable>: Sendable {
    /// The eventfd to wait on (readable when messages are queued).
    let fd: Int32
    private let queue = Mutex<[Message]>([])

    init() throws(SuperwatchError) {
        fd = try retryingEINTR("eventfd") { eventfd(0, Int32(EFD_CLOEXEC | EFD_NONBLOCK)) }
    }

    deinit { close(fd) }

    /// Queues a message and wakes the receiving thread. Any thread.
    func send(_ message: Message) {
        queue.withLock { $0.append(message) }
        var one: UInt64 = 1
        _ = write(fd, &one, 8)
    }

    /// Everything queued so far, oldest first; resets the wake-up. The receiving thread only.
    func receive() -> [Message] {
        var count: UInt64 = 0
        _ = read(fd, &count, 8)
        return queue.withLock { messages in
            defer { messages.removeAll() }
            return messages
        }
    }
}
