import Foundation
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import ServiceLifecycle

#if canImport(Glibc)
    import Glibc
#endif

/// The control API of a running `up` (schema/control-api.yaml): HTTP/1.1 and JSON on a private Unix socket
/// and, with `--api`, on a loopback TCP address guarded by a bearer token. It only calls the verbs of
/// `StackControl`; it never touches processes itself.
///
/// Hummingbird serves it (README, design notes: a maintained HTTP/1 server with streaming bodies, instead of a
/// parser of our own). It runs on NIO's threads, never on the supervisor's actor or the I/O loop, so a slow or
/// stuck client cannot hold up the stack or its output.
public enum ControlServer {
    /// What `up` serves and where.
    public struct Options: Sendable {
        /// The Unix socket (`ControlSocket.path`).
        public var socketPath: String
        /// `--api`: also serve on this TCP address.
        public var api: APIAddress?
        /// What `GET /v1/stack` answers.
        public var stack: ControlAPI.Stack
        /// A connection that has no request in progress for this long is closed (an abandoned keep-alive
        /// connection, a client that stopped sending its request half-way). A response being sent is not idle,
        /// however long it lasts: a follower of a quiet process is never cut.
        public var idleTimeout: Duration

        public init(
            socketPath: String, api: APIAddress? = nil, stack: ControlAPI.Stack,
            idleTimeout: Duration = ControlServer.defaultIdleTimeout
        ) {
            self.socketPath = socketPath
            self.api = api
            self.stack = stack
            self.idleTimeout = idleTimeout
        }
    }

    /// `Options.idleTimeout` unless told otherwise.
    public static let defaultIdleTimeout = Duration.seconds(60)
    /// How long the end of `serving` waits for responses in progress (followers sending what is queued for
    /// them, then their stream's end) before it closes what is left: a follower that does not read cannot hold
    /// up the exit of `up` for longer.
    static let shutdownGrace = Duration.seconds(5)

    /// Where the API is being served, once it is.
    public struct Endpoints: Sendable, Equatable {
        public var socketPath: String
        /// `http://127.0.0.1:8123` with the port bound (also when `--api` asked for port 0).
        public var apiURL: String?
        /// The TCP API's bearer token, also in `tokenPath`.
        public var token: String?
        public var tokenPath: String?
    }

    /// Serves the control API of `control` while `body` runs, then stops serving and removes the socket (and the
    /// token file). The socket is bound before `body` starts, so a failure to serve (a live socket of another
    /// superwatch, an address in use) is an error before anything starts. With `control` nil nothing is served
    /// and `body` gets nil.
    ///
    /// When `body` returns, the server shuts down gracefully: it stops accepting, closes idle connections and
    /// lets every response in progress end, within `shutdownGrace`. So a follower, whose stream ends with the
    /// stack, gets the end of its chunked response before `up` exits, instead of a connection cut mid-response.
    public static func serving<T: Sendable>(
        _ control: (any StackControl)?, options: Options, _ body: (Endpoints?) async throws -> T
    ) async throws -> T {
        guard let control else { return try await body(nil) }
        try ControlSocket.replaceStale(at: options.socketPath)
        let token = try options.api.map { _ throws(SuperwatchError) in try BearerToken.generate() }
        let tokenPath = options.api.map { _ in ControlSocket.tokenPath(socketPath: options.socketPath) }
        if let token, let tokenPath { try BearerToken.write(token, to: tokenPath) }
        // ignored: at exit there is no one left to tell; a file left behind is replaced by the next `up --api`.
        defer { if let tokenPath { unlink(tokenPath) } }

        let listeners = options.api == nil ? 1 : 2
        let (ready, readyContinuation) = AsyncStream.makeStream(of: Listening.self)
        // No signals: `up` handles its own, and ends the API by returning from `body`.
        var configuration = ServiceGroupConfiguration(
            services: applications(control, options: options, token: token, ready: readyContinuation), logger: logger)
        configuration.maximumGracefulShutdownDuration = shutdownGrace
        let services = ServiceGroup(configuration: configuration)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                defer { readyContinuation.finish() }
                // A listener that ends on its own (it could not bind) ends the group, and with it the API.
                try await services.run()
            }
            var socketInode: ino_t?
            var apiPort: Int?
            var iterator = ready.makeAsyncIterator()
            for _ in 0..<listeners {
                switch await iterator.next() {
                case .unix(let inode)?: socketInode = inode
                case .tcp(let port)?: apiPort = port
                case nil:
                    // The server ended before it listened: its error says why.
                    let place = options.api.map { "\(options.socketPath) and \($0)" } ?? options.socketPath
                    do {
                        try await group.next()
                    } catch let error as SuperwatchError {
                        throw error
                    } catch {
                        throw SuperwatchError(
                            .addressInUse, "cannot serve the control API on \(place): \(error)")
                    }
                    throw SuperwatchError(
                        .system(syscall: "bind", errno: Errno(rawValue: EIO)),
                        "cannot serve the control API on \(place)")
                }
            }
            defer {
                group.cancelAll()
                if let socketInode { ControlSocket.remove(options.socketPath, inode: socketInode) }
            }
            let endpoints = Endpoints(
                socketPath: options.socketPath,
                apiURL: options.api.map { address in
                    let host = address.bindHost.contains(":") ? "[\(address.bindHost)]" : address.bindHost
                    return "http://\(host):\(apiPort ?? Int(address.port))"
                },
                token: token, tokenPath: tokenPath)
            let result = try await body(endpoints)
            await services.triggerGracefulShutdown()
            do {
                try await group.waitForAll()
            } catch {
                // ignored: `up` has ended, and a response that did not end in time was closed; neither changes how
                // `up` ends.
            }
            return result
        }
    }

    /// Says nothing: `up`'s output is the stack's, and a refused request is answered, not logged.
    private static let logger = Logger(label: "superwatch.control") { _ in SwiftLogNoOpLogHandler() }

    /// A listener that has bound.
    private enum Listening: Sendable {
        case unix(inode: ino_t)
        case tcp(port: Int)
    }

    /// The listeners: the Unix socket's, and with `--api` the TCP address's; each says on `ready` when it has bound.
    private static func applications(
        _ control: any StackControl, options: Options, token: String?, ready: AsyncStream<Listening>.Continuation
    ) -> [any Service] {
        let http1 = HTTP1Channel.Configuration(idleTimeout: TimeAmount(options.idleTimeout))
        let socketPath = options.socketPath
        let unixApp = Application(
            router: router(control, stack: options.stack, guard: nil),
            server: HTTPServerBuilder { responder in
                PeerCheckedHTTP1Channel(base: HTTP1Channel(responder: responder, configuration: http1))
            },
            configuration: ApplicationConfiguration(address: .unixDomainSocket(path: socketPath)),
            onServerRunning: { _ in
                do {
                    try ControlSocket.restrict(socketPath)
                    ready.yield(.unix(inode: try ControlSocket.inode(socketPath)))
                } catch {
                    ready.finish()
                }
            },
            logger: logger)
        guard let api = options.api, let token else { return [unixApp] }
        let boundPort = BoundPort(Int(api.port))
        let tcpApp = Application(
            router: router(
                control, stack: options.stack, guard: TCPGuard(address: api, token: token, boundPort: boundPort)),
            server: .http1(configuration: http1),
            configuration: ApplicationConfiguration(address: .hostname(api.bindHost, port: Int(api.port))),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? Int(api.port)
                boundPort.set(port)
                ready.yield(.tcp(port: port))
            },
            logger: logger)
        return [unixApp, tcpApp]
    }
}
