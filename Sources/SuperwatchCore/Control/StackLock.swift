#if canImport(Glibc)
    import Glibc
#endif

/// Proof that this process is the only `up` of one config: an exclusive flock(2) on `KEY.lock` in the runtime
/// directory, held until the process exits. The file holds the holder's pid (and the config's path) so that a
/// second `up` can say which superwatch to stop.
///
/// flock, not a pid file alone: the kernel drops the lock when the last descriptor of it closes, so a superwatch
/// that was SIGKILLed leaves no stale lock and nothing has to guess whether a recorded pid is still the same
/// process. The descriptor is close-on-exec, and neither children (which inherit no descriptors beyond their
/// sockets) nor the keeper (which closes everything it does not need) hold it. The file itself stays after exit:
/// removing it would race with a second `up` that has just opened it.
public final class StackLock: Sendable {
    /// The lock file.
    public let path: String
    /// Held (and with it the lock) until this object ends; closing it is what releases the lock.
    private let descriptor: OwnedDescriptor

    private init(path: String, descriptor: consuming OwnedDescriptor) {
        self.path = path
        self.descriptor = descriptor
    }

    /// Takes the lock of `stack` in `directory`, writing this process's pid into it.
    /// - Throws: `.alreadyRunning` naming the holder's pid when another process holds it.
    public static func acquire(_ stack: StackKey, in directory: RuntimeDirectory) throws(SuperwatchError) -> StackLock {
        let path = directory.file(for: stack, extension: "lock")
        let fd = try retryingEINTR("open") { open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600) }
        let lock = StackLock(path: path, descriptor: OwnedDescriptor(takingOwnershipOf: fd))
        do throws(SuperwatchError) {
            try retryingEINTR("flock") { flock(fd, LOCK_EX | LOCK_NB) }
        } catch {
            guard error.code == .system(syscall: "flock", errno: .wouldBlock) else { throw error }
            throw alreadyRunning(holder: try lock.read(), configPath: stack.configPath)
        }
        try retryingEINTR("ftruncate") { ftruncate(fd, 0) }
        let record = Array("\(getpid())\n\(stack.realPath)\n".utf8)
        let written = try retryingEINTR("pwrite") { record.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) } }
        guard written == record.count else {
            // A short write to a fresh local file has no errno to report.
            throw SuperwatchError(.fileNotWritten(path: path), "cannot write the pid into \(path) (a short write)")
        }
        return lock
    }

    /// Returns once no process holds the lock at `path` any more: the `up` that held it has exited (`superwatch
    /// down`). A shared lock taken and dropped at once, polled every 50 ms: flock(2) has no timeout, and a
    /// blocking wait could not be cancelled. A missing file has no holder.
    public static func waitUntilReleased(_ path: String) async throws(SuperwatchError) {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        if fd < 0 {
            let err = Errno.current
            if err == .noSuchFileOrDirectory { return }
            throw SuperwatchError(.system(syscall: "open", errno: err), "cannot open \(path): \(err)")
        }
        // A read-only descriptor that wrote nothing; closing it also drops a shared lock taken below.
        // ignored: its close has nothing to lose.
        defer { close(fd) }
        while true {
            if flock(fd, LOCK_SH | LOCK_NB) == 0 { return }
            let err = Errno.current
            guard err == .wouldBlock || err == .interrupted else {
                throw SuperwatchError(.system(syscall: "flock", errno: err), "cannot wait for \(path): \(err)")
            }
            do {
                try await Task.sleep(for: .milliseconds(50))
            } catch {
                throw SuperwatchError(
                    .system(syscall: "flock", errno: .interrupted), "stopped waiting for the holder of \(path) to exit")
            }
        }
    }

    /// The pid recorded in a lock file, or nil when there is none (yet).
    static func recordedPID(_ contents: String) -> pid_t? {
        contents.split(separator: "\n", maxSplits: 1).first.flatMap { pid_t($0) }.flatMap { $0 > 0 ? $0 : nil }
    }

    private func read() throws(SuperwatchError) -> String {
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = try retryingEINTR("pread") {
            buffer.withUnsafeMutableBytes { pread(descriptor.rawValue, $0.baseAddress, $0.count, 0) }
        }
        return String(decoding: buffer.prefix(count), as: UTF8.self)
    }

    private static func alreadyRunning(holder contents: String, configPath: String) -> SuperwatchError {
        guard let pid = recordedPID(contents) else {
            // The holder has locked but not yet written its pid: it started a moment ago.
            return SuperwatchError(
                .alreadyRunning(pid: nil),
                "another superwatch is starting \(configPath) right now; only one `up` of a config can run at a time")
        }
        return SuperwatchError(
            .alreadyRunning(pid: pid),
            "superwatch is already running \(configPath) (pid \(pid)); stop it first (Ctrl-C in its terminal, or kill \(pid))"
        )
    }
}
