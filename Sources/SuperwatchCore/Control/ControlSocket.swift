#if canImport(Glibc)
    import Glibc
#endif

/// Where a running `up` serves its control API, and the checks around that Unix socket: a leftover of a killed
/// superwatch is replaced, a live one is not, and only this user (or root) may talk to it.
public enum ControlSocket {
    /// The variable that names the socket instead of the runtime directory's `KEY.sock`.
    public static let environmentVariable = "SUPERWATCH_SOCKET"

    /// The socket of `stack`: `$SUPERWATCH_SOCKET` when set, else `KEY.sock` in the runtime directory, beside
    /// `KEY.lock`. The client side finds it without creating anything.
    public static func path(for stack: StackKey, environment: [String: String]) throws(SuperwatchError) -> String {
        if let path = environment[environmentVariable], !path.isEmpty { return try checkedLength(path) }
        let directory = RuntimeDirectory(checkedPath: RuntimeDirectory.location(environment: environment))
        return try checkedLength(directory.file(for: stack, extension: "sock"))
    }

    /// The bearer token file of the TCP API (`--api`): beside the socket, `KEY.token`.
    public static func tokenPath(socketPath: String) -> String {
        (socketPath.hasSuffix(".sock") ? String(socketPath.dropLast(5)) : socketPath) + ".token"
    }

    /// Makes `path` free for a new socket. Nothing there: nothing to do. A socket nobody accepts on (its
    /// superwatch was killed; the kernel does not remove socket files): removed. A socket that answers belongs to
    /// a running superwatch (two configs given one `SUPERWATCH_SOCKET`): an error, and it is left alone. Anything
    /// else (a file, a directory) is not superwatch's to remove: an error.
    public static func replaceStale(at path: String) throws(SuperwatchError) {
        var info = stat()
        if lstat(path, &info) != 0 {
            let err = Errno.current
            if err == .noSuchFileOrDirectory { return }
            throw SuperwatchError(
                .system(syscall: "lstat", errno: err), "cannot use the control socket \(path): \(err)")
        }
        guard info.st_mode & S_IFMT == S_IFSOCK else {
            throw SuperwatchError(
                .system(syscall: "bind", errno: .addressInUse),
                "\(path) exists and is not a socket; remove it or set \(environmentVariable) to another path")
        }
        if answers(path) {
            throw SuperwatchError(
                .alreadyRunning(pid: nil),
                "another superwatch serves its control API on \(path); give each stack its own \(environmentVariable)")
        }
        if unlink(path) != 0 && errno != ENOENT {
            let err = Errno.current
            throw SuperwatchError(
                .system(syscall: "unlink", errno: err), "cannot remove the stale control socket \(path): \(err)")
        }
    }

    /// Whether a server accepts connections on the Unix socket at `path` (connect(2) succeeds).
    public static func answers(_ path: String) -> Bool {
        // A socket that cannot even be made answers nothing: the caller then treats the file as stale, and bind
        // reports the real trouble.
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        // ignored: a probe that carried no data; its close has nothing to lose.
        defer { close(fd) }
        guard var address = socketAddress(path) else { return false }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        return result == 0
    }

    /// Restricts the socket file to its owner (0600). The directory it is in is already private when it is
    /// the runtime directory; this covers a `SUPERWATCH_SOCKET` elsewhere, and the peer check covers the moment
    /// between bind(2) and this chmod.
    static func restrict(_ path: String) throws(SuperwatchError) {
        try retryingEINTR("chmod") { chmod(path, 0o600) }
    }

    /// Removes the socket at `path` when it is still the one this process bound (same inode): a later `up` may
    /// already have replaced it.
    static func remove(_ path: String, inode: ino_t) {
        var info = stat()
        guard lstat(path, &info) == 0, info.st_ino == inode, info.st_mode & S_IFMT == S_IFSOCK else { return }
        // ignored: at exit there is no one left to tell; a file left behind is replaced by the next `up`.
        unlink(path)
    }

    static func inode(_ path: String) throws(SuperwatchError) -> ino_t {
        var info = stat()
        try retryingEINTR("lstat") { lstat(path, &info) }
        return info.st_ino
    }

    /// Whether a peer with user id `uid` may use the control API of a superwatch running as `ownUID`: the same
    /// user, or root (who can signal the processes anyway).
    public static func peerAllowed(uid: uid_t, ownUID: uid_t = geteuid()) -> Bool {
        uid == ownUID || uid == 0
    }

    /// A Unix socket path longer than `sun_path` (107 bytes and a NUL) cannot be bound; say so up front instead
    /// of as bind's EINVAL.
    private static func checkedLength(_ path: String) throws(SuperwatchError) -> String {
        guard path.utf8.count < MemoryLayout.size(ofValue: sockaddr_un().sun_path) else {
            throw SuperwatchError(
                .usage,
                "the control socket path \(path) is longer than a Unix socket address allows (107 bytes); "
                    + "set \(environmentVariable) to a shorter path")
        }
        return path
    }

    private static func socketAddress(_ path: String) -> sockaddr_un? {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard bytes.count < capacity else { return nil }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        return address
    }
}
