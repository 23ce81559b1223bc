import HTTPTypes
import Hummingbird
import NIOCore

/// `POST /v1/processes/NAME/attach`: a client's terminal connected to a `tty: true` process's. One HTTP/1.1
/// exchange carries both directions at once: the request body, sent as it is typed (chunked), is a stream of
/// `AttachFrame`s (input and window sizes); the answer's body is the terminal's raw output as it comes, run after
/// run (a restart adds a `[superwatch: NAME restarted]` line). The end of the request body detaches; the end of
/// the answer says the process stopped for good (the last line says how) or `up` is ending.
extension ControlServer {
    static func attach(_ name: String, _ request: Request, _ control: any StackControl) async throws -> Response {
        let attachment: TerminalAttachment
        do {
            attachment = try await control.attach(name)
        } catch {
            switch error.code {
            case .controlRefused(let status):
                throw ControlAPIError(HTTPResponse.Status(code: status), code: "cannot-attach", error.message)
            default: throw ControlAPIError(error)
            }
        }
        return streamingResponse(
            contentType: "application/octet-stream",
            alongside: {
                // However the client's side ends (its end of the body: the detach key; or the connection lost)
                // or typing fails, the client is detached, which ends the output stream and so the answer: there
                // is nobody to report an error to but the client, and the end of the answer tells it.
                defer { attachment.detach() }
                var parser = AttachFrame.Parser()
                do {
                    for try await buffer in request.body {
                        for frame in parser.consume(buffer.readableBytesView) {
                            switch frame {
                            case .input(let bytes): try await attachment.send(bytes)
                            case .resize(let size): attachment.resize(size)
                            }
                        }
                    }
                } catch {
                    return
                }
            },
            { writer in
                defer { attachment.detach() }
                for await chunk in attachment.output { try await writer.write(ByteBuffer(bytes: chunk)) }
            })
    }

    /// A 200 whose body `produce` writes as it goes (a follow stream, an attach's output), `alongside` running
    /// beside it (a timeout, the attach's input) until `produce` returns; then the body ends properly.
    static func streamingResponse(
        contentType: String, alongside: (@Sendable () async -> Void)? = nil,
        _ produce: @escaping @Sendable (inout any ResponseBodyWriter) async throws -> Void
    ) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = contentType
        headers[.cacheControl] = "no-cache"
        return Response(
            status: .ok, headers: headers,
            body: ResponseBody { writer in
                try await withThrowingTaskGroup(of: Void.self) { group in
                    if let alongside { group.addTask { await alongside() } }
                    try await produce(&writer)
                    group.cancelAll()
                }
                try await writer.finish(nil)
            })
    }
}
