import SuperwatchCore
import Yams

/// Builds the JSON Schema pattern for a duration of at most `maximumMilliseconds` in the loader's syntax:
/// `[ \t]*` NUMBER UNIT `[ \t]*`, NUMBER decimal digits with an optional fraction, UNIT ms, s (or none), m or h.
enum DurationPattern {
    static func pattern(maximumMilliseconds limit: Int) -> String {
        let units: [(suffix: String, milliseconds: Int)] = [("ms", 1), ("s?", 1000), ("m", 60_000), ("h", 3_600_000)]
        let alternatives = units.map { "(?:\(number(atMost: limit, unit: $0.milliseconds)))\($0.suffix)" }
        return "^[ \\t]*(?:\(alternatives.joined(separator: "|")))[ \\t]*$"
    }

    /// Decimal numbers (`12`, `012.5`, `.5`, `3.`) whose value times `unit` is at most `limit`.
    static func number(atMost limit: Int, unit: Int) -> String {
        let (quotient, remainder) = limit.quotientAndRemainder(dividingBy: unit)
        var forms: [String] = []
        if quotient > 0 {
            forms.append("0*\(integer(atMost: quotient - 1))(?:\\.[0-9]*)?")
            forms.append("\\.[0-9]+")
        }
        let fraction = fractionDigits(atMost: remainder, over: unit)
        forms.append("0*\(quotient)(?:\\.\(fraction))?")
        // `.5`: the fraction alone, which then needs a digit (a lone `.` is no number).
        if quotient == 0 { forms.append("\\.(?=[0-9])\(fraction)") }
        return forms.joined(separator: "|")
    }

    /// `atom` `count` times: `[0-9]{3}` for 3, `[0-9]` for 1, nothing for 0.
    static func repeated(_ atom: String, _ count: Int) -> String {
        count == 0 ? "" : (count == 1 ? atom : "\(atom){\(count)}")
    }

    /// Integers 0...n written without leading zeros.
    static func integer(atMost n: Int) -> String {
        let digits = Array(String(n)).map { Int(String($0))! }
        if digits.count == 1 { return n == 0 ? "0" : "[0-\(n)]" }
        var forms: [String] = ["[0-9]"]
        for length in 2..<digits.count { forms.append("[1-9]" + repeated("[0-9]", length - 1)) }
        // Numbers as long as n: a smaller digit somewhere, the same digits before it.
        for position in 0..<digits.count {
            let low = position == 0 ? 1 : 0
            let digit = digits[position]
            guard digit > low else { continue }
            let prefix = digits[..<position].map(String.init).joined()
            let rest = digits.count - position - 1
            let range = digit - 1 == low ? "\(low)" : "[\(low)-\(digit - 1)]"
            forms.append(prefix + range + repeated("[0-9]", rest))
        }
        forms.append(String(n))
        return "(?:\(forms.joined(separator: "|")))"
    }

    /// Fraction digit strings d (possibly empty) with 0.d ≤ remainder / unit.
    static func fractionDigits(atMost remainder: Int, over unit: Int) -> String {
        var expected: [Int] = []
        var seen: [Int: Int] = [:]
        var rest = remainder
        var cycleStart: Int?
        while rest != 0 {
            if let start = seen[rest] {
                cycleStart = start
                break
            }
            seen[rest] = expected.count
            expected.append(rest * 10 / unit)
            rest = rest * 10 % unit
        }
        func below(_ digit: Int) -> String? {
            digit == 0 ? nil : (digit == 1 ? "0" : "[0-\(digit - 1)]")
        }
        // From the end: what may follow once the digits so far equal the expansion.
        var tail: String
        let linearEnd: Int
        if let cycleStart {
            let cycle = expected[cycleStart...]
            let block = cycle.map(String.init).joined()
            var exits: [String] = []
            for (offset, digit) in cycle.enumerated() {
                let prefix = cycle.prefix(offset).map(String.init).joined()
                exits.append(prefix + (below(digit).map { "(?:\($0)[0-9]*)?" } ?? ""))
            }
            let loop = cycle.count == 1 ? "\(block)*" : "(?:\(block))*"
            tail = loop + (exits.count == 1 ? exits[0] : "(?:\(exits.joined(separator: "|")))")
            linearEnd = cycleStart
        } else {
            tail = "0*"
            linearEnd = expected.count
        }
        for digit in expected[..<linearEnd].reversed() {
            var options = ["\(digit)\(tail)"]
            if let lower = below(digit) { options.insert("\(lower)[0-9]*", at: 0) }
            tail = "(?:\(options.joined(separator: "|")))?"
        }
        return tail
    }
}

/// The JSON an editor validates for a YAML config: each scalar typed as superwatch types it (`YAMLScalar`),
/// merge keys applied, mapping keys by their text. An integer too large for `Int` is written as one with 40
/// digits (Python reads it exactly); `.nan`, `.inf`, aliases and complex keys have no JSON form.
enum SchemaView {
    struct Unrepresentable: Error {}

    static func json(_ node: Node) throws -> String {
        switch node {
        case .scalar(let scalar):
            switch try YAMLScalar(scalar) {
            case .string(let text): return quoted(text)
            case .integer(let value): return String(value)
            case .hugeInteger(let negative): return (negative ? "-" : "") + "1" + String(repeating: "0", count: 39)
            case .float(let value):
                // JSON has neither; a document with them is not JSON, so no schema can accept it.
                guard value.isFinite else { throw Unrepresentable() }
                return "\(value)"
            case .bool(let value): return value ? "true" : "false"
            case .null: return "null"
            }
        case .mapping(let mapping):
            guard ["", "!", Tag.Name.map.rawValue].contains(mapping.tag.rawValue) else { throw Unrepresentable() }
            var members: [(String, String)] = []
            for (key, value) in try pairs(mapping) { members.append((key, try json(value))) }
            return "{" + members.map { "\(quoted($0.0)): \($0.1)" }.joined(separator: ", ") + "}"
        case .sequence(let sequence):
            guard ["", "!", Tag.Name.seq.rawValue].contains(sequence.tag.rawValue) else { throw Unrepresentable() }
            return "[" + (try sequence.map(json)).joined(separator: ", ") + "]"
        case .alias:
            throw Unrepresentable()
        }
    }

    /// Keys written in the mapping win over merged ones, an earlier merged mapping over a later one.
    static func pairs(_ mapping: Node.Mapping) throws -> [(String, Node)] {
        var written: [(String, Node)] = []
        var merged: [(String, Node)] = []
        for (key, value) in mapping {
            guard case .scalar(let scalar) = key else { throw Unrepresentable() }
            if scalar.string == "<<" && key.tag.rawValue == Tag.Name.merge.rawValue {
                let sources: [Node]
                switch value {
                case .mapping: sources = [value]
                case .sequence(let sequence): sources = Array(sequence)
                default: throw Unrepresentable()
                }
                for source in sources {
                    guard case .mapping(let inner) = source else { throw Unrepresentable() }
                    merged += try pairs(inner)
                }
            } else {
                _ = try YAMLScalar(scalar)
                written.append((scalar.string, value))
            }
        }
        var seen = Set(written.map(\.0))
        return written + merged.filter { seen.insert($0.0).inserted }
    }

    static func quoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case _ where scalar.value < 0x20:
                out +=
                    "\\u" + String(repeating: "0", count: 4 - String(scalar.value, radix: 16).count)
                    + String(scalar.value, radix: 16)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
