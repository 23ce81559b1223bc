import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The one place bytes reach superwatch's stdout. A write is whole lines and happens under a lock, so lines
/// from the I/O loop and superwatch's own events never interleave inside a line.
public final class OutputSink: Sendable {
    private let fd: Int32
    /// Set once stdout is gone (EPIPE): output is then dropped rather than stopping the stack.
    private let state = Mutex<Bool>(false)

    public init(fd: Int32 = 1) { self.fd = fd }

    /// Writes all of `bytes`, retrying short writes and EINTR.
    public func write(_ bytes: [UInt8]) {
        guard !bytes.isEmpty else { return }
        state.withLock { broken in
            guard !broken else { return }
            bytes.withUnsafeBytes { raw in
                var offset = 0
                while offset < raw.count {
                    let n = Glibc.write(fd, raw.baseAddress! + offset, raw.count - offset)
                    if n > 0 { offset += n; continue }
                    if n < 0 && errno == EINTR { continue }
                    if n < 0 && errno == EAGAIN {
                        var pfd = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                        _ = poll(&pfd, 1, -1)
                        continue
                    }
                    broken = true
                    return
                }
            }
        }
    }
}

/// Writes all of a buffer to a descriptor, retrying short writes and EINTR. Returns false on error.
@discardableResult
public func writeAll(_ fd: Int32, _ bytes: UnsafeMutableRawBufferPointer) -> Bool {
    var offset = 0
    while offset < bytes.count {
        let n = Glibc.write(fd, bytes.baseAddress! + offset, bytes.count - offset)
        if n > 0 { offset += n } else if n < 0 && errno == EINTR { continue } else { return false }
    }
    return true
}
