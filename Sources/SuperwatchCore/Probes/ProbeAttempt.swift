import Dispatch
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// How one probe attempt went.
enum ProbeResult: Sendable, Equatable {
    case passed
    /// Why it failed, said of the attempt: `connection refused`, `answered 503`, `exited with code 1: ...`.
    case failed(String)
}

/// What the probes of one run check, resolved by the supervisor when the run starts: addresses, the held
/// socket, the command to run. Every attempt but `log` is blocking I/O bounded by a deadline, run on a
/// Dispatch thread (`attempt`), never on Swift's cooperative pool or the supervisor actor.
enum ProbeTarget: Sendable {
    case tcp(host: String, port: UInt16)
    /// `anyStatus`: any HTTP answer passes (a `werkzeug:` app's held socket); else only 2xx and 3xx.
    case http(HTTPProbeTarget, anyStatus: Bool)
    /// A `werkzeug:` app on a held Unix socket: any HTTP answer passes.
    case unixHTTP(path: String)
    /// A program's held TCP socket: connect to it, and pass once the socket's accept queue is empty (the
    /// program accepted). The socket stays open while a probe holds it.
    case acceptQueue(HeldSocket)
    case exec(LaunchRequest, PythonInterpreter.Runner)
    /// Matched against the output, not attempted (`ProbeRunner`).
    case log(LogPattern)

    /// Runs one attempt off the caller's thread, giving up at `deadline`. `pending`: the accept-queue probe's
    /// connection, kept from one attempt to the next so that the queue does not grow with every attempt.
    func attempt(until deadline: ContinuousClock.Instant, pending: PendingConnection) async -> ProbeResult {
        await withCheckedContinuation { done in
            DispatchQueue.global().async {
                done.resume(returning: attemptBlocking(until: deadline, pending: pending))
            }
        }
    }

    private func attemptBlocking(until deadline: ContinuousClock.Instant, pending: PendingConnection) -> ProbeResult {
        switch self {
        case .tcp(let host, let port):
            do {
                _ = try ProbeSocket.connect(host: host, port: port, until: deadline)
                return .passed
            } catch {
                return .failed(error.message)
            }
        case .http(let target, let anyStatus):
            do {
                let fd = try ProbeSocket.connect(host: target.host, port: target.port, until: deadline)
                return ProbeSocket.httpCheck(fd, target: target, anyStatus: anyStatus, until: deadline)
            } catch {
                return .failed(error.message)
            }
        case .unixHTTP(let path):
            let target = HTTPProbeTarget(url: "unix:\(path)", host: "localhost", port: 80, path: "/")
            do {
                let fd = try ProbeSocket.connect(unixPath: path, until: deadline)
                return ProbeSocket.httpCheck(fd, target: target, anyStatus: true, until: deadline)
            } catch {
                return .failed(error.message)
            }
        case .acceptQueue(let socket):
            return pending.check(socket, until: deadline)
        case .exec(let request, let runner):
            let run = BoundedCommand.run(request, runner: runner, until: deadline)
            guard let status = run.status else {
                return .failed("did not finish within the probe's period")
            }
            guard status != .exited(0) else { return .passed }
            let said = run.lastLine.map { ": \($0)" } ?? ""
            return .failed("\(status)\(said)")
        case .log:
            return .failed("a log probe is not attempted")
        }
    }
}

/// The accept-queue probe's connection between attempts, used by one probe task at a time.
final class PendingConnection: @unchecked Sendable {
    private var fd: Int32 = -1

    deinit { if fd >= 0 { closeAsserting(fd) } }

    /// Connects to `socket` once, then passes when its accept queue is empty: the program accepted our
    /// connection (and every other one waiting).
    fileprivate func check(_ socket: HeldSocket, until deadline: ContinuousClock.Instant) -> ProbeResult {
        guard case .tcp(let host, let port) = socket.bound else { return .failed("not a TCP socket") }
        if fd < 0 {
            do {
                fd = try ProbeSocket.connect(host: ProbeSocket.loopback(for: host), port: port, until: deadline).take()
            } catch {
                return .failed(error.message)
            }
        }
        var info = tcp_info()
        var length = socklen_t(MemoryLayout<tcp_info>.size)
        guard getsockopt(socket.fd, Int32(IPPROTO_TCP), TCP_INFO, &info, &length) == 0 else {
            return .failed("cannot read its socket's accept queue: \(errnoDescription(errno))")
        }
        // For a listening socket the kernel reports the accept queue's length as tcpi_unacked.
        guard info.tcpi_unacked == 0 else {
            return .failed("it has not accepted a connection yet (\(info.tcpi_unacked) waiting)")
        }
        closeAsserting(fd)
        fd = -1
        return .passed
    }
}

/// Why a connection could not be made.
struct ProbeFailure: Error {
    var message: String
}

/// Non-blocking sockets waited on with poll(2) up to a deadline: what the tcp and http probes do.
enum ProbeSocket {
    /// The address to connect to for a socket bound to `host`: the loopback for "every interface".
    static func loopback(for host: String) -> String {
        switch host {
        case "", "0.0.0.0": return "127.0.0.1"
        case "::": return "::1"
        default: return host
        }
    }

