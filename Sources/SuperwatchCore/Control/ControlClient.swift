import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// The CLI's side of the control API: requests to a running `up` over its Unix socket (or, for tests and
/// scripts, its `--api` TCP address), answers decoded into `ControlAPI` types and refusals into
/// `SuperwatchError`s that say what to do.
///
/// HTTP/1 is NIO's codec (NIOHTTP1, the one Hummingbird serves with) on a NIO channel: a maintained parser
/// that is already in the build, without the TLS, HTTP/2 and proxy machinery of a general-purpose client (README,
/// design notes). One connection per request (`Connection: close`): a CLI makes one or two.
public struct ControlClient: Sendable {
    public enum Target: Sendable, Equatable {
        case unix(path: String)
        case tcp(host: String, port: Int)
    }

    public let target: Target
    /// The config as the user named it, for messages (`superwatch is not running app.yaml`).
    public let stackName: String
    /// For the TCP API: its bearer token.
    public var token: String?

    public init(target: Target, stackName: String, token: String? = nil) {
        self.target = target
        self.stackName = stackName
        self.token = token
    }

    /// The methods the API uses.
    public enum Method: String, Sendable {
        case GET, POST

        var nio: HTTPMethod { self == .GET ? .GET : .POST }
    }

    /// A whole answer.
    public struct Answer: Sendable {
        public var status: Int
        public var body: [UInt8]
    }

    /// Sends one request and reads the whole answer.
    public func send(_ method: Method, _ path: String, body: [UInt8]? = nil) async throws(SuperwatchError)
        -> Answer
    {
        var answer = Answer(status: 0, body: [])
        do throws(SuperwatchError) {
            try await exchange(method, path, body: body) { status, chunk in
                answer.status = status
                answer.body.append(contentsOf: chunk)
            }
        } catch {
            // A cut answer is a stream's business (exit status 3 for `logs --follow`); here `up` went away.
            guard case .streamCut = error.code else { throw error }
            throw SuperwatchError(.notRunning, error.message)
        }
        return answer
    }

    /// Sends a GET and hands the lines of the answer's body to `lines` as they arrive, those of each piece read
    /// at once, until the server ends it (or `lines` throws). Returns the status and, for a refusal, its body.
    public func streamLines(_ path: String, _ lines: @escaping ([String]) async throws -> Void)
        async throws(SuperwatchError) -> Answer
    {
        var pending: [UInt8] = []
        var refusal = Answer(status: 0, body: [])
        try await exchange(.GET, path, body: nil) { status, chunk in
            refusal.status = status
            guard status == 200 else {
                refusal.body.append(contentsOf: chunk)
                return
            }
            pending.append(contentsOf: chunk)
            guard let last = pending.lastIndex(of: 0x0A) else { return }
            let complete = pending[..<last].split(separator: 0x0A, omittingEmptySubsequences: false)
            let texts = complete.map { String(decoding: $0, as: UTF8.self) }
            pending.removeSubrange(...last)
            try await lines(texts)
        }
        return refusal
    }

    /// One request on a new connection; `received` gets the status and each piece of the body.
    private func exchange(
        _ method: Method, _ path: String, body: [UInt8]?,
        _ received: (Int, ByteBufferView) async throws -> Void
    ) async throws(SuperwatchError) {
        let channel: NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>
        do {
            channel = try await connect()
        } catch {
            throw notRunning(error)
        }
        do {
            try await channel.executeThenClose { inbound, outbound in
                var head = HTTPRequestHead(version: .http1_1, method: method.nio, uri: path)
                head.headers.add(name: "Host", value: hostHeader)
                head.headers.add(name: "Connection", value: "close")
                head.headers.add(name: "Accept", value: "application/json, text/event-stream")
                if let token { head.headers.add(name: "Authorization", value: "Bearer \(token)") }
                if let body {
                    head.headers.add(name: "Content-Type", value: "application/json")
                    head.headers.add(name: "Content-Length", value: String(body.count))
                }
                try await outbound.write(.head(head))
                if let body { try await outbound.write(.body(.byteBuffer(ByteBuffer(bytes: body)))) }
                try await outbound.write(.end(nil))
                var status = 0
                var parts = inbound.makeAsyncIterator()
                while true {
                    let next: HTTPClientResponsePart?
                    do {
                        next = try await parts.next()
                    } catch {
                        // Begun but not ended: the connection was closed in the middle of the answer.
                        if status != 0 { throw AnswerCut() }
                        throw error
                    }
                    guard let part = next else { break }
                    switch part {
                    case .head(let response): status = Int(response.status.code)
                    case .body(let buffer): try await received(status, buffer.readableBytesView)
                    case .end:
                        if status != 0 { try await received(status, ByteBuffer().readableBytesView) }
                        return
                    }
                }
                if status != 0 { throw AnswerCut() }
                throw ConnectionEnded()
            }
        } catch let error as SuperwatchError {
            throw error
        } catch is ConnectionEnded {
            throw SuperwatchError(
                .notRunning, "superwatch running \(stackName) closed the connection before answering")
        } catch is AnswerCut {
            throw SuperwatchError(
                .streamCut(lost: nil),
                "superwatch running \(stackName) closed the connection in the middle of its answer")
        } catch {
            throw SuperwatchError(.notRunning, "the control API of \(stackName) failed: \(error)")
        }
    }

    private struct ConnectionEnded: Error {}
    private struct AnswerCut: Error {}

    private var hostHeader: String {
        switch target {
        case .unix: return "localhost"
        case .tcp(let host, let port): return host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        }
    }

    func connect() async throws -> NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart> {
        let bootstrap = ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
        let initializer:
            @Sendable (any NIOCore.Channel) -> EventLoopFuture<
                NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>
            > = { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    return try NIOAsyncChannel(wrappingChannelSynchronously: channel)
                }
            }
        switch target {
        case .unix(let path):
            return try await bootstrap.connect(unixDomainSocketPath: path, channelInitializer: initializer)
        case .tcp(let host, let port):
            return try await bootstrap.connect(host: host, port: port, channelInitializer: initializer)
        }
    }

    func notRunning(_ error: any Error) -> SuperwatchError {
        let place: String
        switch target {
        case .unix(let path): place = path
        case .tcp(let host, let port): place = "\(host):\(port)"
        }
        var reason = "\(error)"
        if let error = error as? IOError { reason = errnoDescription(error.errnoCode) }
        return SuperwatchError(
            .notRunning,
            "superwatch is not running \(stackName) (nothing answers on \(place): \(reason)); "
                + "start it with `superwatch up`")
    }
}
