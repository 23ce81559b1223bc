import CSuperwatchShim
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A listening socket superwatch owns for the whole life of `up`, so that connections wait in its backlog
/// while the process behind it restarts instead of being refused.
final class HeldSocket: Sendable {
    /// The listening socket, closed when this object ends.
    private let descriptor: OwnedDescriptor
    var fd: Int32 { descriptor.rawValue }
    /// What was asked for.
    let requested: ListenAddress
    /// What was bound (the real port when 0 was asked for).
    let bound: ListenAddress

    /// Connections the kernel queues while no process accepts: enough for a burst during a restart.
    static let backlog: Int32 = 1024

    private init(descriptor: consuming OwnedDescriptor, requested: ListenAddress, bound: ListenAddress) {
        self.descriptor = descriptor
        self.requested = requested
        self.bound = bound
    }

    deinit {
        // A Unix socket's file would outlive us and make the next bind fail as "in use". ignored: ENOENT (it was
        // removed already) is fine, and a file that stays is replaced by the next bind's stale-socket check.
        if case .unix(let path) = bound { unlink(path) }
    }

    /// The port of a TCP socket.
    var port: UInt16? {
        if case .tcp(_, let port) = bound { return port }
        return nil
    }

    /// `http://127.0.0.1:5000` or `unix:/path`.
    var url: String {
        switch bound {
        case .tcp(let host, let port):
            let shown = host.isEmpty ? "0.0.0.0" : host
            return "http://\(shown.contains(":") ? "[\(shown)]" : shown):\(port)"
        case .unix(let path): return "unix:\(path)"
        }
    }

    /// Creates, binds and listens. A busy address is an `.addressInUse` error naming the holder when /proc
    /// tells who it is.
    static func bind(_ address: ListenAddress) throws(SuperwatchError) -> HeldSocket {
        switch address {
        case .unix(let path): return try bindUnix(path, requested: address)
        case .tcp(let host, let port): return try bindTCP(host: host, port: port, requested: address)
        }
    }

