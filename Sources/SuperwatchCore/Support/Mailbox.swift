import CSuperwatchShim
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// How other threads talk to a thread that sleeps in poll/epoll: messages go into a locked queue and an
/// eventfd wakes the thread, which polls `fd` and takes everything queued with `receive()`.
final class Mailbox<Message: Sendable>: Sendable {
    /// The eventfd to wait on (readable when messages are queued).
    var fd: Int32 { eventFD.rawValue }
    private let eventFD: OwnedDescriptor
    private let queue = Mutex<[Message]>([])

    init() throws(SuperwatchError) {
        eventFD = OwnedDescriptor(
            takingOwnershipOf: try retryingEINTR("eventfd") { eventfd(0, Int32(EFD_CLOEXEC | EFD_NONBLOCK)) })
    }

    /// Queues a message and wakes the receiving thread. Any thread.
    func send(_ message: Message) {
        queue.withLock { $0.append(message) }
        var one: UInt64 = 1
        do {
            try retryingEINTR("write(eventfd)") { write(fd, &one, 8) }
        } catch {
            // EAGAIN: the counter is at its maximum, so the receiver is woken anyway. Nothing else can fail for
            // an 8-byte write to an eventfd.
            assert(error.code == .system(syscall: "write(eventfd)", errno: .wouldBlock), error.message)
        }
    }

    /// Everything queued so far, oldest first; resets the wake-up. The receiving thread only.
    func receive() -> [Message] {
        var count: UInt64 = 0
        do {
            try retryingEINTR("read(eventfd)") { read(fd, &count, 8) }
        } catch {
            // EAGAIN: no wake-up was pending (the messages came with an earlier one). Nothing else can fail.
            assert(error.code == .system(syscall: "read(eventfd)", errno: .wouldBlock), error.message)
        }
        return queue.withLock { messages in
            defer { messages.removeAll() }
            return messages
        }
    }
}
