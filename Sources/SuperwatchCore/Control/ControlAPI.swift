import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// The bodies of the control API's requests and responses (schema/control-api.yaml), shared by the server and
/// the client so that the two cannot disagree. JSON keys are snake_case and times are UTC with milliseconds
/// (`2026-11-29T13:05:01.123Z`), as in `--log-format json`.
public enum ControlAPI {
    /// `GET /v1/processes`.
    public struct ProcessList: Codable, Sendable, Equatable {
        public var processes: [ProcessStatus]
        public init(processes: [ProcessStatus]) { self.processes = processes }
    }

    /// The body of `POST /v1/{restart,stop,start}`, and the answer of every action: the processes (replicas)
    /// it named or acted on.
    public struct Names: Codable, Sendable, Equatable {
        public var processes: [String]
        public init(processes: [String]) { self.processes = processes }
    }

    /// `GET /v1/logs`.
    public struct Logs: Codable, Sendable, Equatable {
        public var records: [LogRecord]
        public init(records: [LogRecord]) { self.records = records }
    }

    /// `GET /v1/stack`: which `up` answers.
    public struct Stack: Codable, Sendable, Equatable {
        /// The pid of `up`.
        public var pid: Int32
        /// The config's real path.
        public var config: String
        /// The lock `up` holds until it has exited (`superwatch down` waits for it).
        public var lock: String?
        public var version: String

        public init(pid: Int32, config: String, lock: String?, version: String) {
            self.pid = pid
            self.config = config
            self.lock = lock
            self.version = version
        }
    }

    /// Every error: `{"error": {"code": "unknown-process", "message": "…"}}` with a 4xx or 5xx status.
    public struct ErrorBody: Codable, Sendable, Equatable {
        public struct Detail: Codable, Sendable, Equatable {
            public var code: String
            public var message: String
        }
        public var error: Detail

        public init(code: String, message: String) { error = Detail(code: code, message: message) }
    }

    /// The error code of a refused `POST /v1/reload` (status 422): its message is the positioned error
    /// (`FILE:LINE:COL: error: …`), as `up` logged it.
    public static let reloadRefusedCode = "reload-refused"

    /// The `tail` of `GET /v1/logs` when none is given, as `superwatch logs` defaults to.
    public static let defaultTail = 100
    /// The largest `tail`: more than any ring buffer holds (`log_buffer` is at most 1,000,000).
    public static let maximumTail = 1_000_000
    /// The largest request body (a list of names).
    public static let maximumBodyBytes = 64 * 1024

    public static func encoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.withoutEscapingSlashes, .sortedKeys]
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(timestamp(date))
        }
        return encoder
    }

    public static func decoder() -> JSONDecoder {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        decoder.dateDecodingStrategy = .custom { decoder in
            let container = try decoder.singleValueContainer()
            let text = try container.decode(String.self)
            guard let date = date(text) else {
                throw DecodingError.dataCorruptedError(
                    in: container, debugDescription: "`\(text)` is not a time like 2026-11-29T13:05:01.123Z")
            }
            return date
        }
        return decoder
    }

    /// `2026-11-29T13:05:01.123Z`: the `--log-format json` time format.
    public static func timestamp(_ date: Date) -> String {
        let milliseconds = Int64((date.timeIntervalSince1970 * 1000).rounded(.down))
        var seconds = time_t(milliseconds.quotientRoundingDown(1000))
        var parts = tm()
        gmtime_r(&seconds, &parts)
        return String(format2: parts, millis: Int(milliseconds - Int64(seconds) * 1000))
    }

    /// The inverse of `timestamp` (milliseconds optional).
    public static func date(_ text: String) -> Date? {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let date = formatter.date(from: text) { return date }
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.date(from: text)
    }
}

extension Int64 {
    fileprivate func quotientRoundingDown(_ divisor: Int64) -> Int64 {
        let quotient = self / divisor
        return (self % divisor < 0) ? quotient - 1 : quotient
    }
}
