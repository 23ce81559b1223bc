import Dispatch

/// How one probe attempt went.
enum ProbeResult: Sendable, Equatable {
    case passed
    /// Why it failed, said of the attempt: `connection refused`, `answered 503`, `exited with code 1: ...`.
    case failed(String)
}

/// What the probes of one run check, resolved by the supervisor when the run starts: addresses, the held
/// socket, the command to run. The socket kinds are attempted by the probe engine's thread (`ProbeEngine`,
/// `SocketProbe`); an `exec` attempt runs its command on a Dispatch thread (`attempt`); a `log` probe is
/// matched against the output (`ProbeRunner`).
enum ProbeTarget: Sendable {
    case tcp(host: String, port: UInt16)
    /// `anyStatus`: any HTTP answer passes (a `werkzeug:` app's held socket); else only 2xx and 3xx.
    case http(HTTPProbeTarget, anyStatus: Bool)
    /// A `werkzeug:` app on a held Unix socket: any HTTP answer passes.
    case unixHTTP(path: String)
    /// A program's held TCP socket: connect to it, and pass once the socket's accept queue is empty (the
    /// program accepted). The connection stays open from one attempt to the next until then.
    case acceptQueue(HeldSocket)
    case exec(LaunchRequest, PythonInterpreter.Runner)
    /// Matched against the output, not attempted (`ProbeRunner`).
    case log(LogPattern)

    /// The server a socket probe connects to, so that the engine spreads the attempts of probes of one server
    /// and lets those of different servers share a wake-up; nil for a probe that connects nowhere.
    var endpoint: String? {
        switch self {
        case .tcp(let host, let port): return "\(host):\(port)"
        case .http(let target, _): return "\(target.host):\(target.port)"
        case .unixHTTP(let path): return path
        case .acceptQueue(let socket): return "held \(socket.fd)"
        case .exec, .log: return nil
        }
    }

    /// Whether the probe engine attempts it (a connection) rather than a command or the output.
    var isSocket: Bool {
        switch self {
        case .tcp, .http, .unixHTTP, .acceptQueue: return true
        case .exec, .log: return false
        }
    }

    /// Runs one `exec` attempt on a Dispatch thread (the command is waited for with blocking calls), giving up
    /// at `deadline`. Exec probes are rare and each runs a program, so a thread hop per attempt is no cost.
    func attempt(until deadline: ContinuousClock.Instant) async -> ProbeResult {
        guard case .exec(let request, let runner) = self else {
            return .failed("only an exec probe is attempted on its own thread")
        }
        return await withCheckedContinuation { done in
            DispatchQueue.global().async {
                let run = BoundedCommand.run(request, runner: runner, until: deadline)
                guard let status = run.status else {
                    return done.resume(returning: .failed("did not finish within the probe's period"))
                }
                guard status != .exited(0) else { return done.resume(returning: .passed) }
                let said = run.lastLine.map { ": \($0)" } ?? ""
                done.resume(returning: .failed("\(status)\(said)"))
            }
        }
    }
}

/// Why a connection could not be made.
struct ProbeFailure: Error {
    var message: String
}
