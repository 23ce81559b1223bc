#if canImport(Glibc)
    import Glibc
#endif

/// The private directory where a running `up` keeps the files other superwatch commands find it by: the lock
/// that makes it the only `up` of its config (`KEY.lock`) and, later, its control socket (`KEY.sock`).
///
/// It is `$XDG_RUNTIME_DIR/superwatch` (per-user, mode 0700, emptied at logout by systemd-logind), else
/// `/tmp/superwatch-UID`. Anyone can create a name in /tmp, so an existing directory is used only when it is a
/// real directory (not a symlink) owned by this user and closed to everyone else; otherwise another user could
/// read, replace or squat on the files in it.
public struct RuntimeDirectory: Sendable, Equatable {
    public let path: String

    /// A directory that has already been checked (tests, and callers that prepared it themselves).
    public init(checkedPath path: String) {
        self.path = path
    }

    /// Where the runtime directory is for this environment and user, without touching the file system.
    /// `XDG_RUNTIME_DIR` counts only when it is an absolute path (the XDG spec says to ignore anything else) to
    /// a directory that exists: a stale value (after `su`, say) falls back to /tmp instead of failing.
    public static func location(environment: [String: String], uid: uid_t = geteuid()) -> String {
        if let base = environment["XDG_RUNTIME_DIR"], base.hasPrefix("/"), isDirectory(base) {
            return (base.hasSuffix("/") ? base : base + "/") + "superwatch"
        }
        return "/tmp/superwatch-\(uid)"
    }

    /// The runtime directory, created with mode 0700 when missing; an existing one must be a directory owned
    /// by this user with no permissions for group or others.
    public static func prepare(environment: [String: String]) throws(SuperwatchError) -> RuntimeDirectory {
        let path = location(environment: environment)
        if mkdir(path, 0o700) != 0 && errno != EEXIST {
            let err = Errno.current
            throw SuperwatchError(
                .system(syscall: "mkdir", errno: err), "cannot create the runtime directory \(path): \(err)")
        }
        var info = stat()
        try retryingEINTR("lstat") { lstat(path, &info) }
        guard info.st_mode & S_IFMT == S_IFDIR else {
            throw SuperwatchError(
                .unsafeRuntimeDirectory,
                "the runtime directory \(path) is not a directory (a symlink or a file is never followed there); remove it"
            )
        }
        guard info.st_uid == geteuid() else {
            throw SuperwatchError(
                .unsafeRuntimeDirectory,
                "the runtime directory \(path) belongs to uid \(info.st_uid), not to you (uid \(geteuid())); "
                    + "remove it or set XDG_RUNTIME_DIR")
        }
        guard info.st_mode & 0o077 == 0 else {
            let mode = String(info.st_mode & 0o777, radix: 8)
            throw SuperwatchError(
                .unsafeRuntimeDirectory,
                "the runtime directory \(path) is open to other users (mode \(mode)); run `chmod 700 \(path)`")
        }
        return RuntimeDirectory(checkedPath: path)
    }

    /// The name shared by every runtime file of one config: the first 16 hexadecimal digits of the SHA-256 of
    /// the config file's real path, so that `-f ./a.yaml`, `-f ../x/a.yaml` and a symlink to it are one stack,
    /// any path fits in a socket's 108-byte name, and nothing of the path needs escaping.
    public static func stackKey(configPath: String) throws(SuperwatchError) -> String {
        try StackKey(configPath: configPath).key
    }

    /// `path` absolute, with every symlink, `.` and `..` resolved (realpath(3)).
    public static func realPath(_ path: String) throws(SuperwatchError) -> String {
        guard let resolved = realpath(path, nil) else {
            let err = Errno.current
            throw SuperwatchError(.system(syscall: "realpath", errno: err), "cannot resolve \(path): \(err)")
        }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    /// The path of the runtime file `KEY.EXTENSION` (`lock`, `sock`, `python`) of `stack`.
    public func file(for stack: StackKey, extension fileExtension: String) -> String {
        "\(path)/\(stack.key).\(fileExtension)"
    }

    private static func isDirectory(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && info.st_mode & S_IFMT == S_IFDIR
    }
}

/// A config file as its runtime files know it, resolved once per command: the path as the user named it (for
/// messages), its real path (recorded in the lock) and `KEY` (`RuntimeDirectory.stackKey(configPath:)`).
public struct StackKey: Sendable, Equatable {
    public let configPath: String
    public let realPath: String
    public let key: String

    public init(configPath: String) throws(SuperwatchError) {
        self.configPath = configPath
        realPath = try RuntimeDirectory.realPath(configPath)
        key = String(SHA256.hexDigest(realPath).prefix(16))
    }
}
