import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Synchronization

/// The resources of `/v1` (schema/control-api.yaml), each a call of one `StackControl` verb.
extension ControlServer {
    /// What `restart`, `stop` and `start` do, by their path names.
    enum Action: String, CaseIterable, Sendable {
        case restart, stop, start

        func perform(_ names: [String], on control: any StackControl) async throws(SuperwatchError) -> [String] {
            switch self {
            case .restart: return try await control.restart(names)
            case .stop: return try await control.stop(names)
            case .start: return try await control.start(names)
            }
        }
    }

    static func router(
        _ control: any StackControl, stack: ControlAPI.Stack, guard tcpGuard: TCPGuard<BasicRequestContext>?
    ) -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        let resources = Resources()
        // Outermost, so that every refusal below (the TCP guard's too) is a JSON error.
        router.add(middleware: JSONErrors<BasicRequestContext>(resources: resources))
        if let tcpGuard { router.add(middleware: tcpGuard) }
        let v1 = router.group("v1")
        // Each path's methods, for the 405 answers of `JSONErrors`.
        var methods: [(path: String, allowed: [HTTPRequest.Method])] = []
        func on(
            _ path: String, _ method: HTTPRequest.Method,
            _ handler: @escaping @Sendable (Request, BasicRequestContext) async throws -> Response
        ) {
            v1.on(RouterPath(stringLiteral: path), method: method, use: handler)
            if let index = methods.firstIndex(where: { $0.path == path }) {
                methods[index].allowed.append(method)
            } else {
                methods.append((path, [method]))
            }
        }
        on("stack", .get) { _, _ in try json(stack) }
        on("processes", .get) { _, _ in try json(ControlAPI.ProcessList(processes: await control.status())) }
        on("processes/:name", .get) { _, context in
            let name = try context.parameters.require("name")
            let all = await control.status()
            guard let status = all.first(where: { $0.name == name }) else {
                throw ControlAPIError(unknownProcess: name, among: all.map(\.name))
            }
            return try json(status)
        }
        for action in Action.allCases {
            on("processes/:name/\(action.rawValue)", .post) { _, context in
                let name = try context.parameters.require("name")
                return try await perform(action, [name], on: control)
            }
            on(action.rawValue, .post) { request, _ in
                var request = request
                let names = try await decodeBody(ControlAPI.Names.self, from: &request)
                guard !names.processes.isEmpty else {
                    throw ControlAPIError(.badRequest, code: "bad-request", "`processes` names no process")
                }
                return try await perform(action, names.processes, on: control)
            }
        }
        on("logs", .get) { request, _ in
            let names = request.uri.queryParameters.getAll("process")
            let count = try tail(request)
            let records = try await mapped { () async throws(SuperwatchError) in
                try await control.logs(names, tail: count)
            }
            return try json(ControlAPI.Logs(records: records))
        }
        on("logs/follow", .get) { request, _ in try await follow(request, control) }
        on("processes/:name/attach", .post) { request, context in
            try await attach(try context.parameters.require("name"), request, control)
        }
        on("shutdown", .post) { _, _ in
            await control.shutdown()
            return try json(["status": "stopping"], status: .accepted)
        }
        on("reload", .post) { _, _ in
            let summary: ReloadSummary
            do throws(SuperwatchError) {
                summary = try await control.reload()
            } catch {
                throw ControlAPIError(reloadRefused: error)
            }
            return try json(summary)
        }
        resources.set(methods)
        return router
    }

    private static func perform(_ action: Action, _ names: [String], on control: any StackControl) async throws
        -> Response
    {
        let acted = try await mapped { () async throws(SuperwatchError) in try await action.perform(names, on: control)
        }
        return try json(ControlAPI.Names(processes: acted))
    }

    /// Records as server-sent events (`text/event-stream`), one `data:` line of JSON each: first the last `tail`
    /// (default 0), then every new one until the client goes away or `up` ends, or `limit` records or `timeout`
    /// seconds have gone out. SSE because a browser's EventSource reads it as it is (the dashboard to come), and
    /// a line reader needs nothing more.
    ///
    /// The fan-out hands over a round of the I/O loop's lines at a time; each batch is encoded into one buffer
    /// (`LogRecord.appendJSON`, no `Codable` encoder per record) and written at once, so a follower costs a write
    /// per round, not per line.
    private static func follow(_ request: Request, _ control: any StackControl) async throws -> Response {
        let names = request.uri.queryParameters.getAll("process")
        let count = request.uri.queryParameters.get("tail") == nil ? 0 : try tail(request)
        let limit = try followLimit(request)
        let timeout = try followTimeout(request)
        // The backlog and the subscription come together: the stream starts right after the backlog's last record.
        let follow = try await mapped { () async throws(SuperwatchError) in
            try await control.follow(names, tail: count)
        }
        var timer: (@Sendable () async -> Void)?
        if let timeout {
            timer = {
                // ignored: cancelled means the stream ended first, and there is nothing left to end.
                try? await Task.sleep(for: timeout)
                follow.finish()
            }
        }
        return streamingResponse(
            contentType: "text/event-stream", alongside: timer,
            { writer in
                var events = EventEncoder(limit: limit)
                // The backlog (up to a whole ring buffer) in pieces, so that no one buffer gets huge.
                var backlog = follow.backlog[...]
                while !backlog.isEmpty && !events.isDone {
                    try await writer.write(events.encode(backlog.prefix(1000)))
                    backlog = backlog.dropFirst(1000)
                }
                var cut = 0
                if !events.isDone {
                    batches: for await batch in follow.batches {
                        var rest = batch[...]
                        while !rest.isEmpty && !events.isDone {
                            // Once the stack has ended, a reader far behind gets `followCatchUp` to catch up; then
                            // the rest is dropped and it is told, before the server's grace runs out and closes
                            // its connection with nothing said.
                            if let ended = follow.standing().stackEndedAt,
                                ContinuousClock.now - ended > ControlAPI.followCatchUp
                            {
                                cut = rest.count + follow.discardQueued()
                                break batches
                            }
                            try await writer.write(events.encode(rest.prefix(1000)))
                            rest = rest.dropFirst(1000)
                        }
                        if events.isDone { break }
                    }
                }
                let standing = follow.standing()
                if standing.stackEndedAt != nil && !events.isDone && (cut > 0 || standing.dropped > 0) {
                    try await writer.write(
                        events.lost(ControlAPI.FollowLost(records: cut + standing.dropped, cut: cut > 0)))
                }
            })
    }

    /// Records as server-sent events, one `data: JSON` line and a blank line each, a batch into one buffer.
    private struct EventEncoder {
        /// Records still to send before `limit` is reached.
        private var left: Int
        private var times = UTCTimestamps()
        private var bytes: [UInt8] = []

        init(limit: Int?) { left = limit ?? .max }

        /// Whether `limit` records have gone out.
        var isDone: Bool { left == 0 }

        /// The last event of a stream whose reader lost records (`event: lost`).
        mutating func lost(_ lost: ControlAPI.FollowLost) -> ByteBuffer {
            bytes.removeAll(keepingCapacity: true)
            bytes.append(contentsOf: "event: lost\ndata: {\"records\":\(lost.records),\"cut\":\(lost.cut)}\n\n".utf8)
            return ByteBuffer(bytes: bytes)
        }

        /// The events of `records`, as many as `limit` leaves.
        mutating func encode(_ records: ArraySlice<LogRecord>) -> ByteBuffer {
            bytes.removeAll(keepingCapacity: true)
            for record in records.prefix(left) {
                bytes.append(contentsOf: "data: ".utf8)
                record.appendJSON(into: &bytes, times: &times)
                bytes.append(contentsOf: [0x0A, 0x0A])
            }
            left -= min(left, records.count)
            return ByteBuffer(bytes: bytes)
        }
    }

    /// `limit=N`: end the stream after N records (1 or more).
    private static func followLimit(_ request: Request) throws -> Int? {
        guard let text = request.uri.queryParameters.get("limit") else { return nil }
        guard let limit = Int(text), (1...ControlAPI.maximumFollowLimit).contains(limit) else {
            throw ControlAPIError(
                .badRequest, code: "bad-request",
                "`limit` must be a number from 1 to \(ControlAPI.maximumFollowLimit), found `\(text)`")
        }
        return limit
    }

    /// `timeout=SECONDS`: end the stream after that long (more than 0, at most a day; fractions allowed).
    private static func followTimeout(_ request: Request) throws -> Duration? {
        guard let text = request.uri.queryParameters.get("timeout") else { return nil }
        // Decimal only (`Double` would also take `0x10`, `inf` and `nan`).
        let decimal =
            text.first?.isASCII == true && text.first?.isNumber == true
            && text.allSatisfy { "0123456789.eE+-".contains($0) }
        guard decimal, let seconds = Double(text), seconds.isFinite, seconds > 0,
            seconds <= ControlAPI.maximumFollowTimeout
        else {
            throw ControlAPIError(
                .badRequest, code: "bad-request",
                "`timeout` must be a number of seconds above 0 and at most \(Int(ControlAPI.maximumFollowTimeout)), "
                    + "found `\(text)`")
        }
        return .milliseconds(Int64((seconds * 1000).rounded(.up)))
    }

    /// `tail=N`: 0 to `ControlAPI.maximumTail`, default 100.
    private static func tail(_ request: Request) throws -> Int {
        guard let text = request.uri.queryParameters.get("tail") else { return ControlAPI.defaultTail }
        guard let count = Int(text), (0...ControlAPI.maximumTail).contains(count) else {
            throw ControlAPIError(
                .badRequest, code: "bad-request",
                "`tail` must be a number from 0 to \(ControlAPI.maximumTail), found `\(text)`")
        }
        return count
    }

    private static func decodeBody<T: Decodable>(_ type: T.Type, from request: inout Request) async throws -> T {
        let buffer: ByteBuffer
        do {
            buffer = try await request.collectBody(upTo: ControlAPI.maximumBodyBytes)
        } catch {
            throw ControlAPIError(
                .contentTooLarge, code: "too-large", "the body is larger than \(ControlAPI.maximumBodyBytes) bytes")
        }
        do {
            return try ControlAPI.decoder().decode(T.self, from: Data(buffer.readableBytesView))
        } catch {
            throw ControlAPIError(
                .badRequest, code: "bad-request", "the body must be JSON like {\"processes\": [\"web\"]}")
        }
    }

    /// Runs a `StackControl` verb, turning its errors into HTTP ones.
    private static func mapped<T>(_ call: () async throws(SuperwatchError) -> T) async throws -> T {
        do {
            return try await call()
        } catch {
            throw ControlAPIError(error)
        }
    }

    static func json<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok) throws -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        var body = try ControlAPI.encoder().encode(value)
        body.append(0x0A)
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: body)))
    }
}

