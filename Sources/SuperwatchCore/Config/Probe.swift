/// What a readiness (`ready:`) or liveness (`health:`) probe checks. One attempt passes or fails; the
/// supervisor decides what a pass or a run of failures means (`ProbeSchedule`).
public enum Probe: Sendable, Equatable, CustomStringConvertible {
    /// A TCP connection to `host:port` is accepted.
    case tcp(host: String, port: UInt16)
    /// A GET of the URL answers with a 2xx or 3xx status.
    case http(HTTPProbeTarget)
    /// The shell command line exits with 0 (run with `/bin/sh -c` in the process's cwd and environment).
    case exec(String)
    /// A line of the process's output matches this POSIX extended regular expression (readiness only).
    case log(String)
    /// The default for a `listen:` or `werkzeug:` process: it answers on the socket superwatch holds for it.
    /// The kernel completes connections to a held socket by itself, so a connect proves nothing: a
    /// `werkzeug:` app must answer an HTTP request (any status), a `listen:` program must accept the
    /// connection (its socket's accept queue drains). Never written in a config.
    case heldSocket

    /// The probe's kind as the config names it (`heldSocket`: `socket`).
    public var kind: String {
        switch self {
        case .tcp: return "tcp"
        case .http: return "http"
        case .exec: return "exec"
        case .log: return "log"
        case .heldSocket: return "socket"
        }
    }

    public var description: String {
        switch self {
        case .tcp(let host, let port): return "tcp \(host.contains(":") ? "[\(host)]" : host):\(port)"
        case .http(let target): return "http \(target.url)"
        case .exec(let command): return "exec \(command)"
        case .log(let pattern): return "log \(pattern)"
        case .heldSocket: return "its socket"
        }
    }

    /// The keys of a `ready:` mapping, and of a `health:` mapping besides `period` and `failures`.
    public static let kinds = ["tcp", "http", "exec", "log"]
}

/// An `http:` probe's URL, taken apart: only plain `http://` on a host and port (a local dev server).
public struct HTTPProbeTarget: Sendable, Equatable {
    /// As written.
    public var url: String
    /// A name or an IP literal (IPv6 without its brackets).
    public var host: String
    public var port: UInt16
    /// The path and query to request, at least `/`.
    public var path: String

    public init(url: String, host: String, port: UInt16, path: String) {
        self.url = url
        self.host = host
        self.port = port
        self.path = path
    }

    /// Parses `http://HOST[:PORT][/PATH]`; the reason when it is not that.
    public static func parse(_ url: String) -> Result<HTTPProbeTarget, ProbeSyntaxError> {
        if url.lowercased().hasPrefix("https://") {
            return .failure(ProbeSyntaxError("https is not supported; probe the server over plain http://"))
        }
        guard url.lowercased().hasPrefix("http://") else {
            return .failure(ProbeSyntaxError("`\(url)` is not an http:// URL; write e.g. http://127.0.0.1:8000/health"))
        }
        let rest = url.dropFirst("http://".count)
        let authority = rest.prefix { $0 != "/" && $0 != "?" }
        var path = String(rest.dropFirst(authority.count))
        if path.isEmpty { path = "/" } else if path.hasPrefix("?") { path = "/" + path }
        guard !path.unicodeScalars.contains(where: { $0.value <= 0x20 || $0 == "#" }) else {
            return .failure(ProbeSyntaxError("the URL's path must not contain spaces, control characters or `#`"))
        }
        guard !authority.contains("@") else {
            return .failure(ProbeSyntaxError("user names and passwords in the URL are not supported"))
        }
        let host: Substring
        var portText: Substring?
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else {
                return .failure(ProbeSyntaxError("write an IPv6 host as [::1]"))
            }
            host = authority[authority.index(after: authority.startIndex)..<close]
            let after = authority[authority.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else {
                    return .failure(ProbeSyntaxError("write an IPv6 host as [::1]:PORT"))
                }
                portText = after.dropFirst()
            }
        } else if let colon = authority.lastIndex(of: ":") {
            host = authority[..<colon]
            portText = authority[authority.index(after: colon)...]
        } else {
            host = authority
        }
        let bracketed = authority.hasPrefix("[")
        guard !host.isEmpty,
            host.unicodeScalars.allSatisfy({
                bracketed ? $0.properties.isASCIIHexDigit || $0 == ":" || $0 == "." : ListenAddress.isHostNameScalar($0)
            })
        else {
            return .failure(ProbeSyntaxError("the URL needs a host, such as http://127.0.0.1:8000/"))
        }
        var port: UInt16 = 80
        if let portText {
            guard let number = ListenAddress.port(String(portText)), number > 0 else {
                return .failure(ProbeSyntaxError("the URL's port must be a number from 1 to 65535"))
            }
            port = number
        }
        return .success(HTTPProbeTarget(url: url, host: String(host), port: port, path: path))
    }
}

/// Why a probe's address or URL was refused.
public struct ProbeSyntaxError: Error, Sendable, Equatable {
    public var message: String
    public init(_ message: String) { self.message = message }
}

/// `health:`: a liveness probe. After `failures` failed attempts in a row the process is restarted; an attempt
/// starts every `period` and gives up after `period`, so attempts never overlap.
public struct HealthCheck: Sendable, Equatable {
    public var probe: Probe
    public var period: Duration
    public var failures: Int

    public static let defaultPeriod: Duration = .seconds(5)
    public static let defaultFailures = 3
    /// The bounds of `failures`.
    public static let failuresRange = 1...1000

    public init(probe: Probe, period: Duration = defaultPeriod, failures: Int = defaultFailures) {
        self.probe = probe
        self.period = period
        self.failures = failures
    }
}

/// What a dependent needs of a process it `depends_on`.
public enum DependencyCondition: String, Sendable, Equatable, CaseIterable {
    /// Its run has started (or it ran and exited with 0).
    case started
    /// Its readiness probe passed.
    case ready
    /// It exited with 0 (a one-off step such as a migration).
    case completed
}

/// One entry of `depends_on`.
public struct Dependency: Sendable, Equatable {
    /// The process depended on, as the config names it (all its replicas, if it has several).
    public var name: String
    /// The short form (a name in a list) is resolved when the config is loaded: `ready` when the process has a
    /// readiness probe (its own or the default of a `listen:`/`werkzeug:` process), else `started`.
    public var condition: DependencyCondition
    /// Where the entry is written, for errors such as a cycle.
    public var location: SourceLocation?
    /// Written as a bare name: the loader fills in `condition` once it knows every process.
    var isShortForm = false

    public init(_ name: String, _ condition: DependencyCondition, at location: SourceLocation? = nil) {
        self.name = name
        self.condition = condition
        self.location = location
    }
}

extension ProcessSpec {
    /// `ready_timeout` when the config does not set it.
    public static let defaultReadyTimeout: Duration = .seconds(60)
    /// `ready_period` when the config does not set it.
    public static let defaultReadyPeriod: Duration = .milliseconds(250)

    /// The readiness probe that applies: `ready:` when written, else the held-socket probe of a `werkzeug:`
    /// process or of a process that listens on TCP, else none (the process counts as ready once started).
    /// A program that only listens on a Unix socket gets none: superwatch cannot see its accept queue.
    public var readiness: Probe? {
        if let ready { return ready }
        if werkzeug != nil { return .heldSocket }
        if listen.contains(where: { if case .tcp = $0.address { return true } else { return false } }) {
            return .heldSocket
        }
        return nil
    }
}
