import Yams

/// A YAML scalar as superwatch reads it: typed by its tag as YAML 1.1 (and Yams) resolve it, so that
/// `command: true` is a boolean, `version: '1'` a string and `replicas: 0x10` the number 16, exactly as the
/// JSON an editor validates against `schema/superwatch.schema.json` would have them.
///
/// A value may carry one of YAML's core tags (`!!str`, `!!int`, `!!float`, `!!bool`, `!!null`, and `!!map`
/// and `!!seq` on collections); any other tag (`!!binary`, `!!python/object`, `!custom`) is refused rather than
/// ignored, because superwatch would otherwise read something other than what the author meant.
public enum YAMLScalar: Sendable, Equatable {
    case string(String)
    case integer(Int)
    /// An integer written with more digits than `Int` holds; only its sign is kept.
    case hugeInteger(negative: Bool)
    case float(Double)
    case bool(Bool)
    case null

    /// The core tags, with the short form messages show.
    static let coreTags: [String: String] = [
        Tag.Name.str.rawValue: "!!str", Tag.Name.int.rawValue: "!!int", Tag.Name.float.rawValue: "!!float",
        Tag.Name.bool.rawValue: "!!bool", Tag.Name.null.rawValue: "!!null", Tag.Name.map.rawValue: "!!map",
        Tag.Name.seq.rawValue: "!!seq",
    ]

    /// `!!binary` for `tag:yaml.org,2002:binary`; any other tag as written.
    static func shortForm(_ tag: String) -> String {
        let prefix = "tag:yaml.org,2002:"
        return tag.hasPrefix(prefix) ? "!!" + tag.dropFirst(prefix.count) : tag
    }

    /// A message for a node whose tag superwatch does not read, or nil when its tag is fine. `collection`:
    /// the tag `!!map` or `!!seq` the node's kind allows.
    static func tagProblem(written: String, collection: Tag.Name?) -> String? {
        guard written != Tag.Name.implicit.rawValue, written != Tag.Name.nonSpecific.rawValue else { return nil }
        guard let short = coreTags[written] else {
            return
                "the YAML tag `\(shown(shortForm(written)))` is not supported; superwatch reads plain strings, numbers, "
                + "booleans, lists and mappings (tags !!str !!int !!float !!bool !!null !!map !!seq): remove the tag"
        }
        if let collection {
            guard written == collection.rawValue else {
                return "the YAML tag `\(short)` does not fit a \(collection == .map ? "mapping" : "list")"
            }
        } else if written == Tag.Name.map.rawValue || written == Tag.Name.seq.rawValue {
            return "the YAML tag `\(short)` does not fit a single value"
        }
        return nil
    }

    /// Types `scalar`; an unsupported tag or a value its explicit tag does not fit throws the message.
    public init(_ scalar: Node.Scalar) throws(YAMLTypeError) {
        // The tag as written; `Node.tag` would resolve it in place and lose the difference between an explicit
        // `!!timestamp` (refused) and a plain date (a string).
        let written = scalar.tag.rawValue
        if let problem = Self.tagProblem(written: written, collection: nil) { throw YAMLTypeError(problem) }
        let text = scalar.string
        let explicit = written != Tag.Name.implicit.rawValue && written != Tag.Name.nonSpecific.rawValue
        let name: String
        switch written {
        case Tag.Name.implicit.rawValue: name = Resolver.default.resolveTag(of: .scalar(scalar)).rawValue
        case Tag.Name.nonSpecific.rawValue: name = Tag.Name.str.rawValue
        default: name = written
        }
        let parsed: YAMLScalar?
        switch name {
        case Tag.Name.int.rawValue: parsed = Self.integer(text)
        case Tag.Name.float.rawValue: parsed = Self.float(text).map(YAMLScalar.float)
        case Tag.Name.bool.rawValue: parsed = Self.bool(text).map(YAMLScalar.bool)
        case Tag.Name.null.rawValue: parsed = ["", "~", "null", "Null", "NULL"].contains(text) ? .null : nil
        // A plain date, `<<` or `=` in a value's place is text (JSON has no other type for them).
        default: parsed = .string(text)
        }
        guard let parsed else {
            if explicit {
                throw YAMLTypeError(
                    "`\(shown(text))` is not a valid \(Self.shortForm(name)) value; fix it or remove the tag")
            }
            // What the resolver took for a number but is not one (`0b_`) stays text.
            self = .string(text)
            return
        }
        self = parsed
    }

