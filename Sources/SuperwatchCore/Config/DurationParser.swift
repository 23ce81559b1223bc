/// The config keys that take a duration, each with the longest value it accepts. Every maximum is far above
/// any useful setting and far below what superwatch's arithmetic on it (timers, poll deadlines, the keeper's
/// milliseconds in an `Int32`) could overflow, so nothing `check` accepts can trap later.
public enum DurationKey: String, Sendable, CaseIterable {
    case backoff
    case stopTimeout = "stop_timeout"
    case interval
    case debounce
    case readyTimeout = "ready_timeout"
    /// `ready_period`, and a `health:` probe's `period`.
    case readyPeriod = "ready_period"

    public var maximum: Duration {
        switch self {
        // The backoff doubles up to this anyway (RestartTracker.maximumBackoff); a larger start is a mistake.
        case .backoff: return .seconds(30)
        case .stopTimeout: return .seconds(3600)
        case .interval: return .seconds(3600)
        case .debounce: return .seconds(60)
        case .readyTimeout, .readyPeriod: return .seconds(3600)
        }
    }

    /// Whether 0 is refused: a backoff of 0 would spin, a poll interval (or probe period) of 0 would never
    /// sleep, and a ready timeout of 0 would fail every probe before its first attempt.
    public var mustBePositive: Bool {
        self == .backoff || self == .interval || self == .readyTimeout || self == .readyPeriod
    }
}

/// Why a duration was refused.
public enum DurationFailure: Error, Sendable, Equatable {
    /// Not the duration syntax (or negative, or not a number).
    case notADuration
    /// Longer than the key's maximum.
    case tooLong
}

/// Parses the duration syntax of the config file: `250ms`, `1.5s`, `2m`, `1h`, or a bare number of seconds
/// (`interval: 1`, as Werkzeug's reloader spells it), with spaces or tabs around it. The comparison with
/// `maximum` is exact on the decimal digits as written (`30.0001s` is over 30s), and only then is the value
/// rounded to whole milliseconds, a positive value never to 0 (`0.0001s` is 1ms).
public func parseDuration(_ text: String, maximum: Duration) -> Result<Duration, DurationFailure> {
    var bytes = Array(text.utf8)[...]
    while let first = bytes.first, first == UInt8(ascii: " ") || first == UInt8(ascii: "\t") { bytes.removeFirst() }
    while let last = bytes.last, last == UInt8(ascii: " ") || last == UInt8(ascii: "\t") { bytes.removeLast() }
    let units: [(suffix: String, milliseconds: Int64)] = [("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000)]
    var unit: Int64 = 1000
    for candidate in units where bytes.reversed().starts(with: candidate.suffix.utf8.reversed()) {
        bytes.removeLast(candidate.suffix.utf8.count)
        unit = candidate.milliseconds
        break
    }
    let isDigit = { (byte: UInt8) in byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }
    let dot = bytes.firstIndex(of: UInt8(ascii: "."))
    var integer = bytes[..<(dot ?? bytes.endIndex)]
    let fraction = dot.map { bytes[($0 + 1)...] } ?? []
    guard integer.allSatisfy(isDigit), fraction.allSatisfy(isDigit), !integer.isEmpty || !fraction.isEmpty else {
        return .failure(.notADuration)
    }
    while integer.first == UInt8(ascii: "0") { integer.removeFirst() }
    let digit = { (byte: UInt8) in Int64(byte - UInt8(ascii: "0")) }

    // value = integer.fraction × unit ≤ maximum, decided exactly: compare the integer part with
    // maximum / unit, and on a tie the fraction's digits with those of (maximum % unit) / unit.
    let limit = maximum.milliseconds
    let (quotient, remainder) = limit.quotientAndRemainder(dividingBy: unit)
    guard integer.count <= 18 else { return .failure(.tooLong) }
    let whole = integer.reduce(Int64(0)) { $0 * 10 + digit($1) }
    if whole > quotient { return .failure(.tooLong) }
    if whole == quotient {
        var rest = remainder
        for byte in fraction {
            let allowed = rest * 10 / unit
            rest = rest * 10 % unit
            if digit(byte) < allowed { break }
            if digit(byte) > allowed { return .failure(.tooLong) }
        }
    }
    var fractionValue = 0.0
    var scale = 0.1
    for byte in fraction.prefix(18) {
        fractionValue += Double(digit(byte)) * scale
        scale /= 10
    }
    var milliseconds = whole * unit + Int64((fractionValue * Double(unit)).rounded())
    if milliseconds == 0 && fraction.contains(where: { $0 != UInt8(ascii: "0") }) { milliseconds = 1 }
    return .success(.milliseconds(milliseconds))
}

/// A duration given as a YAML number of seconds (`interval: 0.5`, `stop_timeout: 10`).
public func durationFromSeconds(_ seconds: Double, maximum: Duration) -> Result<Duration, DurationFailure> {
    guard !seconds.isNaN, seconds >= 0 else { return .failure(.notADuration) }
    let limit = maximum.milliseconds
    guard seconds <= Double(limit) / 1000 else { return .failure(.tooLong) }
    var milliseconds = Int64((seconds * 1000).rounded())
    if milliseconds == 0 && seconds > 0 { milliseconds = 1 }
    return .success(.milliseconds(milliseconds))
}

/// `parseDuration(_:maximum:)` with a maximum of a year: the syntax alone.
public func parseDuration(_ text: String) -> Duration? {
    try? parseDuration(text, maximum: .seconds(365 * 24 * 3600)).get()
}

extension Duration {
    /// Whole milliseconds, for timers and for the keeper.
    public var milliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }

    /// `250ms`, `1.5s`, `2m`: how superwatch prints a duration back to its user.
    public var humanReadable: String {
        let ms = milliseconds
        if ms < 1000 { return "\(ms)ms" }
        if ms % 3_600_000 == 0 { return "\(ms / 3_600_000)h" }
        if ms % 60_000 == 0 { return "\(ms / 60_000)m" }
        if ms % 1000 == 0 { return "\(ms / 1000)s" }
        return "\(Double(ms) / 1000)s"
    }
}

extension StringProtocol {
    func trimmingWhitespace() -> String {
        var s = Substring(self)
        while let first = s.first, first.isWhitespace { s.removeFirst() }
        while let last = s.last, last.isWhitespace { s.removeLast() }
        return String(s)
    }
}
