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
    /// The last event of a follow stream that the stack's end finished while its reader was behind
    /// (`event: lost`): how many records the reader never got, and whether the end cut it short (`cut`: what was
    /// still queued when it ran out of time to catch up) rather than only records dropped while it read slowly.
    public struct FollowLost: Codable, Sendable, Equatable {
        public var records: Int
        public var cut: Bool

        public init(records: Int, cut: Bool) {
            self.records = records
            self.cut = cut
        }
    }

    /// How long a follower has, once the stack has ended, to read what is queued for it before the rest is
    /// dropped and its stream ends with `FollowLost`: less than the server's shutdown grace, so that the last
    /// event still has time to go out.
    public static let followCatchUp = Duration.seconds(3)

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
    /// The largest `limit` of `GET /v1/logs/follow`.
    public static let maximumFollowLimit = 1_000_000_000
    /// The largest `timeout` of `GET /v1/logs/follow`, in seconds: a day.
    public static let maximumFollowTimeout: Double = 86_400
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
        // `timestamp`'s own form, read directly: a follower decodes one per line, and a formatter per call
        // cost more than the rest of the decoding.
        if let date = UTCTimestamps.parse(text) { return date }
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

/// `ControlAPI.timestamp` for many times in a row, written as bytes (the follow stream writes one per record):
/// the date and time of day are worked out once per second, not per record.
struct UTCTimestamps {
    private var second = Int64.min
    /// `2026-11-29T13:05:01` of `second`.
    private var prefix: [UInt8] = []

    /// Appends `date` as `2026-11-29T13:05:01.123Z`, with the milliseconds rounded down.
    mutating func append(_ date: Date, into out: inout [UInt8]) {
        let milliseconds = Int64((date.timeIntervalSince1970 * 1000).rounded(.down))
        let seconds = milliseconds.quotientRoundingDown(1000)
        if seconds != second {
            var time = time_t(seconds)
            var parts = tm()
            gmtime_r(&time, &parts)
            prefix.removeAll(keepingCapacity: true)
            Self.digits(Int(parts.tm_year) + 1900, 4, &prefix)
            prefix.append(0x2D)
            Self.digits(Int(parts.tm_mon) + 1, 2, &prefix)
            prefix.append(0x2D)
            Self.digits(Int(parts.tm_mday), 2, &prefix)
            prefix.append(0x54)
            Self.digits(Int(parts.tm_hour), 2, &prefix)
            prefix.append(0x3A)
            Self.digits(Int(parts.tm_min), 2, &prefix)
            prefix.append(0x3A)
            Self.digits(Int(parts.tm_sec), 2, &prefix)
            second = seconds
        }
        out.append(contentsOf: prefix)
        out.append(0x2E)
        Self.digits(Int(milliseconds - seconds * 1000), 3, &out)
        out.append(0x5A)
    }

    /// `value` (not negative) in `width` decimal digits, zero-padded (a wider value keeps all its digits).
    private static func digits(_ value: Int, _ width: Int, _ out: inout [UInt8]) {
        var divisor = 1
        for _ in 1..<width { divisor *= 10 }
        while value / divisor >= 10 { divisor *= 10 }
        while divisor > 0 {
            out.append(0x30 + UInt8(value / divisor % 10))
            divisor /= 10
        }
    }

    /// `2026-11-29T13:05:01.123Z` or `2026-11-29T13:05:01Z` exactly (what `timestamp` writes), else nil.
    static func parse(_ text: String) -> Date? {
        let bytes = Array(text.utf8)
        guard bytes.count == 20 || bytes.count == 24, bytes.last == 0x5A else { return nil }
        func number(_ from: Int, _ count: Int) -> Int? {
            var value = 0
            for byte in bytes[from..<(from + count)] {
                guard (0x30...0x39).contains(byte) else { return nil }
                value = value * 10 + Int(byte - 0x30)
            }
            return value
        }
        let separators: [(Int, UInt8)] = [(4, 0x2D), (7, 0x2D), (10, 0x54), (13, 0x3A), (16, 0x3A)]
        guard separators.allSatisfy({ bytes[$0.0] == $0.1 }),
            let year = number(0, 4), let month = number(5, 2), let day = number(8, 2), let hour = number(11, 2),
            let minute = number(14, 2), let second = number(17, 2), (1...12).contains(month), (1...31).contains(day),
            hour < 24, minute < 60, second < 60
        else { return nil }
        var milliseconds = 0
        if bytes.count == 24 {
            guard bytes[19] == 0x2E, let value = number(20, 3) else { return nil }
            milliseconds = value
        }
        var parts = tm()
        parts.tm_year = Int32(year - 1900)
        parts.tm_mon = Int32(month - 1)
        parts.tm_mday = Int32(day)
        parts.tm_hour = Int32(hour)
        parts.tm_min = Int32(minute)
        parts.tm_sec = Int32(second)
        let seconds = timegm(&parts)
        // A day the month does not have (`02-30`) would roll over into the next: not this form, then.
        guard parts.tm_mday == Int32(day) else { return nil }
        return Date(timeIntervalSince1970: Double(seconds) + Double(milliseconds) / 1000)
    }
}

extension LogRecord {
    /// The record as the API's JSON, as `ControlAPI.encoder()` writes it (sorted snake_case keys, the time in
    /// milliseconds), appended to `out` without a `Codable` encoder: the follow stream writes one per line read,
    /// and an encoder per record cost more than `up`'s whole handling of the line.
    func appendJSON(into out: inout [UInt8], times: inout UTCTimestamps) {
        out.append(0x7B)
        if let kind {
            out.append(contentsOf: #""kind":"#.utf8)
            appendJSONString(kind, into: &out)
            out.append(0x2C)
        }
        out.append(contentsOf: #""process":"#.utf8)
        appendJSONString(process, into: &out)
        out.append(contentsOf: #","stream":""#.utf8)
        out.append(contentsOf: stream.rawValue.utf8)
        out.append(contentsOf: #"","text":"#.utf8)
        appendJSONString(text, into: &out)
        out.append(contentsOf: #","time":""#.utf8)
        times.append(time, into: &out)
        out.append(contentsOf: #""}"#.utf8)
    }
}
