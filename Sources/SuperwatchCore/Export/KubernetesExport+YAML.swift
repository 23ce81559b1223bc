/// The manifests' YAML: a small value type and a block-style writer of our own rather than a general emitter,
/// so that the output is byte for byte the same on every run (keys in the order the exporter builds them) and
/// every string reads back as the same string under YAML 1.1 (kubectl's and many tools' reader) and YAML 1.2.
extension KubernetesExport {
    /// One value of a manifest.
    indirect enum Value: Sendable, Equatable {
        case string(String)
        case integer(Int)
        case boolean(Bool)
        case list([Value])
        /// Keys in the order they are written.
        case map([Entry])
    }

    /// One key of a `Value.map`.
    struct Entry: Sendable, Equatable {
        var key: String
        var value: Value

        init(_ key: String, _ value: Value) {
            self.key = key
            self.value = value
        }
    }

    /// `value` as the lines of one YAML document (no `---`), each ending in a newline.
    static func yaml(_ value: Value) -> String {
        var lines: [String] = []
        write(value, indent: "", into: &lines)
        return lines.map { $0 + "\n" }.joined()
    }

    /// Appends `value` (a map or list: one line per entry; a scalar: one line) at `indent`.
    private static func write(_ value: Value, indent: String, into lines: inout [String]) {
        switch value {
        case .map(let entries) where !entries.isEmpty:
            for entry in entries { writeEntry(entry, indent: indent, into: &lines) }
        case .list(let items) where !items.isEmpty:
            for item in items { writeItem(item, indent: indent, into: &lines) }
        default:
            lines.append(indent + inline(value))
        }
    }

    private static func writeEntry(_ entry: Entry, indent: String, into lines: inout [String]) {
        let key = indent + scalar(entry.key) + ":"
        if isBlock(entry.value) {
            lines.append(key)
            write(entry.value, indent: indent + "  ", into: &lines)
        } else {
            lines.append(key + " " + inline(entry.value))
        }
    }

    /// A list item: a map's first key goes on the `- ` line and its others line up under it.
    private static func writeItem(_ item: Value, indent: String, into lines: inout [String]) {
        guard isBlock(item) else {
            lines.append(indent + "- " + inline(item))
            return
        }
        var nested: [String] = []
        write(item, indent: indent + "  ", into: &nested)
        nested[0] = indent + "- " + nested[0].dropFirst(indent.count + 2)
        lines += nested
    }

    /// A map or list with something in it, written over several lines.
    private static func isBlock(_ value: Value) -> Bool {
        switch value {
        case .map(let entries): return !entries.isEmpty
        case .list(let items): return !items.isEmpty
        default: return false
        }
    }

    /// A scalar, `{}` or `[]`.
    private static func inline(_ value: Value) -> String {
        switch value {
        case .string(let text): return scalar(text)
        case .integer(let number): return String(number)
        case .boolean(let flag): return flag ? "true" : "false"
        case .list: return "[]"
        case .map: return "{}"
        }
    }

    /// Words YAML 1.1 reads as booleans or null when they are plain (`on: 1` would be a boolean key).
    private static let reservedWords: Set<String> = ["y", "yes", "n", "no", "true", "false", "on", "off", "null"]

    /// `text` plain when it can only be read back as itself, else double-quoted. Plain means: a letter, `/` or `_`
    /// first (so never a number, octal `0755`, a time `1:30`, `.inf` or an indicator), then only letters, digits
    /// and `_ . / - :` (`:` not last, so never a key: `registry.example/app:1.2`), and not a YAML 1.1 boolean or
    /// null word in any case.
    static func scalar(_ text: String) -> String {
        let plain =
            text.unicodeScalars.first.map { isLetter($0) || $0 == "/" || $0 == "_" } == true
            && text.unicodeScalars.allSatisfy {
                isLetter($0) || ("0"..."9").contains($0) || "_./-:".unicodeScalars.contains($0)
            }
            && text.last != ":" && !reservedWords.contains(text.lowercased())
        return plain ? text : doubleQuoted(text)
    }

    private static func isLetter(_ scalar: Unicode.Scalar) -> Bool {
        ("a"..."z").contains(scalar) || ("A"..."Z").contains(scalar)
    }

    /// `text` in double quotes, with `\` escapes for `\`, `"`, every control character and the characters YAML
    /// treats as line breaks (so that one string is always one line).
    static func doubleQuoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "\r": out += "\\r"
            case "\u{85}": out += "\\N"
            case "\u{2028}": out += "\\L"
            case "\u{2029}": out += "\\P"
            case "\u{FEFF}": out += "\\uFEFF"
            default:
                if scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value) {
                    let hex = String(scalar.value, radix: 16, uppercase: true)
                    out += "\\x" + (hex.count == 1 ? "0" : "") + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }

    /// `text` as `#` comment lines, control characters escaped so that none can end the comment early.
    static func comment(_ text: String) -> String {
        "# " + escapingControlCharacters(text) + "\n"
    }
}
