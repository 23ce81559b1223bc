import Foundation
import SuperwatchCore
import SuperwatchTestSupport
import Synchronization
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The control API served on a real Unix socket (and TCP port) in a temporary directory, with a `FakeStack`
/// behind it, asked with real HTTP requests.
@Suite struct ControlServerTests {
    /// Serves `stack` on `DIR/stack.sock` while `body` runs.
    func serve(
        _ stack: FakeStack = FakeStack.sample(), api: APIAddress? = nil,
        idleTimeout: Duration = ControlServer.defaultIdleTimeout,
        _ body: (FakeStack, ControlServer.Endpoints, ControlClient, TemporaryDirectory) async throws -> Void
    ) async throws {
        let dir = TemporaryDirectory("superwatch-api")
        defer { dir.remove() }
        let options = ControlServer.Options(
            socketPath: "\(dir.path)/stack.sock", api: api,
            stack: ControlAPI.Stack(pid: getpid(), config: "\(dir.path)/superwatch.yaml", lock: nil, version: "test"),
            idleTimeout: idleTimeout)
        try await ControlServer.serving(stack, options: options) { endpoints in
            let endpoints = try #require(endpoints)
            let client = ControlClient(target: .unix(path: endpoints.socketPath), stackName: "superwatch.yaml")
            try await body(stack, endpoints, client, dir)
        }
        #expect(!FileManager.default.fileExists(atPath: options.socketPath), "the socket is removed at the end")
        #expect(!FileManager.default.fileExists(atPath: ControlSocket.tokenPath(socketPath: options.socketPath)))
    }

