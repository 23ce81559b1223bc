import Testing

@testable import SuperwatchCore

#if canImport(Glibc)
    import Glibc
#endif

@Suite struct UnixSignalTests {
    @Test(arguments: ["TERM", "SIGTERM", "term", "sigTerm"])
    func namesFoldCaseAndTakeAnOptionalSIGPrefix(name: String) {
        #expect(UnixSignal(name: name) == .terminate)
    }

    @Test(arguments: ["", "SIG", "SIGSIGTERM", "ſigterm", "WINCH", "9", "TERM "])
    func otherNamesAreNoConfigurableSignal(name: String) {
        #expect(UnixSignal(name: name) == nil)
    }

    @Test func everyConfigurableNameRoundTripsThroughItsDescription() {
        for (name, signal) in UnixSignal.configurable {
            #expect(UnixSignal(name: name) == signal)
            #expect(signal.description == "SIG\(name)")
        }
    }

    @Test func descriptionsOfOtherSignals() {
        #expect(UnixSignal(rawValue: SIGSEGV).description == "SIGSEGV")
        #expect(UnixSignal.pipe.description == "SIGPIPE")
        #expect(UnixSignal(rawValue: 42).description == "signal 42")
    }
}

@Suite struct ProcessIDTests {
    @Test func ordersByConfigPositionAndSaysWhichProcess() {
        #expect(ProcessID(0) < ProcessID(1))
        #expect([ProcessID(2), ProcessID(0), ProcessID(1)].sorted() == [ProcessID(0), ProcessID(1), ProcessID(2)])
        #expect(ProcessID(3).description == "process #3")
    }
}

/// The inbox of the I/O and watcher threads, with a real eventfd.
@Suite struct MailboxTests {
    func isReadable(_ fd: Int32) -> Bool {
        var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        return poll(&poller, 1, 0) == 1
    }

    @Test func messagesArriveInOrderAndTheWakeUpIsReset() throws {
        let mailbox = try Mailbox<Int>()
        #expect(!isReadable(mailbox.fd), "nothing queued")
        mailbox.send(1)
        mailbox.send(2)
        #expect(isReadable(mailbox.fd))
        #expect(mailbox.receive() == [1, 2])
        #expect(!isReadable(mailbox.fd), "receiving resets the eventfd")
        #expect(mailbox.receive().isEmpty)
        mailbox.send(3)
        #expect(mailbox.receive() == [3])
    }
}