    static func connect(host: String, port: UInt16, until deadline: ContinuousClock.Instant)
        throws(ProbeFailure) -> OwnedDescriptor
    {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host, String(port), &hints, &list)
        guard rc == 0, let first = list else {
            throw ProbeFailure(message: "cannot resolve \(host): \(String(cString: gai_strerror(rc)))")
        }
        defer { freeaddrinfo(first) }
        var failure = ProbeFailure(message: "no address for \(host)")
        var entry: UnsafeMutablePointer<addrinfo>? = first
        while let current = entry {
            do {
                return try connect(
                    family: current.pointee.ai_family, current.pointee.ai_addr, current.pointee.ai_addrlen,
                    until: deadline)
            } catch {
                failure = error
            }
            entry = current.pointee.ai_next
        }
        throw failure
    }

    static func connect(unixPath path: String, until deadline: ContinuousClock.Instant)
        throws(ProbeFailure) -> OwnedDescriptor
    {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            throw ProbeFailure(message: "the socket path is too long")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in bytes.enumerated() { raw[index] = byte }
        }
        let length = socklen_t(MemoryLayout<sockaddr_un>.size)
        let raw = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { (address) -> Result<Int32, ProbeFailure> in
                do throws(ProbeFailure) {
                    return .success(try connect(family: AF_UNIX, address, length, until: deadline).take())
                } catch {
                    return .failure(error)
                }
            }
        }
        return OwnedDescriptor(takingOwnershipOf: try raw.get())
    }

    private static func connect(
        family: Int32, _ address: UnsafePointer<sockaddr>?, _ length: socklen_t, until deadline: ContinuousClock.Instant
    ) throws(ProbeFailure) -> OwnedDescriptor {
        let type = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
        let raw = socket(family, type, 0)
        guard raw >= 0 else { throw ProbeFailure(message: "socket: \(errnoDescription(errno))") }
        let fd = OwnedDescriptor(takingOwnershipOf: raw)
        if Glibc.connect(fd.rawValue, address, length) != 0 {
            let err = errno
            guard err == EINPROGRESS || err == EINTR else {
                throw ProbeFailure(message: errnoDescription(err).lowercased())
            }
            guard wait(fd.rawValue, for: Int16(POLLOUT), until: deadline) else {
                throw ProbeFailure(message: "connecting timed out")
            }
            var soError: Int32 = 0
            var size = socklen_t(MemoryLayout<Int32>.size)
            getsockopt(fd.rawValue, SOL_SOCKET, SO_ERROR, &soError, &size)
            guard soError == 0 else { throw ProbeFailure(message: errnoDescription(soError).lowercased()) }
        }
        return fd
    }

    /// Waits for `events` on `fd`; false when `deadline` passed first.
    static func wait(_ fd: Int32, for events: Int16, until deadline: ContinuousClock.Instant) -> Bool {
        while true {
            let left = deadline - ContinuousClock.now
            guard left > .zero else { return false }
            var ready = pollfd(fd: fd, events: events, revents: 0)
            let polled = poll(&ready, 1, Int32(clamping: max(1, left.milliseconds)))
            if polled < 0 && errno == EINTR { continue }
            return polled > 0
        }
    }

    /// Sends a GET for `target` on the connection and reads the status line: 2xx and 3xx pass (any status with
    /// `anyStatus`).
    static func httpCheck(
        _ fd: borrowing OwnedDescriptor, target: HTTPProbeTarget, anyStatus: Bool,
        until deadline: ContinuousClock.Instant
    ) -> ProbeResult {
        let host = target.host.contains(":") ? "[\(target.host)]" : target.host
        let request =
            Array(
                "GET \(target.path) HTTP/1.1\r\nHost: \(host):\(target.port)\r\nUser-Agent: superwatch-probe\r\n"
                    .utf8) + Array("Accept: */*\r\nConnection: close\r\n\r\n".utf8)
        var sent = 0
        while sent < request.count {
            guard wait(fd.rawValue, for: Int16(POLLOUT), until: deadline) else { return .failed("sending timed out") }
            let count = request[sent...].withUnsafeBytes {
                send(fd.rawValue, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL))
            }
            if count < 0 {
                if errno == EINTR || errno == EAGAIN { continue }
                return .failed("sending: \(errnoDescription(errno).lowercased())")
            }
            sent += count
        }
        var answer: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 1024)
        while !answer.contains(UInt8(ascii: "\n")) && answer.count < 4096 {
            guard wait(fd.rawValue, for: Int16(POLLIN), until: deadline) else { return .failed("no answer in time") }
            let count = recv(fd.rawValue, &buffer, buffer.count, 0)
            if count < 0 {
                if errno == EINTR || errno == EAGAIN { continue }
                return .failed("reading: \(errnoDescription(errno).lowercased())")
            }
            if count == 0 { break }
            answer += buffer[..<count]
        }
        let line = String(
            decoding: answer.prefix { $0 != UInt8(ascii: "\r") && $0 != UInt8(ascii: "\n") }, as: UTF8.self)
        let parts = line.split(separator: " ")
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/"), let status = Int(parts[1]) else {
            return .failed(answer.isEmpty ? "closed the connection without an answer" : "did not answer HTTP")
        }
        if anyStatus || (200..<400).contains(status) { return .passed }
        return .failed("answered \(line.dropFirst(parts[0].count + 1))")
    }
}
