import Foundation
import Synchronization
import Testing

@testable import SuperwatchCore

#if canImport(Glibc)
    import Glibc
#endif

/// Reads one byte from `fd`: 1 when a byte came, 0 at end of file.
private func readByte(_ fd: Int32) throws -> Int {
    var byte: UInt8 = 0
    return try retryingEINTR("read") { read(fd, &byte, 1) }
}

/// A pipe whose ends the test closes itself (raw numbers, so that what an `OwnedDescriptor` does is visible).
private func rawPipe() throws -> (read: Int32, write: Int32) {
    var fds: [Int32] = [-1, -1]
    try retryingEINTR("pipe") { pipe(&fds) }
    return (fds[0], fds[1])
}

/// Ends ownership of `descriptor` by moving it here, where it goes out of scope.
private func sink(_ descriptor: consuming OwnedDescriptor) {}

@Suite struct OwnedDescriptorTests {
    /// The write end owned by a value that ends: the reader sees end of file, so the descriptor was closed.
    @Test func closesWhenTheValueEnds() throws {
        let ends = try rawPipe()
        defer { close(ends.read) }
        do {
            let owned = OwnedDescriptor(takingOwnershipOf: ends.write)
            #expect(owned.rawValue == ends.write)
        }
        #expect(try readByte(ends.read) == 0)
    }

    /// Moving the value to a new owner hands on the duty to close: the new owner's end closes it.
    @Test func aMoveHandsOnTheClose() throws {
        let ends = try rawPipe()
        defer { close(ends.read) }
        let owned = OwnedDescriptor(takingOwnershipOf: ends.write)
        sink(owned)
        #expect(try readByte(ends.read) == 0)
    }

    /// `take()` ends the ownership without closing: the number still writes, and the taker closes it.
    @Test func takeLeavesTheDescriptorOpen() throws {
        let ends = try rawPipe()
        defer { close(ends.read) }
        let raw = OwnedDescriptor(takingOwnershipOf: ends.write).take()
        var byte: UInt8 = 7
        #expect(try retryingEINTR("write") { write(raw, &byte, 1) } == 1)
        #expect(try readByte(ends.read) == 1)
        try closeDescriptor(raw)
        #expect(try readByte(ends.read) == 0)
    }

    /// An explicit `close()` closes at once and reports success.
    @Test func closeClosesNow() throws {
        let ends = try rawPipe()
        defer { close(ends.read) }
        let owned = OwnedDescriptor(takingOwnershipOf: ends.write)
        try owned.close()
        #expect(try readByte(ends.read) == 0)
    }

    /// An owned pipe: both ends open, close-on-exec, and connected.
    @Test func ownedPipeIsConnectedAndCloseOnExec() throws {
        let pipe = try OwnedPipe(size: 1 << 16)
        #expect(fcntl(pipe.read.rawValue, F_GETFD) & FD_CLOEXEC != 0)
        #expect(fcntl(pipe.write.rawValue, F_GETFD) & FD_CLOEXEC != 0)
        let bytes: [UInt8] = [1, 2, 3]
        try writeFully(pipe.write.rawValue, bytes)
        var got = [UInt8](repeating: 0, count: 3)
        #expect(
            try got.withUnsafeMutableBytes { raw in
                try retryingEINTR("read") { read(pipe.read.rawValue, raw.baseAddress, 3) }
            } == 3)
        #expect(got == bytes)
    }
}

/// What the reading thread and the test share.
private final class ReaderState: Sendable {
    let calls = Atomic<Int>(0)
    let reader = Atomic<UInt>(0)
    let result = Atomic<Int>(-2)
    let done = Atomic<Bool>(false)
}

@Suite struct SyscallWrapperTests {
    /// A failure other than EINTR is a `.system` error naming the call and carrying the errno.
    @Test func failureCarriesTheCallAndItsErrno() {
        #expect {
            try retryingEINTR("open") { open("/nonexistent-superwatch-test/file", O_RDONLY) }
        } throws: { error in
            guard let error = error as? SuperwatchError else { return false }
            return error.code == .system(syscall: "open", errno: .noSuchFileOrDirectory)
                && error.message == "open: No such file or directory"
        }
    }

    /// The shim's convention, a negated errno, becomes the same error; a negated EINTR is retried.
    @Test func shimCallReadsNegatedErrnoAndRetriesEINTR() throws {
        #expect {
            try shimCall("sw_example") { Int32(-ENOENT) }
        } throws: { error in
            (error as? SuperwatchError)?.code == .system(syscall: "sw_example", errno: .noSuchFileOrDirectory)
        }
        var calls = 0
        let result = try shimCall("sw_example") { () -> Int32 in
            calls += 1
            return calls == 1 ? -EINTR : 5
        }
        #expect(result == 5 && calls == 2)
    }

    /// A read blocked on an empty pipe, interrupted by a signal whose handler does not restart calls
    /// (no SA_RESTART), fails with EINTR inside the wrapper, which calls read again; the byte written afterwards
    /// is then read. The signal is sent until the second call is seen, so the test does not depend on timing.
    @Test func aSignalInterruptingABlockingReadIsRetried() throws {
        var action = sigaction()
        action.__sigaction_handler.sa_handler = { _ in }
        action.sa_flags = 0
        sigemptyset(&action.sa_mask)
        var previous = sigaction()
        #expect(sigaction(SIGUSR2, &action, &previous) == 0)
        defer { sigaction(SIGUSR2, &previous, nil) }

        let ends = try rawPipe()
        defer {
            close(ends.read)
            close(ends.write)
        }
        let shared = ReaderState()
        let thread = Thread {
            // The test runner's threads may block signals; this one must receive it.
            var unblock = sigset_t()
            sigemptyset(&unblock)
            sigaddset(&unblock, SIGUSR2)
            pthread_sigmask(SIG_UNBLOCK, &unblock, nil)
            shared.reader.store(UInt(pthread_self()), ordering: .sequentiallyConsistent)
            var byte: UInt8 = 0
            let n = try? retryingEINTR("read") { () -> Int in
                shared.calls.add(1, ordering: .sequentiallyConsistent)
                return read(ends.read, &byte, 1)
            }
            shared.result.store(n ?? -1, ordering: .sequentiallyConsistent)
            shared.done.store(true, ordering: .sequentiallyConsistent)
        }
        thread.start()
        let deadline = ContinuousClock.now + .seconds(30)
        while shared.calls.load(ordering: .sequentiallyConsistent) < 1, ContinuousClock.now < deadline {
            usleep(1000)
        }
        while shared.calls.load(ordering: .sequentiallyConsistent) < 2, ContinuousClock.now < deadline {
            pthread_kill(pthread_t(shared.reader.load(ordering: .sequentiallyConsistent)), SIGUSR2)
            usleep(10_000)
        }
        #expect(shared.calls.load(ordering: .sequentiallyConsistent) >= 2)
        var byte: UInt8 = 1
        #expect(write(ends.write, &byte, 1) == 1)
        let readDeadline = ContinuousClock.now + .seconds(30)
        while !shared.done.load(ordering: .sequentiallyConsistent), ContinuousClock.now < readDeadline { usleep(1000) }
        #expect(shared.result.load(ordering: .sequentiallyConsistent) == 1)
    }
}
