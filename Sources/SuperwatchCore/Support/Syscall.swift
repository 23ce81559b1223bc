import CSuperwatchShim

#if canImport(Glibc)
    import Glibc
#endif

/// Runs a system call that returns -1 on failure, retrying on EINTR, and turns any other failure into a
/// `SuperwatchError` that names the call. Every direct system call in superwatch goes through here.
@discardableResult
func retryingEINTR<T: BinaryInteger>(_ name: String, _ call: () -> T) throws(SuperwatchError) -> T {
    while true {
        let result = call()
        if result != -1 { return result }
        let err = errno
        if err == EINTR { continue }
        throw SuperwatchError(.system(syscall: name, errno: err), "\(name): \(String(cString: strerror(err)))")
    }
}

/// A description of an errno value, as `strerror` words it.
func errnoDescription(_ err: Int32) -> String { String(cString: strerror(err)) }
