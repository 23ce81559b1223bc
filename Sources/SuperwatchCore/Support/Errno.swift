#if canImport(Glibc)
    import Glibc
#endif

/// An errno value: what a failed system call left in `errno`, or what a shim function returned negated.
///
/// A type of its own rather than a bare `Int32` so that an error says which number is an errno (and not an exit
/// code or a signal), and so that a comparison reads as the condition it tests (`== .wouldBlock`).
/// swift-system's `Errno` is the same idea; superwatch keeps its own few lines instead of a dependency, since
/// it needs a `~Copyable` descriptor type that swift-system does not have anyway (see the design notes).
public struct Errno: Error, RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: Int32

    public init(rawValue: Int32) { self.rawValue = rawValue }

    /// The calling thread's `errno` now: read it right after the call that failed.
    static var current: Errno { Errno(rawValue: errno) }

    /// What `strerror(3)` says about it.
    public var description: String { String(cString: strerror(rawValue)) }

    public static let notPermitted = Errno(rawValue: EPERM)
    public static let noSuchFileOrDirectory = Errno(rawValue: ENOENT)
    public static let noSuchProcess = Errno(rawValue: ESRCH)
    public static let interrupted = Errno(rawValue: EINTR)
    public static let badDescriptor = Errno(rawValue: EBADF)
    public static let noChildProcess = Errno(rawValue: ECHILD)
    /// EAGAIN, which Linux also spells EWOULDBLOCK.
    public static let wouldBlock = Errno(rawValue: EAGAIN)
    public static let outOfMemory = Errno(rawValue: ENOMEM)
    public static let permissionDenied = Errno(rawValue: EACCES)
    public static let fileExists = Errno(rawValue: EEXIST)
    public static let invalidArgument = Errno(rawValue: EINVAL)
    public static let tooManyOpenFiles = Errno(rawValue: EMFILE)
    public static let noSpace = Errno(rawValue: ENOSPC)
    public static let notADirectory = Errno(rawValue: ENOTDIR)
    public static let brokenPipe = Errno(rawValue: EPIPE)
    public static let nameTooLong = Errno(rawValue: ENAMETOOLONG)
    public static let noSystemCall = Errno(rawValue: ENOSYS)
    public static let addressInUse = Errno(rawValue: EADDRINUSE)
    public static let argumentListTooLong = Errno(rawValue: E2BIG)
}