/// A refused request: its status and the `{"error": {"code", "message"}}` body.
struct ControlAPIError: Error {
    var status: HTTPResponse.Status
    var code: String
    var message: String
    var headers: HTTPFields

    init(_ status: HTTPResponse.Status, code: String, _ message: String, headers: HTTPFields = [:]) {
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers
    }

    /// A `StackControl` error: an unknown name is 404, a stack that is stopping 409.
    init(_ error: SuperwatchError) {
        switch error.code {
        case .unknownProcess: self.init(.notFound, code: "unknown-process", error.message)
        case .notRunning: self.init(.conflict, code: "not-running", error.message)
        case .usage: self.init(.badRequest, code: "bad-request", error.message)
        default: self.init(.internalServerError, code: "internal", error.message)
        }
    }

    /// A refused reload: 422 with the positioned message (`FILE:LINE:COL: error: …`) when the new config cannot
    /// be applied, 409 when the stack is stopping.
    init(reloadRefused error: SuperwatchError) {
        if case .notRunning = error.code {
            self.init(error)
        } else {
            self.init(.unprocessableContent, code: ControlAPI.reloadRefusedCode, error.description)
        }
    }

    init(unknownProcess name: String, among names: [String]) {
        let replicas = names.filter { $0.hasPrefix(name + ".") }
        let hint =
            replicas.isEmpty
            ? "the stack has \(names.joined(separator: ", "))"
            : "it runs as \(replicas.joined(separator: ", ")); ask for one of them"
        self.init(.notFound, code: "unknown-process", "no process named \(name); \(hint)")
    }
}