    @Test func statusListsTheProcessesAndOneByName() async throws {
        try await serve { stack, endpoints, client, _ in
            #expect(try await client.status() == (await stack.processes))
            let web = try await client.send(.GET, "/v1/processes/web")
            #expect(web.status == 200)
            let decoded = try ControlAPI.decoder().decode(ProcessStatus.self, from: Data(web.body))
            #expect(decoded == (await stack.processes[0]))
            let text = String(decoding: web.body, as: UTF8.self)
            #expect(text.contains("\"started_at\":\"2023-11-14T22:13:20.000Z\""), "\(text)")
            #expect(text.contains("\"state\":\"running\"") && text.contains("\"watched_files\":12"))

            let replicated = try await client.send(.GET, "/v1/processes/worker")
            #expect(replicated.status == 404)
            #expect(
                try errorBody(replicated)
                    == ControlAPI.ErrorBody(
                        code: "unknown-process",
                        message: "no process named worker; it runs as worker.1, worker.2; ask for one of them"))
            let stackInfo = try await client.stack()
            #expect(stackInfo.pid == getpid() && stackInfo.version == "test")
            #expect(try fileMode(endpoints.socketPath) == 0o600)
        }
    }

    @Test func anUnknownNameIs404AndNothingIsDone() async throws {
        try await serve { stack, _, client, _ in
            await #expect(throws: SuperwatchError.self) { try await client.act("restart", ["web", "nosuch"]) }
            do {
                _ = try await client.act("stop", ["nosuch"])
                Issue.record("an unknown name was accepted")
            } catch let error as SuperwatchError {
                #expect(error.code == .unknownProcess(name: ""))
                #expect(error.message == "no process named nosuch; the stack has web, worker.1, worker.2, db")
            }
            let single = try await client.send(.POST, "/v1/processes/nosuch/restart")
            #expect(single.status == 404)
            #expect(try errorBody(single).error.code == "unknown-process")
            #expect(await stack.actions.isEmpty, "nothing was restarted")
            #expect(try await client.status() == FakeStack.sample().processes)
        }
    }

    @Test func restartStopAndStartActOnTheNamedProcessesAndTheirReplicas() async throws {
        try await serve { stack, _, client, _ in
            #expect(try await client.act("restart", ["worker"]) == ["worker.1", "worker.2"])
            #expect(try await client.act("stop", ["web", "worker.2"]) == ["web", "worker.2"])
            let states = try await client.status().map(\.state)
            #expect(states == [.stoppedByUser, .running, .stoppedByUser, .stopped])
            let single = try await client.send(.POST, "/v1/processes/web/start")
            #expect(single.status == 200)
            #expect(String(decoding: single.body, as: UTF8.self) == "{\"processes\":[\"web\"]}\n")
            #expect(
                await stack.actions == [
                    "restart worker.1", "restart worker.2", "stop web", "stop worker.2", "start web",
                ])
        }
    }

    @Test func malformedRequestsAreClearJSONErrors() async throws {
        try await serve { stack, _, client, _ in
            let cases: [(method: ControlClient.Method, path: String, body: String?, status: Int, code: String)] = [
                (.GET, "/v1/nothing", nil, 404, "not-found"),
                (.GET, "/", nil, 404, "not-found"),
                (.POST, "/v1/restart", "not json", 400, "bad-request"),
                (.POST, "/v1/restart", "{\"processes\": []}", 400, "bad-request"),
                (.POST, "/v1/restart", "{\"processes\": \"web\"}", 400, "bad-request"),
                (
                    .POST, "/v1/restart", "{\"processes\": [\"" + String(repeating: "a", count: 70_000) + "\"]}", 413,
                    "too-large"
                ),
                (.GET, "/v1/logs?tail=-1", nil, 400, "bad-request"),
                (.GET, "/v1/logs?tail=abc", nil, 400, "bad-request"),
                (.GET, "/v1/logs?process=nosuch", nil, 404, "unknown-process"),
            ]
            for request in cases {
                let body = request.body.map { Array($0.utf8) }
                let answer = try await client.send(request.method, request.path, body: body)
                #expect(answer.status == request.status, "\(request.method) \(request.path)")
                #expect(try errorBody(answer).error.code == request.code, "\(request.method) \(request.path)")
            }
            #expect(await stack.actions.isEmpty)
        }
    }

    @Test func reloadAnswersTheSummaryOrTheRefusalWithItsPosition() async throws {
        try await serve { stack, _, client, _ in
            await stack.answerReloads(.success(ReloadSummary(added: ["api"], restarted: ["web"], unchanged: ["db"])))
            let applied = try await client.send(.POST, "/v1/reload")
            #expect(applied.status == 200)
            #expect(
                String(decoding: applied.body, as: UTF8.self)
                    == "{\"added\":[\"api\"],\"removed\":[],\"restarted\":[\"web\"],\"unchanged\":[\"db\"]}\n")
            #expect(try await client.reload() == ReloadSummary(added: ["api"], restarted: ["web"], unchanged: ["db"]))

            let invalid = SuperwatchError(
                .invalidConfig, "`restart` must be one of never, on-failure, always; found `sometimes`",
                at: SourceLocation(file: "superwatch.yaml", line: 3, column: 12))
            await stack.answerReloads(.failure(invalid))
            let refused = try await client.send(.POST, "/v1/reload")
            #expect(refused.status == 422)
            let body = try errorBody(refused)
            #expect(body.error.code == "reload-refused")
            #expect(body.error.message == invalid.description)
            #expect(body.error.message.hasPrefix("superwatch.yaml:3:12: error: `restart` must be one of"))

            await stack.answerReloads(.failure(SuperwatchError(.notRunning, "the stack is not running")))
            let stopping = try await client.send(.POST, "/v1/reload")
            #expect(stopping.status == 409)
            #expect(try errorBody(stopping).error.code == "not-running")
            #expect(await stack.actions == ["reload", "reload"])
        }
    }

    @Test func logsTailsTheBufferForTheNamedProcesses() async throws {
        try await serve { stack, _, client, _ in
            for n in 1...5 { await stack.emit("web", "web line \(n)") }
            await stack.emit("worker.1", "worker line", stream: .stderr)
            await stack.emit(
                LogRecord(
                    process: "superwatch", stream: .event, time: Date(timeIntervalSince1970: 1_700_000_100), text: "x",
                    kind: "notice"))
            let last3 = try await client.logs([], tail: 3)
            #expect(last3.map(\.text) == ["web line 5", "worker line", "x"])
            let web = try await client.logs(["web"], tail: 2)
            #expect(web.map(\.text) == ["web line 4", "web line 5"])
            let worker = try await client.logs(["worker"], tail: 100)
            #expect(worker.map(\.stream) == [.stderr])
            #expect(try await client.logs(["web"], tail: 0).isEmpty)
            let all = try await client.logs([], tail: 100)
            #expect(all == (await stack.records), "times and kinds survive the trip")
        }
    }

    @Test func followSendsTheTailThenNewRecordsUntilTheClientLeaves() async throws {
        try await serve { stack, _, client, _ in
            await stack.emit("web", "before 1")
            await stack.emit("web", "before 2")
            let received = Mutex<[String]>([])
            let follower = Task {
                try await client.follow(["web"], tail: 1) { records in
                    received.withLock { $0 += records.map(\.text) }
                }
            }
            #expect(await eventuallyAsync { await stack.followerCount == 1 })
            await stack.emit("worker.1", "not followed")
            await stack.emit("web", "after")
            #expect(await eventuallyAsync { received.withLock { $0 } == ["before 2", "after"] })

            // A client that goes away mid-stream: the server learns it when a write fails, so its subscription
            // ends with one of the next records (the first may still reach a connection that is closing), and
            // the stack goes on.
            follower.cancel()
            _ = await follower.result
            #expect(
                await eventuallyAsync {
                    await stack.emit("web", "into the void")
                    return await stack.followerCount == 0
                })
            let served1 = try await client.status().count
            #expect(served1 == 4)
        }
    }

    @Test func shutdownReachesTheStackAndEndsFollowers() async throws {
        try await serve { stack, _, client, _ in
            let follower = Task { try await client.follow([], tail: 0) { _ in } }
            #expect(await eventuallyAsync { await stack.followerCount == 1 })
            try await client.shutdown()
            #expect(await stack.shutdownRequested)
            try await follower.value
        }
    }

    /// When `serving`'s body returns (up has ended, its followers' streams finished), the server lets every
    /// response in progress end before it stops: a follower in the middle of a long stream gets all of it and
    /// a proper end (it used to be cut now and then: "stream ended at an unexpected time").
    @Test func theEndOfServingLetsEveryFollowerFinish() async throws {
        for _ in 0..<5 {
            var followers: [Task<Int, any Error>] = []
            try await serve { stack, _, client, _ in
                for _ in 0..<2 {
                    followers.append(
                        Task {
                            var received = 0
                            try await client.follow([], tail: 0) { records in received += records.count }
                            return received
                        })
                }
                #expect(await eventuallyAsync { await stack.followerCount == 2 })
                for n in 0..<100 { await stack.emit("web", "line \(n)") }
                await stack.shutdown()
            }
            for follower in followers { #expect(try await follower.value == 100) }
        }
    }

    /// A follower still behind when the stack has ended gets `ControlAPI.followCatchUp` to catch up; then what
    /// is queued for it is dropped and its stream ends with a `lost` event saying how many records it never got,
    /// which the client turns into an error saying so (exit status 3).
    @Test func aFollowerCutBehindAtTheEndIsToldHowManyRecordsItLost() async throws {
        try await serve { stack, _, client, _ in
            await stack.standFollowers(
                FollowStanding(stackEndedAt: ContinuousClock.now - .seconds(60), dropped: 7), queued: 3)
            let follower = Task { try await client.follow([], tail: 0) { _ in } }
            #expect(await eventuallyAsync { await stack.followerCount == 1 })
            await stack.emit("web", "one record more, when it is too late")
            let (lost, error) = try #require(await cutShort(follower))
            #expect(lost == 11, "the one record not sent, the 3 still queued and the 7 dropped before")
            #expect(error.exitStatus == 3)
            #expect(error.message.hasPrefix("lost 11 records of the stream: the `up` of "), "\(error)")
            #expect(error.message.contains("did not catch up in time"), "\(error)")
        }
    }

    /// The `.streamCut` error `follower` ended with, and the records it says were lost; nil (and an issue) when
    /// it ended otherwise.
    private func cutShort(_ follower: Task<Void, any Error>) async -> (lost: Int?, error: SuperwatchError)? {
        do {
            try await follower.value
            Issue.record("the follow ended as if nothing were lost")
        } catch let error as SuperwatchError {
            if case .streamCut(let lost) = error.code { return (lost, error) }
            Issue.record("\(error)")
        } catch {
            Issue.record("\(error)")
        }
        return nil
    }

    /// A stream the stack's end finishes in time, but whose reader lost records on the way (it read too slowly),
    /// ends with a `lost` event too: not cut, but not whole either.
    @Test func aFollowerThatLostRecordsOnTheWayIsToldAtTheEnd() async throws {
        try await serve { stack, endpoints, client, _ in
            await stack.standFollowers(
                FollowStanding(stackEndedAt: ContinuousClock.now + .seconds(3600), dropped: 7), queued: 0)
            let follower = Task { try await client.follow([], tail: 0) { _ in } }
            #expect(await eventuallyAsync { await stack.followerCount == 1 })
            await stack.emit("web", "sent")
            await stack.shutdown()
            let (lost, error) = try #require(await cutShort(follower))
            #expect(lost == 7)
            #expect(error.message.contains("read more slowly than the processes wrote"), "\(error)")
            // On the wire: the record, then the last event.
            let socket = endpoints.socketPath
            let raw = try await onThread {
                try rawHTTP(
                    unixPath: socket, "GET /v1/logs/follow?tail=1&timeout=0.2 HTTP/1.1\r\nHost: x\r\n\r\n")
            }
            let record = try #require(raw.range(of: "\"process\":\"web\""), "\(raw)")
            let last = try #require(raw.range(of: "event: lost\ndata: {\"records\":7,\"cut\":false}\n\n"), "\(raw)")
            #expect(record.upperBound < last.lowerBound)
        }
    }

    /// `POST /v1/processes/NAME/attach`: one exchange carries both ways. The answer streams the terminal's
    /// output until the request body ends (the detach); what the input frames carried reached the process, a
    /// frame of an unknown type is skipped; the refusals come before anything streams, as JSON errors.
    @Test func attachIsOneExchangeBothWaysAndItsRefusalsAreJSON() async throws {
        try await serve { stack, endpoints, _, _ in
            let socket = endpoints.socketPath
            // Input `ls\r`, a window of 30 x 100, a frame of type 7, input `!`.
            let frames =
                "\u{0}\u{0}\u{3}ls\r" + "\u{1}\u{0}\u{4}\u{0}\u{1E}\u{0}d" + "\u{7}\u{0}\u{1}x" + "\u{0}\u{0}\u{1}!"
            func post(_ name: String, _ body: String) async throws -> String {
                try await onThread {
                    try rawHTTP(
                        unixPath: socket,
                        "POST /v1/processes/\(name)/attach HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                            + "Content-Type: application/octet-stream\r\nContent-Length: \(body.utf8.count)\r\n\r\n"
                            + body)
                }
            }
            let answer = try await post("web", frames)
            #expect(answer.hasPrefix("HTTP/1.1 200 "), "\(answer)")
            #expect(answer.lowercased().contains("content-type: application/octet-stream"), "\(answer)")
            #expect(answer.contains("terminal> "), "\(answer)")
            #expect(await stack.typed["web"] == Array("ls\r!".utf8))
            let again = try await post("web", "")
            #expect(again.hasPrefix("HTTP/1.1 200 "), "the detach let go: another client may attach\n\(again)")
            for (name, status, code) in [
                ("nosuch", "404", "unknown-process"), ("db", "409", "cannot-attach"),
                ("worker", "409", "cannot-attach"),
            ] {
                let refused = try await post(name, frames)
                #expect(refused.hasPrefix("HTTP/1.1 \(status) "), "\(name): \(refused)")
                #expect(refused.contains("{\"error\":{\"code\":\"\(code)\""), "\(name): \(refused)")
            }
        }
    }

    /// A connection with no request in progress is closed after the idle timeout, but a follower's never is,
    /// however quiet its stream: a response being sent is not idle.
    @Test func aQuietFollowerOutlivesTheIdleTimeout() async throws {
        final class Received: Sendable { let texts = Mutex<[String]>([]) }
        try await serve(idleTimeout: .seconds(1)) { stack, endpoints, client, _ in
            let received = Received()
            // Under load a connection can wait longer than the timeout for its request to be read, and is then
            // closed unanswered, as it should be: such an attempt is made again.
            var follower: Task<Void, any Error>?
            for _ in 0..<5 where await stack.followerCount == 0 {
                follower?.cancel()
                follower = Task {
                    try await client.follow([], tail: 0) { records in
                        received.texts.withLock { $0 += records.map(\.text) }
                    }
                }
                _ = await eventuallyAsync(timeout: .seconds(10)) { await stack.followerCount == 1 }
            }
            #expect(await stack.followerCount == 1)
            // A keep-alive connection that asks once and then says nothing is closed by the server (the answer,
            // then the end; without the timeout the read would give up after 30 s and throw). By then the
            // follower, quiet since before it, has been so for longer than the timeout.
            let socket = endpoints.socketPath
            var idle = ""
            for _ in 0..<5 where !idle.hasPrefix("HTTP/1.1 200 ") {
                idle = try await onThread {
                    try rawHTTP(unixPath: socket, "GET /v1/stack HTTP/1.1\r\nHost: x\r\n\r\n", halfClose: false)
                }
            }
            #expect(idle.hasPrefix("HTTP/1.1 200 "), "\(idle.prefix(60))")
            await stack.emit("web", "still followed")
            #expect(await eventuallyAsync { received.texts.withLock { $0 } == ["still followed"] })
            follower?.cancel()
            _ = await follower?.result
        }
    }

    /// `limit` and `timeout` end a follow on their own (what a script, or a fuzzer, needs); bad values are 400s.
    @Test func followEndsAfterItsLimitOrTimeout() async throws {
        try await serve { stack, _, client, _ in
            for n in 1...3 { await stack.emit("web", "before \(n)") }
            // The tail's two records, then one more: the one written once the tail has arrived.
            let emitted = Mutex(false)
            let limited = try await client.streamLines("/v1/logs/follow?tail=2&limit=3") { _ in
                guard !emitted.withLock({ $0 }) else { return }
                emitted.withLock { $0 = true }
                await stack.emit("web", "after")
            }
            #expect(limited.status == 200)
            let records = Mutex<[String]>([])
            let timed = try await client.streamLines("/v1/logs/follow?tail=1&timeout=0.2") { lines in
                records.withLock { $0 += lines.filter { $0.hasPrefix("data: ") } }
            }
            #expect(timed.status == 200)
            #expect(records.withLock { $0.count } == 1)
            #expect(records.withLock { $0.first?.contains("\"text\":\"after\"") } == true)
            for query in [
                "limit=0", "limit=x", "timeout=0", "timeout=-1", "timeout=nan", "timeout=inf", "timeout=0x10",
            ] {
                let answer = try await client.send(.GET, "/v1/logs/follow?\(query)")
                #expect(answer.status == 400, "\(query)")
                #expect(try errorBody(answer).error.code == "bad-request", "\(query)")
            }
            #expect(await eventuallyAsync { await stack.followerCount == 0 })
        }
    }

    @Test func aStaleSocketIsReplacedAndALiveOneRefused() async throws {
        let dir = TemporaryDirectory("superwatch-api")
        defer { dir.remove() }
        let path = "\(dir.path)/stack.sock"
        // What a SIGKILLed superwatch leaves: a socket file nobody listens on.
        let stale = try #require(boundUnixSocket(path))
        close(stale)
        #expect(FileManager.default.fileExists(atPath: path) && !ControlSocket.answers(path))
        let options = ControlServer.Options(
            socketPath: path, stack: ControlAPI.Stack(pid: getpid(), config: "c", lock: nil, version: "test"))
        try await ControlServer.serving(FakeStack.sample(), options: options) { _ in
            let client = ControlClient(target: .unix(path: path), stackName: "c")
            let served2 = try await client.status().count
            #expect(served2 == 4)
            // A second server on the same path (two stacks given one SUPERWATCH_SOCKET) is refused, and the
            // first one keeps serving.
            await #expect(throws: SuperwatchError.self) {
                try await ControlServer.serving(FakeStack.sample(), options: options) { _ in }
            }
            let served3 = try await client.status().count
            #expect(served3 == 4)
        }
        #expect(!FileManager.default.fileExists(atPath: path))
        // Something that is not a socket is not ours to remove.
        dir.write("stack.sock", "a file\n")
        await #expect(throws: SuperwatchError.self) {
            try await ControlServer.serving(FakeStack.sample(), options: options) { _ in }
        }
        #expect(dir.read("stack.sock") == "a file\n")
    }

    @Test func noServerIsAClearError() async throws {
        let dir = TemporaryDirectory("superwatch-api")
        defer { dir.remove() }
        let client = ControlClient(target: .unix(path: "\(dir.path)/none.sock"), stackName: "app.yaml")
        do {
            _ = try await client.status()
            Issue.record("status answered without a server")
        } catch {
            #expect(error.code == .notRunning)
            #expect(
                error.message
                    == "superwatch is not running app.yaml (nothing answers on \(dir.path)/none.sock: "
                    + "No such file or directory); start it with `superwatch up`")
        }
    }

    @Test(.enabled(if: getuid() == 0, "needs root to connect as another user"))
    func anotherUsersConnectionIsClosedUnanswered() async throws {
        try await serve { stack, endpoints, client, dir in
            // Open the file and its directory to everyone, so that only the peer check stands in the way.
            chmod(dir.path, 0o777)
            chmod(endpoints.socketPath, 0o777)
            let script = """
                import os, socket, sys
                s = socket.socket(socket.AF_UNIX)
                os.setgid(65534); os.setuid(65534)
                s.connect(sys.argv[1])
                try:
                    s.sendall(b"POST /v1/shutdown HTTP/1.1\\r\\nHost: localhost\\r\\nContent-Length: 0\\r\\n\\r\\n")
                    print(repr(s.recv(4096)))
                except OSError as e:
                    print("closed", e.errno)
                """
            let nobody = try runCommand(["python3", "-c", script, endpoints.socketPath])
            #expect(nobody.status == 0, "\(nobody.stderr)")
            #expect(nobody.stdout == "b''\n" || nobody.stdout.hasPrefix("closed"), "\(nobody.stdout)")
            #expect(await !stack.shutdownRequested)
            let served4 = try await client.status().count
            #expect(served4 == 4, "root (this test) is still served")
        }
    }

    @Test func theTCPAPINeedsTheTokenAndItsOwnHostName() async throws {
        try await serve(api: APIAddress(host: "127.0.0.1", port: 0)) { stack, endpoints, _, _ in
            let url = try #require(endpoints.apiURL)
            let token = try #require(endpoints.token)
            let port = try #require(Int(url.split(separator: ":").last!))
            #expect(url == "http://127.0.0.1:\(port)" && port != 0)
            let tokenPath = try #require(endpoints.tokenPath)
            #expect(tokenPath == endpoints.socketPath.replacingOccurrences(of: ".sock", with: ".token"))
            #expect(try fileMode(tokenPath) == 0o600)
            #expect(try String(contentsOfFile: tokenPath, encoding: .utf8) == token + "\n")
            #expect(token.count == 64)

            let authorized = ControlClient(target: .tcp(host: "127.0.0.1", port: port), stackName: "s", token: token)
            let served5 = try await authorized.status().count
            #expect(served5 == 4)
            let anonymous = ControlClient(target: .tcp(host: "127.0.0.1", port: port), stackName: "s")
            let refused = try await anonymous.send(.POST, "/v1/shutdown")
            #expect(refused.status == 401)
            #expect(try errorBody(refused).error.code == "unauthorized")
            var wrong = authorized
            wrong.token = String(token.reversed())
            #expect(try await wrong.send(.GET, "/v1/processes").status == 401)

            for (host, status) in [
                ("evil.example:\(port)", 403), ("localhost:\(port)", 200), ("127.0.0.1:\(port + 1)", 403),
                ("127.0.0.2:\(port)", 403), ("127.0.0.1", 403), ("127.0.0.1:\(port)", 200),
            ] {
                let answer = try rawHTTP(
                    port: port,
                    "GET /v1/processes HTTP/1.1\r\nHost: \(host)\r\nAuthorization: Bearer \(token)\r\n"
                        + "Connection: close\r\n\r\n")
                #expect(answer.hasPrefix("HTTP/1.1 \(status) "), "Host: \(host): \(answer.prefix(40))")
            }
            #expect(await !stack.shutdownRequested)
        }
    }

    @Test func garbageHugeRequestsAndManyClientsLeaveTheStackAsItWas() async throws {
        try await serve { stack, endpoints, client, _ in
            let socket = endpoints.socketPath
            let garbage = try await onThread { try rawHTTP(unixPath: socket, "\u{1}\u{2} not HTTP at all\r\n\r\n") }
            #expect(garbage.isEmpty || garbage.hasPrefix("HTTP/1.1 400 "), "\(garbage.prefix(60))")
            let header = String(repeating: "a", count: 200_000)
            let huge = try await onThread {
                try rawHTTP(unixPath: socket, "GET /v1/processes HTTP/1.1\r\nHost: x\r\nX-Big: \(header)\r\n\r\n")
            }
            #expect(huge.isEmpty || huge.hasPrefix("HTTP/1.1 4"), "\(huge.prefix(60))")
            let longPath = try await onThread {
                try rawHTTP(unixPath: socket, "GET /v1/\(header) HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            }
            #expect(longPath.isEmpty || longPath.hasPrefix("HTTP/1.1 4"), "\(longPath.prefix(60))")
            // A client that sends half a request and leaves.
            _ = try await onThread { try rawHTTP(unixPath: socket, "POST /v1/shutdown HTTP/1.1\r\nContent-Le") }

            let counts = try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<50 { group.addTask { try await client.status().count } }
                return try await group.reduce(into: [Int]()) { $0.append($1) }
            }
            #expect(counts == Array(repeating: 4, count: 50))
            #expect(await stack.actions.isEmpty)
            #expect(await !stack.shutdownRequested)
        }
    }

    @Test func anotherMethodOnAResourceIs405WithAllow() async throws {
        try await serve { _, endpoints, _, _ in
            let socket = endpoints.socketPath
            let answer = try await onThread {
                try rawHTTP(
                    unixPath: socket, "DELETE /v1/processes/web HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            }
            #expect(answer.hasPrefix("HTTP/1.1 405 "), "\(answer.prefix(60))")
            #expect(answer.lowercased().contains("\r\nallow: get\r\n"), "\(answer)")
            #expect(
                answer.contains(
                    "{\"error\":{\"code\":\"method-not-allowed\",\"message\":\"/v1/processes/web takes GET\"}}"))
            let query = try await onThread {
                try rawHTTP(unixPath: socket, "QUERY /v1/restart HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            }
            #expect(query.hasPrefix("HTTP/1.1 405 ") && query.lowercased().contains("\r\nallow: post\r\n"), "\(query)")
        }
    }

    /// schemathesis (PyPI) generates requests from schema/control-api.yaml, valid and invalid, and checks every
    /// answer against it: status codes, content types, bodies, 401 without the token, 405 for other methods, no
    /// 5xx. The follow stream is in: a hook (Tests/Python/schemathesis_follow_hooks.py) gives every request to it
    /// that the server would accept a short `timeout`, so that each ends (a stream otherwise ends only with the
    /// stack), and the stack has records for its `tail`. So is attach: `web` runs on a terminal in the fake
    /// stack, and an attach ends with its request body (the detach), which schemathesis always sends whole, so
    /// no generated request can hang. A request may wait long for an answer while
    /// the whole suite loads the machine (the server's handlers share the concurrency pool with blocked tests),
    /// hence the generous timeout, and no response-time check (schemathesis's own limit is 10 s): a test asserts
    /// behaviour, never speed (bench/ measures that).
    @Test(.enabled(if: pythonCanImport("schemathesis"), "needs schemathesis (pip install schemathesis)"))
    func theAPIAnswersAsItsOpenAPISpecificationSays() async throws {
        try await serve(api: APIAddress(host: "127.0.0.1", port: 0)) { stack, endpoints, client, dir in
            let url = try #require(endpoints.apiURL)
            let token = try #require(endpoints.token)
            let spec = repositoryRoot.appendingPathComponent("schema/control-api.yaml").path
            let hooks = repositoryRoot.appendingPathComponent("Tests/Python").path
            for n in 1...20 { await stack.emit(n % 2 == 0 ? "web" : "worker.1", "line \(n) \"quoted\" \\ \u{1}é") }
            let result = try await onThread {
                try runCommand(
                    [
                        "SCHEMATHESIS_HOOKS=schemathesis_follow_hooks", "PYTHONPATH=\(hooks)",
                        "schemathesis", "run", spec, "--url", url, "--header", "Authorization: Bearer \(token)",
                        "--checks", "all",
                        "--max-examples", "25", "--seed", "11",
                        "--phases", "examples,coverage,fuzzing", "--request-timeout", "120",
                        "--max-response-time", "120", "--no-color",
                        "--generation-database", "none",
                    ], in: dir.path)
            }
            #expect(result.status == 0, "\(result.stdout.suffix(6000))\(result.stderr.suffix(2000))")
            #expect(await stack.followsOpened > 10, "the stream was tested")
            #expect(await stack.attachesOpened > 0, "attach was tested past its refusals")
            // The API is undisturbed: every generated follow ended, and the stack answers as before.
            #expect(await eventuallyAsync { await stack.followerCount == 0 })
            #expect(try await client.status().map(\.name) == ["web", "worker.1", "worker.2", "db"])
        }
    }

    @Test func apiAddressesMustBeLoopbackUnlessAllowed() throws {
        #expect(try APIAddress.parse("127.0.0.1:8123", allowRemote: false) == APIAddress(host: "127.0.0.1", port: 8123))
        #expect(try APIAddress.parse("[::1]:0", allowRemote: false) == APIAddress(host: "::1", port: 0))
        #expect(try APIAddress.parse("localhost:9", allowRemote: false).isLoopback)
        #expect(try APIAddress.parse("127.1.2.3:9", allowRemote: false).isLoopback)
        for remote in ["0.0.0.0:8123", ":8123", "192.168.1.5:80", "[::]:80", "example.com:80"] {
            #expect(throws: SuperwatchError.self, "\(remote)") { try APIAddress.parse(remote, allowRemote: false) }
            #expect(try !APIAddress.parse(remote, allowRemote: true).isLoopback, "\(remote)")
        }
        #expect(throws: SuperwatchError.self) { try APIAddress.parse("unix:/tmp/x.sock", allowRemote: false) }
        #expect(throws: SuperwatchError.self) { try APIAddress.parse("127.0.0.1", allowRemote: false) }

        let wildcard = APIAddress(host: "", port: 80)
        #expect(wildcard.acceptsHostHeader("192.168.1.5:80", boundPort: 80))
        #expect(!wildcard.acceptsHostHeader("attacker.example:80", boundPort: 80))
        #expect(!wildcard.acceptsHostHeader("localhost:80", boundPort: 80), "not loopback-only")
        let v6 = APIAddress(host: "::1", port: 80)
        #expect(v6.acceptsHostHeader("[::1]:80", boundPort: 80) && v6.acceptsHostHeader("localhost:80", boundPort: 80))
        #expect(!v6.acceptsHostHeader("127.0.0.1:80", boundPort: 80))
    }

    @Test func theTokenIsComparedWhole() {
        #expect(BearerToken.matches("Bearer abc", token: "abc"))
        #expect(BearerToken.matches("bearer abc", token: "abc"))
        #expect(!BearerToken.matches("Bearer abd", token: "abc"))
        #expect(!BearerToken.matches("Bearer ab", token: "abc"))
        #expect(!BearerToken.matches("Basic abc", token: "abc"))
        #expect(!BearerToken.matches("Bearer ", token: ""))
    }
}

/// The error body of a refusal.
func errorBody(_ answer: ControlClient.Answer) throws -> ControlAPI.ErrorBody {
    try ControlAPI.decoder().decode(ControlAPI.ErrorBody.self, from: Data(answer.body))
}

/// A Unix socket bound (and listening) at `path`; the caller closes it.
func boundUnixSocket(_ path: String) -> Int32? {
    let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return nil }
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    withUnsafeMutableBytes(of: &address.sun_path) { raw in
        raw.copyBytes(from: Array(path.utf8))
        raw[path.utf8.count] = 0
    }
    let bound = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
    }
    guard bound == 0, listen(fd, 1) == 0 else {
        close(fd)
        return nil
    }
    return fd
}

/// Sends `request` as written to 127.0.0.1:`port` and reads the answer until the server closes.
func rawHTTP(port: Int, _ request: String) throws -> String {
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    address.sin_addr.s_addr = in_addr_t(UInt32(0x7F00_0001).bigEndian)
    return try exchange(domain: AF_INET, address: &address, request)
}

/// Sends `request` as written to the Unix socket at `path` and reads the answer until the server closes
/// (`halfClose`: after saying that nothing more comes).
func rawHTTP(unixPath path: String, _ request: String, halfClose: Bool = true) throws -> String {
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    withUnsafeMutableBytes(of: &address.sun_path) { raw in
        raw.copyBytes(from: Array(path.utf8))
        raw[path.utf8.count] = 0
    }
    return try exchange(domain: AF_UNIX, address: &address, request, halfClose: halfClose)
}

/// Connects, sends (MSG_NOSIGNAL: a server that closes early is an answer, not a SIGPIPE), half-closes (unless
/// told not to) and reads to the end, giving up after 30 s of silence.
private func exchange<Address>(
    domain: Int32, address: inout Address, _ request: String, halfClose: Bool = true
) throws -> String {
    let fd = socket(domain, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw POSIXError(.EIO) }
    defer { close(fd) }
    var timeout = timeval(tv_sec: 30, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    let connected = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<Address>.size)) }
    }
    guard connected == 0 else { throw POSIXError(.ECONNREFUSED) }
    let bytes = Array(request.utf8)
    var offset = 0
    while offset < bytes.count {
        let n = bytes[offset...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        if n < 0 && errno == EINTR { continue }
        if n <= 0 { break }
        offset += n
    }
    // Nothing more comes: a server waiting for the rest of a cut request sees the end of it.
    if halfClose { shutdown(fd, Int32(SHUT_WR)) }
    var answer: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n < 0 && errno == EINTR { continue }
        if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { throw POSIXError(.ETIMEDOUT) }
        if n <= 0 { break }
        answer += buffer[0..<n]
    }
    return String(decoding: answer, as: UTF8.self)
}

/// The permission bits of `path` itself (not of what a symlink points to).
func fileMode(_ path: String) throws -> mode_t {
    var info = stat()
    try #require(lstat(path, &info) == 0)
    return info.st_mode & 0o777
}
