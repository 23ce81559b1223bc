/// Parses the duration syntax of the config file: `250ms`, `1.5s`, `2m`, `1h`, or a bare number of seconds
/// (`interval: 1`, as Werkzeug's reloader spells it). Returns nil for anything else, including negatives.
public func parseDuration(_ text: String) -> Duration? {
    let trimmed = text.trimmingWhitespace()
    let units: [(suffix: String, seconds: Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600)]
    var number = Substring(trimmed)
    var scale = 1.0
    for unit in units where trimmed.hasSuffix(unit.suffix) {
        number = trimmed.dropLast(unit.suffix.count)
        scale = unit.seconds
        break
    }
    guard !number.isEmpty, number.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == ".") }),
          let value = Double(number), value.isFinite, value >= 0
    else { return nil }
    return .milliseconds(Int64((value * scale * 1000).rounded()))
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