/// The paths of the API (`processes/:name` and the like, under `/v1/`) and their methods, known once the router
/// is built.
final class Resources: Sendable {
    private let table = Mutex<[(segments: [Substring], allowed: [HTTPRequest.Method])]>([])

    func set(_ routes: [(path: String, allowed: [HTTPRequest.Method])]) {
        table.withLock { $0 = routes.map { (("v1/" + $0.path).split(separator: "/"), $0.allowed) } }
    }

    /// The methods of the resource at `path`, or nil when there is none.
    func allowed(_ path: String) -> [HTTPRequest.Method]? {
        let segments = path.split(separator: "/")
        return table.withLock { routes in
            routes.first { route in
                route.segments.count == segments.count
                    && zip(route.segments, segments).allSatisfy { $0.hasPrefix(":") || $0 == $1 }
            }?.allowed
        }
    }
}

/// Turns every error of a request, Hummingbird's own (no such route, a body too large) included, into a JSON
/// error body, so that a client never has to parse anything else.
struct JSONErrors<Context: RequestContext>: RouterMiddleware {
    let resources: Resources

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response)
        async throws -> Response
    {
        let refusal: ControlAPIError
        do {
            return try await next(request, context)
        } catch let error as ControlAPIError {
            refusal = error
        } catch let error as HTTPError where error.status == .notFound {
            // The router has no route for this method and path: another method on a path that exists is a 405
            // with `Allow` (whatever the method, QUERY and TRACE included), anything else a 404.
            if let allowed = resources.allowed(request.uri.path) {
                let names = allowed.map(\.rawValue).joined(separator: ", ")
                refusal = ControlAPIError(
                    .methodNotAllowed, code: "method-not-allowed", "\(request.uri.path) takes \(names)",
                    headers: [.allow: names])
            } else {
                refusal = ControlAPIError(
                    .notFound, code: "not-found",
                    "no resource \(request.method) \(request.uri.path); see schema/control-api.yaml")
            }
        } catch let error as HTTPError {
            refusal = ControlAPIError(error.status, code: "bad-request", error.body ?? error.status.reasonPhrase)
        } catch {
            refusal = ControlAPIError(.internalServerError, code: "internal", "\(error)")
        }
        var response = try ControlServer.json(
            ControlAPI.ErrorBody(code: refusal.code, message: refusal.message), status: refusal.status)
        for field in refusal.headers { response.headers.append(field) }
        return response
    }
}