    private static func bindTCP(host: String, port: UInt16, requested: ListenAddress) throws(SuperwatchError)
        -> HeldSocket
    {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV
        var list: UnsafeMutablePointer<addrinfo>?
        let node: String? = host.isEmpty ? "0.0.0.0" : host
        let rc = getaddrinfo(node, String(port), &hints, &list)
        guard rc == 0, let first = list else {
            throw SuperwatchError(.addressInUse, "cannot resolve `\(host)`: \(String(cString: gai_strerror(rc)))")
        }
        defer { freeaddrinfo(list) }
        let socket = OwnedDescriptor(
            takingOwnershipOf: try retryingEINTR("socket") {
                Glibc.socket(first.pointee.ai_family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            })
        let fd = socket.rawValue
        var one: Int32 = 1
        // Without SO_REUSEADDR a restart of superwatch would find the port busy (TIME_WAIT): not optional.
        try retryingEINTR("setsockopt(SO_REUSEADDR)") {
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        }
        if Glibc.bind(fd, first.pointee.ai_addr, first.pointee.ai_addrlen) != 0 {
            let err = errno
            var message = "cannot listen on \(requested): \(errnoDescription(err))"
            if err == EADDRINUSE {
                message = "port \(port) is already in use"
                if let holder = processListening(onPort: port) { message += " by pid \(holder.pid) (\(holder.name))" }
                message += "; stop it or choose another port (\(host.isEmpty ? "" : host):0 picks a free one)"
            }
            throw SuperwatchError(.addressInUse, message)
        }
        try listenOrThrow(fd, requested)
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        try retryingEINTR("getsockname") {
            withUnsafeMutablePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
            }
        }
        let family = storage.ss_family
        let boundPort: UInt16 = withUnsafePointer(to: &storage) { pointer in
            if family == sa_family_t(AF_INET6) {
                return pointer.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) {
                    UInt16(bigEndian: $0.pointee.sin6_port)
                }
            }
            return pointer.withMemoryRebound(to: sockaddr_in.self, capacity: 1) {
                UInt16(bigEndian: $0.pointee.sin_port)
            }
        }
        return HeldSocket(descriptor: socket, requested: requested, bound: .tcp(host: host, port: boundPort))
    }

    private static func bindUnix(_ path: String, requested: ListenAddress) throws(SuperwatchError) -> HeldSocket {
        try createMissingDirectories(above: path)
        let socket = OwnedDescriptor(
            takingOwnershipOf: try retryingEINTR("socket") {
                Glibc.socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            })
        let fd = socket.rawValue
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: Array(path.utf8.prefix(raw.count - 1)))
        }
        let length = socklen_t(MemoryLayout<sockaddr_un>.size)
        func attempt() -> Int32 {
            withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.bind(fd, $0, length) }
            }
        }
        var rc = attempt()
        if rc != 0 && errno == EADDRINUSE && isStaleUnixSocket(path) {
            // ignored: if the stale file cannot go, the second attempt fails with EADDRINUSE, reported below.
            unlink(path)
            rc = attempt()
        }
        if rc != 0 {
            let err = errno
            let message =
                err == EADDRINUSE
                ? "\(path) is already in use by a listening process; stop it or choose another path"
                : "cannot listen on unix:\(path): \(errnoDescription(err))"
            throw SuperwatchError(.addressInUse, message)
        }
        try listenOrThrow(fd, requested)
        return HeldSocket(descriptor: socket, requested: requested, bound: requested)
    }

    /// `unix:run/web.sock` names a directory that a fresh checkout may not have yet (`run/` is often in
    /// `.gitignore`): the missing ones are created, private to the user (0700) as the socket is theirs, and
    /// left in place at exit. A failure names the directory tried.
    static func createMissingDirectories(above socketPath: String) throws(SuperwatchError) {
        var missing: [String] = []
        var directory = (socketPath as NSString).deletingLastPathComponent
        var info = stat()
        while !directory.isEmpty && directory != "/" && stat(directory, &info) != 0 && errno == ENOENT {
            missing.append(directory)
            directory = (directory as NSString).deletingLastPathComponent
        }
        for directory in missing.reversed() where mkdir(directory, 0o700) != 0 && errno != EEXIST {
            let err = Errno.current
            throw SuperwatchError(
                .system(syscall: "mkdir", errno: err),
                "cannot create directory \(directory) for unix:\(socketPath): \(err)")
        }
    }

    private static func listenOrThrow(_ fd: Int32, _ address: ListenAddress) throws(SuperwatchError) {
        if listen(fd, backlog) != 0 {
            let err = errno
            throw SuperwatchError(.addressInUse, "cannot listen on \(address): \(errnoDescription(err))")
        }
    }

    /// A socket file nobody accepts on (left by a crashed server) may be replaced.
    private static func isStaleUnixSocket(_ path: String) -> Bool {
        var info = stat()
        guard stat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFSOCK else { return false }
        // Without a socket to probe with, the file is not known to be stale, and is left alone.
        guard case let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0), fd >= 0
        else { return false }
        let probe = OwnedDescriptor(takingOwnershipOf: fd)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: Array(path.utf8.prefix($0.count - 1))) }
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(probe.rawValue, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        return rc != 0 && errno == ECONNREFUSED
    }
}

/// The process listening on a TCP port, from /proc/net/tcp{,6} and /proc/PID/fd (only processes we may
/// inspect are found).
func processListening(onPort port: UInt16) -> (pid: Int32, name: String)? {
    var inodes: Set<String> = []
    let hexPort = String(format: "%04X", port)
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        guard let text = try? String(contentsOfFile: table, encoding: .utf8) else { continue }
        for line in text.split(separator: "\n").dropFirst() {
            let fields = line.split(separator: " ")
            // local_address is fields[1] ("0100007F:1388"), state fields[3] ("0A" = LISTEN), inode fields[9].
            guard fields.count > 9, fields[3] == "0A", fields[1].hasSuffix(":\(hexPort)") else { continue }
            inodes.insert(String(fields[9]))
        }
    }
    guard !inodes.isEmpty, let pids = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return nil }
    for pid in pids.compactMap(Int32.init) {
        guard let fds = try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd") else { continue }
        for fd in fds {
            guard let target = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/\(fd)"),
                target.hasPrefix("socket:["), inodes.contains(String(target.dropFirst(8).dropLast()))
            else { continue }
            let name = (try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8))?.trimmingWhitespace() ?? "?"
            return (pid, name)
        }
    }
    return nil
}
