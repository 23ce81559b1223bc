import CSuperwatchShim

#if canImport(Glibc)
    import Glibc
#endif

/// A short command superwatch runs for itself and waits for, up to a deadline: the question to a Python
/// wrapper (`PythonInterpreter`), an `exec:` probe. Whatever of its process group is left when it ends, or at
/// the deadline, is killed, so nothing of it outlives the call.
enum BoundedCommand {
    struct Outcome {
        /// How it ended; nil when it did not end by the deadline (it was killed then).
        var status: Termination?
        var stdout: [UInt8] = []
        var stderr: [UInt8] = []

        /// The last non-empty line it wrote (stderr first), at most 200 characters: what a failed probe says.
        var lastLine: String? {
            for bytes in [stderr, stdout] {
                let text = String(decoding: bytes, as: UTF8.self)
                if let line = text.split(whereSeparator: \.isNewline).last(where: { !$0.allSatisfy(\.isWhitespace) }) {
                    return String(line.prefix(200))
                }
            }
            return nil
        }
    }

    /// How much of each stream is kept.
    static let outputLimit = 1 << 20

    /// Starts `request` with `runner`, reads its output until both pipes end, waits for its exit, all until
    /// `deadline`. A start that fails ends as the shell's "cannot execute" (127), with the reason on stderr.
    static func run(
        _ request: LaunchRequest, runner: PythonInterpreter.Runner, until deadline: ContinuousClock.Instant
    ) -> Outcome {
        do throws(SuperwatchError) {
            let launched = try runner.launch(request)
            return collect(launched, runner: runner, until: deadline)
        } catch {
            return Outcome(status: .exited(127), stderr: Array(error.message.utf8))
        }
    }

    /// Reads the output of `launched` and waits for it, until `deadline`; then kills what is left and reaps it.
    private static func collect(
        _ launched: borrowing LaunchedProcess, runner: PythonInterpreter.Runner, until deadline: ContinuousClock.Instant
    ) -> Outcome {
        var outcome = Outcome(status: nil)
        // A command it runs has pipes, never a terminal: stderr is there.
        var open = [launched.stdout.rawValue, launched.stderrNumber ?? -1].filter { $0 >= 0 }
        var buffer = [UInt8](repeating: 0, count: 65536)
        while !open.isEmpty {
            let left = deadline - ContinuousClock.now
            guard left > .zero else { break }
            var fds = open.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            let polled = poll(&fds, nfds_t(fds.count), Int32(clamping: max(1, left.milliseconds)))
            if polled < 0 && errno == EINTR { continue }
            guard polled > 0 else { break }
            for entry in fds where entry.revents != 0 {
                // ignored: a read error ends the stream like end of file; the exit status decides.
                let count = (try? retryingEINTR("read") { read(entry.fd, &buffer, buffer.count) }) ?? 0
                if count <= 0 {
                    open.removeAll { $0 == entry.fd }
                } else if entry.fd == launched.stdout.rawValue {
                    if outcome.stdout.count < outputLimit { outcome.stdout += buffer[..<count] }
                } else if outcome.stderr.count < outputLimit {
                    outcome.stderr += buffer[..<count]
                }
            }
        }
        // A pidfd is readable once its process has exited; until it is reaped, its pid (and so its process
        // group id) cannot be reused, so the group kill below reaches only what the command left behind.
        let exited = open.isEmpty && waitReadable(launched.pidfd.rawValue, until: deadline)
        runner.kill(launched.pid)
        var code: Int32 = 0
        var signal: Int32 = 0
        if sw_pidfd_reap(launched.pidfd.rawValue, &code, &signal) != 1 {
            // Not exited yet (it was just killed) or not reapable through the pidfd: wait for it by pid.
            var status: Int32 = 0
            while waitpid(launched.pid, &status, 0) < 0 && errno == EINTR {}
        }
        runner.release(launched.pid)
        if exited { outcome.status = signal != 0 ? .signaled(signal) : .exited(code) }
        return outcome
    }

    /// Waits for `fd` to be readable; false when `deadline` passed first.
    private static func waitReadable(_ fd: Int32, until deadline: ContinuousClock.Instant) -> Bool {
        while true {
            let left = deadline - ContinuousClock.now
            guard left > .zero else { return false }
            var ready = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let polled = poll(&ready, 1, Int32(clamping: max(1, left.milliseconds)))
            if polled < 0 && errno == EINTR { continue }
            return polled > 0
        }
    }
}
