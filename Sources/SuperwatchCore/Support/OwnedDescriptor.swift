import CSuperwatchShim

#if canImport(Glibc)
    import Glibc
#endif

/// A file descriptor and the duty to close it, exactly once.
///
/// Not copyable: handing a descriptor on (a pipe to the I/O loop, a socket to a child) is a `consume` the compiler
/// checks, so no two owners can close the same number and none can use it after it went. The value closes the
/// descriptor when it ends; `close()` does so earlier and reports the error, which matters for a file that was
/// written; `take()` ends the ownership without closing, for the moment a raw number is handed to code that takes
/// it over (a C call, a Dispatch source's cancel handler, an API still written with `Int32`).
struct OwnedDescriptor: ~Copyable, Sendable {
    /// The descriptor, for system calls made while this value is borrowed. Whoever reads it does not own it.
    let rawValue: Int32

    /// Takes ownership of `fd`, which nothing else may close from now on.
    init(takingOwnershipOf fd: Int32) {
        precondition(fd >= 0, "not a descriptor: \(fd)")
        rawValue = fd
    }

    /// Ends the ownership without closing: the caller now owns the number.
    consuming func take() -> Int32 {
        let fd = rawValue
        discard self
        return fd
    }

    /// Closes the descriptor now, reporting a failure (see `closeDescriptor`).
    consuming func close() throws(SuperwatchError) {
        let fd = rawValue
        discard self
        try closeDescriptor(fd)
    }

    deinit {
        // A descriptor that ends unclosed is closed here, where an error cannot be thrown. It can only be EIO
        // from a deferred write, which a pipe, socket, pidfd or read-only file never has; an owner that wrote a
        // file calls `close()` to hear about it.
        closeAsserting(rawValue)
    }
}

/// A pipe's two ends, owned; both close-on-exec.
struct OwnedPipe: ~Copyable, Sendable {
    var read: OwnedDescriptor
    var write: OwnedDescriptor

    /// pipe2(O_CLOEXEC); `size` enlarges it (F_SETPIPE_SZ: a larger pipe means fewer wake-ups for a chatty
    /// process; the kernel refusing it, past fs.pipe-max-size for an unprivileged user, only costs speed, so that
    /// failure is not an error).
    init(size: Int32? = nil) throws(SuperwatchError) {
        var fds: [Int32] = [-1, -1]
        try shimCall("pipe2") { sw_pipe_cloexec(&fds) }
        read = OwnedDescriptor(takingOwnershipOf: fds[0])
        write = OwnedDescriptor(takingOwnershipOf: fds[1])
        if let size {
            do { try shimCall("fcntl(F_SETPIPE_SZ)") { sw_set_pipe_size(fds[0], size) } } catch { _ = error }
        }
    }
}
