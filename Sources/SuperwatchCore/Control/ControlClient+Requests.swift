import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// The requests the CLI makes, one per resource of schema/control-api.yaml.
extension ControlClient {
    /// The client of the `up` running the config at `configPath` (`-f`, or the default file), on its socket.
    public static func forConfig(_ configPath: String, environment: [String: String]) throws(SuperwatchError)
        -> ControlClient
    {
        let socket = try ControlSocket.path(for: try StackKey(configPath: configPath), environment: environment)
        return ControlClient(target: .unix(path: socket), stackName: configPath)
    }

    public func stack() async throws(SuperwatchError) -> ControlAPI.Stack {
        try decode(ControlAPI.Stack.self, try await send(.GET, "/v1/stack"))
    }

    public func status() async throws(SuperwatchError) -> [ProcessStatus] {
        try decode(ControlAPI.ProcessList.self, try await send(.GET, "/v1/processes")).processes
    }

    /// `restart`, `stop` or `start` of `names`, all or none: an unknown name is an error and nothing is done.
    /// Returns the processes (replicas) acted on.
    public func act(_ action: String, _ names: [String]) async throws(SuperwatchError) -> [String] {
        let body: [UInt8]
        do {
            body = Array(try ControlAPI.encoder().encode(ControlAPI.Names(processes: names)))
        } catch {
            throw SuperwatchError(.usage, "cannot encode the names \(names): \(error)")
        }
        return try decode(ControlAPI.Names.self, try await send(.POST, "/v1/\(action)", body: body)).processes
    }

    public func logs(_ names: [String], tail: Int) async throws(SuperwatchError) -> [LogRecord] {
        try decode(ControlAPI.Logs.self, try await send(.GET, "/v1/logs?" + query(names, tail: tail))).records
    }

    /// The last `tail` records, then every new one, until `up` ends: handed to `records` as they arrive, those
    /// of each piece read at once (so that a caller can print them with one write). Throws `.streamCut` when
    /// the follower was behind as `up` ended and lost records (`up`'s last event says how many), or when the
    /// connection was closed before the stream's end (a follower that did not read in time).
    public func follow(_ names: [String], tail: Int, _ records: @escaping ([LogRecord]) async throws -> Void)
        async throws(SuperwatchError)
    {
        let decoder = ControlAPI.decoder()
        var event = "message"
        var lost: ControlAPI.FollowLost?
        let answer: Answer
        do throws(SuperwatchError) {
            answer = try await streamLines("/v1/logs/follow?" + query(names, tail: tail)) { lines in
                var batch: [LogRecord] = []
                for line in lines {
                    if line.hasPrefix("event: ") {
                        event = String(line.dropFirst(7))
                    } else if line.isEmpty {
                        event = "message"
                    } else if line.hasPrefix("data: ") {
                        // Blank separators, `:` comments and events of types this client does not know are not
                        // records.
                        let data = Data(line.utf8.dropFirst(6))
                        if event == "message" {
                            batch.append(try decoder.decode(LogRecord.self, from: data))
                        } else if event == "lost" {
                            lost = try decoder.decode(ControlAPI.FollowLost.self, from: data)
                        }
                    }
                }
                if !batch.isEmpty { try await records(batch) }
            }
        } catch {
            guard case .streamCut = error.code else { throw error }
            throw SuperwatchError(
                .streamCut(lost: nil),
                "the stream was cut: the `up` of \(stackName) ended (or was killed) while this follower was behind, "
                    + "before it had read everything; the records it had not read are lost")
        }
        if answer.status != 200 { throw refusal(answer) }
        if let lost {
            let how =
                lost.cut
                ? "the `up` of \(stackName) ended while this follower was behind, and it did not catch up in time"
                : "this follower read more slowly than the processes wrote"
            throw SuperwatchError(
                .streamCut(lost: lost.records),
                "lost \(counted(lost.records, "record")) of the stream: \(how) (`up` drops a follower's oldest "
                    + "records rather than slow its processes down)")
        }
    }

    /// Asks `up` to read its config again and apply the difference. A config it refuses is an error whose
    /// message is the positioned one `up` logged (`FILE:LINE:COL: error: …`).
    public func reload() async throws(SuperwatchError) -> ReloadSummary {
        try decode(ReloadSummary.self, try await send(.POST, "/v1/reload"))
    }

    /// Asks `up` to stop its stack; returns at once.
    public func shutdown() async throws(SuperwatchError) {
        let answer = try await send(.POST, "/v1/shutdown")
        guard (200..<300).contains(answer.status) else { throw refusal(answer) }
    }

    private func query(_ names: [String], tail: Int) -> String {
        (names.map { "process=\(percentEncoded($0))" } + ["tail=\(tail)"]).joined(separator: "&")
    }

    private func percentEncoded(_ text: String) -> String {
        text.addingPercentEncoding(
            withAllowedCharacters: .urlQueryAllowed.subtracting(CharacterSet(charactersIn: "&=+")))
            ?? text
    }

    private func decode<T: Decodable>(_ type: T.Type, _ answer: Answer) throws(SuperwatchError) -> T {
        guard (200..<300).contains(answer.status) else { throw refusal(answer) }
        do {
            return try ControlAPI.decoder().decode(T.self, from: Data(answer.body))
        } catch {
            throw SuperwatchError(
                .notRunning, "the control API of \(stackName) sent an answer this superwatch cannot read: \(error)")
        }
    }

    /// A 4xx or 5xx answer as the error the user reads: the server's message, with the status it came with.
    func refusal(_ answer: Answer) -> SuperwatchError {
        let body = try? ControlAPI.decoder().decode(ControlAPI.ErrorBody.self, from: Data(answer.body))
        let message = body?.error.message ?? "HTTP status \(answer.status)"
        switch body?.error.code {
        case "unknown-process": return SuperwatchError(.unknownProcess(name: ""), message)
        case "not-running": return SuperwatchError(.notRunning, message)
        default: return SuperwatchError(.controlRefused(status: answer.status), message)
        }
    }
}
