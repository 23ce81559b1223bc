import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// HTTP/1 on the control socket for this user (and root) only. The peer's credentials (SO_PEERCRED: the uid
/// of the process that connected, recorded by the kernel at connect(2)) are read when the connection is
/// accepted, and a connection from anyone else is closed before a byte of it is parsed. The socket file's mode
/// (0600) already keeps other users out; this check also holds for a `SUPERWATCH_SOCKET` in a shared directory
/// and for the moment between bind(2) and chmod(2).
///
/// Hummingbird hands every accepted connection to a `ServerChildChannel`; NIO's socket channels answer
/// `getsockopt` through `SocketOptionProvider`, so the check needs no descriptor of its own.
struct PeerCheckedHTTP1Channel: ServerChildChannel {
    typealias Value = HTTP1Channel.Value
    let base: HTTP1Channel

    func setup(channel: any NIOCore.Channel, logger: Logger) -> EventLoopFuture<Value> {
        guard let provider = channel as? any SocketOptionProvider else { return refuse(channel) }
        let credentials: EventLoopFuture<PeerCredentials> = provider.unsafeGetSocketOption(
            level: SocketOptionLevel(SOL_SOCKET), name: SocketOptionName(SO_PEERCRED))
        return credentials.flatMap { peer in
            guard ControlSocket.peerAllowed(uid: peer.uid) else { return refuse(channel) }
            return base.setup(channel: channel, logger: logger)
        }
    }

    private func refuse(_ channel: any NIOCore.Channel) -> EventLoopFuture<Value> {
        channel.close().flatMapThrowing { () throws -> Value in throw PeerRefused() }
    }

    func handle(value: Value, logger: Logger) async {
        await base.handle(value: value, logger: logger)
    }

    /// A connection from another user, closed unanswered.
    struct PeerRefused: Error {}

    /// `struct ucred` of <sys/socket.h>, what SO_PEERCRED reads: pid, uid and gid, three 32-bit fields. Glibc
    /// declares it only under _GNU_SOURCE, which Swift's Glibc module is not built with.
    struct PeerCredentials: Sendable {
        var pid: Int32 = 0
        var uid: UInt32 = 0
        var gid: UInt32 = 0
    }
}

/// The TCP API's guard: a request must name the bound address in `Host` (a page that reached the port through a
/// DNS name of its own is refused, as in DNS rebinding) and carry `Authorization: Bearer TOKEN`.
struct TCPGuard<Context: RequestContext>: RouterMiddleware {
    let address: APIAddress
    let token: String
    let boundPort: BoundPort

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response)
        async throws -> Response
    {
        // HTTP/1's Host header is the request's authority in HTTPTypes.
        guard let host = request.head.authority, address.acceptsHostHeader(host, boundPort: boundPort.value) else {
            throw ControlAPIError(
                .forbidden, code: "bad-host",
                "the Host header must name the address the API is bound to (\(address.host):\(boundPort.value))")
        }
        guard let authorization = request.headers[.authorization],
            BearerToken.matches(authorization, token: token)
        else {
            throw ControlAPIError(
                .unauthorized, code: "unauthorized",
                "send `Authorization: Bearer TOKEN` with the token `up` printed (also in its .token file)",
                headers: [.wwwAuthenticate: "Bearer"])
        }
        return try await next(request, context)
    }
}

/// The TCP port actually bound (`--api 127.0.0.1:0` picks one), known once the listener runs.
final class BoundPort: Sendable {
    private let port: Mutex<Int>
    init(_ port: Int) { self.port = Mutex(port) }
    var value: Int { port.withLock { $0 } }
    func set(_ value: Int) { port.withLock { $0 = value } }
}

/// The secret of the TCP API: 32 random bytes as hex, written 0600 beside the socket.
public enum BearerToken {
    /// `SystemRandomNumberGenerator` reads getrandom(2) on Linux: suitable for a secret.
    static func generate() throws(SuperwatchError) -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<32).map { _ in
            let byte = UInt8.random(in: 0...255, using: &generator)
            return String(byte >> 4, radix: 16) + String(byte & 0x0F, radix: 16)
        }.joined()
    }

    /// Writes `token` to a new file at `path`, readable by this user only; a leftover of a killed `up` is
    /// replaced. O_EXCL and O_NOFOLLOW: never through a link someone else put there.
    static func write(_ token: String, to path: String) throws(SuperwatchError) {
        if unlink(path) != 0 && errno != ENOENT {
            let err = Errno.current
            throw SuperwatchError(.system(syscall: "unlink", errno: err), "cannot replace \(path): \(err)")
        }
        let fd = try retryingEINTR("open") {
            open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        }
        do {
            try writeFully(fd, Array("\(token)\n".utf8))
        } catch {
            // ignored: the write's error is the one to report; the descriptor goes either way.
            close(fd)
            throw SuperwatchError(error.code, "cannot write the API token to \(path): \(error.message)")
        }
        try closeDescriptor(fd)
    }

    /// Whether an `Authorization` header carries `token`, compared in constant time.
    public static func matches(_ header: String, token: String) -> Bool {
        let prefix = "Bearer "
        guard header.count > prefix.count, header.prefix(prefix.count).lowercased() == prefix.lowercased() else {
            return false
        }
        let given = Array(header.dropFirst(prefix.count).utf8)
        let expected = Array(token.utf8)
        guard given.count == expected.count else { return false }
        return zip(given, expected).reduce(UInt8(0)) { $0 | ($1.0 ^ $1.1) } == 0
    }
}
