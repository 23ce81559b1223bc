import CSuperwatchShim

#if canImport(Glibc)
    import Glibc
#endif

/// One probe's connection attempts as a non-blocking state machine: connect, send an HTTP request, read the
/// status line, close. It makes the socket calls but never waits: each step says which readiness of its
/// descriptor it waits for next (`Step.waitFor`), and the probe engine's epoll loop (`ProbeEngine`) calls
/// `ready` when that comes, or `timedOut` at the attempt's deadline. Confined to the engine thread.
///
/// Kept from one attempt to the next: the addresses the host resolved to (a resolver call per attempt would be
/// most of an attempt's cost; resolved again after a connection failed), the HTTP request's bytes, and the
/// accept-queue probe's connection until the program accepted it.
final class SocketProbe {
    /// What an attempt waits for next, or how it ended.
    enum Step: Equatable {
        /// Call `ready` once the descriptor (`fd`) has these epoll events.
        case waitFor(UInt32)
        case finished(ProbeResult)
    }

    private enum Phase {
        case idle
        case connecting
        case sending(sent: Int)
        case reading
    }

    let target: ProbeTarget
    /// The connection of the attempt in flight (and the accept-queue probe's between attempts); -1 when none.
    private(set) var fd: Int32 = -1
    /// `fd` is in the engine's epoll set (kept by the engine; a close takes it out, and so clears this).
    var registered = false
    private var phase = Phase.idle
    /// Each address as its family and sockaddr bytes.
    private var addresses: [(family: Int32, address: [UInt8])] = []
    private var nextAddress = 0
    /// The GET request of an HTTP probe, made once.
    private let request: [UInt8]
    /// What an HTTP probe read of the answer so far.
    private var answer: [UInt8] = []

    /// nil for a target the engine does not attempt (`exec`, `log`).
    init?(_ target: ProbeTarget) {
        guard target.isSocket else { return nil }
        self.target = target
        switch target {
        case .http(let http, _):
            request = Self.request(for: http)
        case .unixHTTP:
            request = Self.request(for: HTTPProbeTarget(url: "unix:", host: "localhost", port: 80, path: "/"))
        default:
            request = []
        }
    }

    deinit { closeConnection() }

    /// The address to connect to for a socket bound to `host`: the loopback for "every interface".
    static func loopback(for host: String) -> String {
        switch host {
        case "", "0.0.0.0": return "127.0.0.1"
        case "::": return "::1"
        default: return host
        }
    }

    private static func request(for target: HTTPProbeTarget) -> [UInt8] {
        let host = target.host.contains(":") ? "[\(target.host)]" : target.host
        return Array(
            ("GET \(target.path) HTTP/1.1\r\nHost: \(host):\(target.port)\r\nUser-Agent: superwatch-probe\r\n"
                + "Accept: */*\r\nConnection: close\r\n\r\n").utf8)
    }

    /// Starts an attempt. An accept-queue probe that is still connected from the last attempt looks at the
    /// queue again at once.
    func begin() -> Step {
        if case .acceptQueue(let socket) = target, fd >= 0 { return .finished(checkAcceptQueue(socket)) }
        closeConnection()
        if addresses.isEmpty {
            do { addresses = try resolve() } catch { return .finished(.failed(error.message)) }
        }
        nextAddress = 0
        return connectNext(failure: nil)
    }

    /// The descriptor has (some of) the events the last step waited for.
    func ready() -> Step? {
        switch phase {
        case .idle:
            return nil  // a late event of a connection that was closed in the same round
        case .connecting:
            var soError: Int32 = 0
            var size = socklen_t(MemoryLayout<Int32>.size)
            if getsockopt(fd, SOL_SOCKET, SO_ERROR, &soError, &size) != 0 { soError = errno }
            guard soError == 0 else {
                closeConnection()
                return connectNext(failure: errnoDescription(soError).lowercased())
            }
            return connected()
        case .sending(let sent):
            return send(from: sent)
        case .reading:
            return read()
        }
    }

    /// The attempt's deadline passed: it failed, saying where it was; its connection is closed.
    func timedOut() -> ProbeResult {
        let message: String
        switch phase {
        case .idle, .connecting: message = "connecting timed out"
        case .sending: message = "sending timed out"
        case .reading: message = "no answer in time"
        }
        closeConnection()
        return .failed(message)
    }

    /// Closes the connection, if there is one (which takes it out of the engine's epoll set).
    func closeConnection() {
        phase = .idle
        registered = false
        guard fd >= 0 else { return }
        closeAsserting(fd)
        fd = -1
    }

    // MARK: - Steps

    /// Connects to the next address; after the last one, fails with the last address's reason and forgets
    /// the addresses (they are resolved again for the next attempt).
    private func connectNext(failure: String?) -> Step {
        var failure = failure
        while nextAddress < addresses.count {
            let (family, address) = addresses[nextAddress]
            nextAddress += 1
            let type = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
            let raw = socket(family, type, 0)
            guard raw >= 0 else { return .finished(.failed("socket: \(errnoDescription(errno))")) }
            fd = raw
            let rc = address.withUnsafeBytes { bytes in
                Glibc.connect(raw, bytes.baseAddress!.assumingMemoryBound(to: sockaddr.self), socklen_t(bytes.count))
            }
            if rc == 0 { return connected() }
            let err = errno
            if err == EINPROGRESS || err == EINTR {
                // Over the loopback the handshake is over by the time connect returns: going on at once saves
                // an epoll registration and a wake-up per attempt.
                if isEstablished() { return connected() }
                phase = .connecting
                return .waitFor(EPOLLOUT.rawValue)
            }
            closeConnection()
            failure = errnoDescription(err).lowercased()
        }
        addresses = []
        return .finished(.failed(failure ?? "no address to connect to"))
    }