    /// How a message names this value: `the number 42`, `the boolean true`, `nothing (null)`.
    func describe(_ text: String) -> String {
        switch self {
        case .string: return "the string `\(shown(text))`"
        case .integer, .hugeInteger, .float: return "the number `\(shown(text))`"
        case .bool: return "the boolean `\(shown(text))`"
        case .null: return "nothing (null)"
        }
    }

    /// YAML 1.1 integers: decimal, `0x`, `0o`, `0b`, a leading-0 octal and base 60 (`1:30` is 90), with `_`
    /// separators and a sign. Never traps: too many digits is `hugeInteger` (Yams itself would overflow on a
    /// long base-60 value, which is why this does not call it).
    static func integer(_ text: String) -> YAMLScalar? {
        var body = Substring(text.replacingOccurrences(of: "_", with: ""))
        var negative = false
        if let sign = body.first, sign == "-" || sign == "+" {
            negative = sign == "-"
            body.removeFirst()
        }
        if body == "0" { return .integer(0) }
        for (prefix, radix) in [("0x", 16), ("0b", 2), ("0o", 8), ("0", 8)] where body.hasPrefix(prefix) {
            return integer(digits: body.dropFirst(prefix.count), radix: radix, negative: negative)
        }
        if body.contains(":") {
            var value = 0
            for component in body.split(separator: ":", omittingEmptySubsequences: false) {
                guard case .integer(let part)? = integer(digits: component, radix: 10, negative: false) else {
                    return component.isEmpty || !component.allSatisfy(\.isASCIIDigit)
                        ? nil : .hugeInteger(negative: negative)
                }
                let (shifted, overflow) = value.multipliedReportingOverflow(by: 60)
                let (sum, carry) = shifted.addingReportingOverflow(part)
                if overflow || carry { return .hugeInteger(negative: negative) }
                value = sum
            }
            return .integer(negative ? -value : value)
        }
        return integer(digits: body, radix: 10, negative: negative)
    }

    private static func integer(digits: Substring, radix: Int, negative: Bool) -> YAMLScalar? {
        guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && ($0.hexDigitValue ?? radix) < radix }) else {
            return nil
        }
        if let value = Int((negative ? "-" : "") + digits, radix: radix) { return .integer(value) }
        return .hugeInteger(negative: negative)
    }

    /// YAML 1.1 floats as Yams reads them: `.inf`, `-.inf`, `.nan`, base 60 and `_` separators.
    static func float(_ text: String) -> Double? {
        switch text.lowercased() {
        case ".inf", "+.inf": return .infinity
        case "-.inf": return -.infinity
        case ".nan": return .nan
        default: break
        }
        let body = text.replacingOccurrences(of: "_", with: "")
        guard body.contains(":") else { return Double(body) }
        var rest = Substring(body)
        let negative = rest.first == "-"
        if rest.first == "-" || rest.first == "+" { rest.removeFirst() }
        var value = 0.0
        for component in rest.split(separator: ":", omittingEmptySubsequences: false) {
            guard let part = Double(component) else { return nil }
            value = value * 60 + part
        }
        return negative ? -value : value
    }

    static func bool(_ text: String) -> Bool? {
        switch text.lowercased() {
        case "true", "yes", "on": return true
        case "false", "no", "off": return false
        default: return nil
        }
    }
}

/// Why a YAML node cannot be read as superwatch reads it (the caller adds the position).
public struct YAMLTypeError: Error, Sendable, Equatable {
    public var message: String
    init(_ message: String) { self.message = message }
}

extension Character {
    var isASCIIDigit: Bool { isASCII && isNumber }
}
