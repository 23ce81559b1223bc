import CSuperwatchShim

#if canImport(Glibc)
    import Glibc
#endif

/// Runs a system call that returns -1 and sets `errno` on failure, retrying on EINTR, and turns any other failure
/// into a `SuperwatchError` that names the call and carries the errno. Every direct system call whose result can
/// fail goes through here (or `shimCall` for the C shim); close(2) through `closeDescriptor`, which must not retry.
///
/// EBADF stops superwatch (as swift-nio's wrapper does): superwatch never probes descriptors it does not own, so a
/// bad descriptor means one was closed twice or used after its close, and a later `open` may already have reused
/// the number; going on would read or write somebody else's file.
@discardableResult
func retryingEINTR<T: FixedWidthInteger>(_ name: String, _ call: () -> T) throws(SuperwatchError) -> T {
    while true {
        let result = call()
        if result != -1 { return result }
        let err = Errno.current
        if err == .interrupted { continue }
        throw SuperwatchError.system(name, err)
    }
}

/// Runs a C shim function, which returns a value `>= 0` on success and a negated errno on failure (the shim's one
/// convention, see sw_shim.h), retrying on EINTR; otherwise as `retryingEINTR`.
@discardableResult
func shimCall<T: FixedWidthInteger & SignedInteger>(_ name: String, _ call: () -> T) throws(SuperwatchError) -> T {
    while true {
        let result = call()
        if result >= 0 { return result }
        let err = Errno(rawValue: Int32(truncatingIfNeeded: -result))
        if err == .interrupted { continue }
        throw SuperwatchError.system(name, err)
    }
}

/// close(2) of a descriptor superwatch owns. Never retried: on Linux the descriptor is released even when close
/// reports EINTR, and a retry could close a number another thread has just been given. EBADF stops superwatch
/// (a double close); any other error (EIO from a file's deferred write) is thrown.
func closeDescriptor(_ fd: Int32) throws(SuperwatchError) {
    guard close(fd) != 0 else { return }
    let err = Errno.current
    if err == .interrupted { return }
    throw SuperwatchError.system("close", err)
}

extension SuperwatchError {
    /// A failed system call `name` with `errno`, worded as `NAME: STRERROR`. EBADF never becomes an error: it
    /// stops superwatch, see `retryingEINTR`.
    static func system(_ name: String, _ errno: Errno) -> SuperwatchError {
        precondition(errno != .badDescriptor, "\(name): a descriptor was used after its close (EBADF)")
        return SuperwatchError(.system(syscall: name, errno: errno), "\(name): \(errno)")
    }
}

/// A description of an errno value, as `strerror` words it.
func errnoDescription(_ err: Int32) -> String { Errno(rawValue: err).description }

/// write(2) of all of `bytes`, retrying short writes and EINTR. A write that makes no progress (returns 0, which a
/// regular file only does at a size limit) is reported as ENOSPC rather than looped on.
func writeFully(_ fd: Int32, _ bytes: [UInt8], name: String = "write") throws(SuperwatchError) {
    var offset = 0
    while offset < bytes.count {
        let n = try retryingEINTR(name) {
            bytes.withUnsafeBytes { write(fd, $0.baseAddress! + offset, $0.count - offset) }
        }
        guard n > 0 else { throw SuperwatchError.system(name, .noSpace) }
        offset += n
    }
}

/// close(2) of a pipe end, socket, pidfd, eventfd or a file only read: descriptors without deferred writes, whose
/// close cannot fail but with EBADF (which stops superwatch) or EINTR (released all the same). Anything else is
/// a surprise a debug build stops on; a release build has nothing useful to do about it.
func closeAsserting(_ fd: Int32) {
    do { try closeDescriptor(fd) } catch { assertionFailure(error.message) }
}

/// kill(-pgid, signal): signals a whole process group. A group that has ended already (ESRCH) is no failure,
/// and nor is EPERM from a member that made itself another user's (setuid): each caller then goes on waiting
/// for the group's end, and SIGKILL or the cgroup follow. Any other error means a bad signal number, a bug.
func signalGroup(_ pgid: pid_t, _ signal: Int32) {
    precondition(pgid > 0, "not a process group: \(pgid)")
    guard kill(-pgid, signal) != 0 else { return }
    let err = Errno.current
    assert(err == .noSuchProcess || err == .notPermitted, "kill(-\(pgid), \(signal)): \(err)")
}

/// closedir(3) of a stream from opendir: it closes a directory descriptor only read from, so it can only fail
/// with EBADF, a bug (see `closeAsserting`).
func closeDirectory(_ stream: OpaquePointer) {
    guard closedir(stream) != 0 else { return }
    assertionFailure("closedir: \(Errno.current)")
}