    /// Whether the TCP connection in progress is established already.
    private func isEstablished() -> Bool {
        var info = tcp_info()
        var length = socklen_t(MemoryLayout<tcp_info>.size)
        guard getsockopt(fd, Int32(IPPROTO_TCP), TCP_INFO, &info, &length) == 0 else { return false }
        return info.tcpi_state == 1  // TCP_ESTABLISHED
    }

    private func connected() -> Step {
        switch target {
        case .tcp:
            closeConnection()
            return .finished(.passed)
        case .acceptQueue(let socket):
            phase = .idle
            return .finished(checkAcceptQueue(socket))
        default:
            answer.removeAll(keepingCapacity: true)
            return send(from: 0)
        }
    }

    private func send(from start: Int) -> Step {
        var sent = start
        while sent < request.count {
            let count = request[sent...].withUnsafeBytes {
                Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL))
            }
            if count < 0 {
                let err = errno
                if err == EINTR { continue }
                if err == EAGAIN {
                    phase = .sending(sent: sent)
                    return .waitFor(EPOLLOUT.rawValue)
                }
                closeConnection()
                return .finished(.failed("sending: \(errnoDescription(err).lowercased())"))
            }
            sent += count
        }
        phase = .reading
        return .waitFor(EPOLLIN.rawValue)
    }

    /// Reads until the status line is complete (or 4 KiB, or the end), then says what it means: 2xx and 3xx
    /// pass, any status for a `werkzeug:` app's held socket.
    private func read() -> Step {
        var ended = false
        while !answer.contains(UInt8(ascii: "\n")) && answer.count < 4096 && !ended {
            let count = withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 1024) { buffer in
                let count = recv(fd, buffer.baseAddress, buffer.count, 0)
                if count > 0 { answer.append(contentsOf: buffer[..<count]) }
                return count
            }
            if count < 0 {
                let err = errno
                if err == EINTR { continue }
                if err == EAGAIN { return .waitFor(EPOLLIN.rawValue) }
                closeConnection()
                return .finished(.failed("reading: \(errnoDescription(err).lowercased())"))
            }
            ended = count == 0
        }
        closeConnection()
        return .finished(statusLineVerdict())
    }

    private func statusLineVerdict() -> ProbeResult {
        let line = String(
            decoding: answer.prefix { $0 != UInt8(ascii: "\r") && $0 != UInt8(ascii: "\n") }, as: UTF8.self)
        let parts = line.split(separator: " ")
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/"), let status = Int(parts[1]) else {
            return .failed(answer.isEmpty ? "closed the connection without an answer" : "did not answer HTTP")
        }
        var anyStatus = true
        if case .http(_, let any) = target { anyStatus = any }
        if anyStatus || (200..<400).contains(status) { return .passed }
        return .failed("answered \(line.dropFirst(parts[0].count + 1))")
    }

    /// Passes when the held socket's accept queue is empty: the program accepted the probe's connection (and
    /// every other one waiting); then the connection closes. Until then it stays open, so that each attempt
    /// asks about the same connection instead of queueing another.
    private func checkAcceptQueue(_ socket: HeldSocket) -> ProbeResult {
        var info = tcp_info()
        var length = socklen_t(MemoryLayout<tcp_info>.size)
        guard getsockopt(socket.fd, Int32(IPPROTO_TCP), TCP_INFO, &info, &length) == 0 else {
            return .failed("cannot read its socket's accept queue: \(errnoDescription(errno))")
        }
        // For a listening socket the kernel reports the accept queue's length as tcpi_unacked.
        guard info.tcpi_unacked == 0 else {
            return .failed("it has not accepted a connection yet (\(info.tcpi_unacked) waiting)")
        }
        closeConnection()
        return .passed
    }

    // MARK: - Addresses

    private func resolve() throws(ProbeFailure) -> [(family: Int32, address: [UInt8])] {
        switch target {
        case .tcp(let host, let port):
            return try Self.resolve(host: host, port: port)
        case .http(let http, _):
            return try Self.resolve(host: http.host, port: http.port)
        case .acceptQueue(let socket):
            guard case .tcp(let host, let port) = socket.bound else { throw ProbeFailure(message: "not a TCP socket") }
            return try Self.resolve(host: Self.loopback(for: host), port: port)
        case .unixHTTP(let path):
            return [(AF_UNIX, try Self.unixAddress(path))]
        case .exec, .log:
            throw ProbeFailure(message: "not a socket probe")
        }
    }

    private static func resolve(host: String, port: UInt16) throws(ProbeFailure) -> [(family: Int32, address: [UInt8])]
    {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host, String(port), &hints, &list)
        guard rc == 0, let first = list else {
            throw ProbeFailure(message: "cannot resolve \(host): \(String(cString: gai_strerror(rc)))")
        }
        defer { freeaddrinfo(first) }
        var addresses: [(family: Int32, address: [UInt8])] = []
        var entry: UnsafeMutablePointer<addrinfo>? = first
        while let current = entry {
            if let address = current.pointee.ai_addr {
                let bytes = UnsafeRawBufferPointer(start: address, count: Int(current.pointee.ai_addrlen))
                addresses.append((current.pointee.ai_family, Array(bytes)))
            }
            entry = current.pointee.ai_next
        }
        return addresses
    }

    private static func unixAddress(_ path: String) throws(ProbeFailure) -> [UInt8] {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            throw ProbeFailure(message: "the socket path is too long")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in bytes.enumerated() { raw[index] = byte }
        }
        return withUnsafeBytes(of: &address) { Array($0) }
    }
}
