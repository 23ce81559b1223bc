/// One word of a shell command line, in both directions: `check` prints env values quoted so they can be read
/// (and pasted) exactly, and completion reads the `-f FILE` the user typed back from its quoted form.
public enum ShellWord {
    /// `value` as one word that bash, zsh and ksh read back unchanged: bare when it has only characters no
    /// shell treats specially; in single quotes otherwise; and as `$'…'` with C escapes when it holds a control
    /// character (a newline, a tab, ESC), so that a multi-line value stays on one line and shows its newlines.
    public static func quote(_ value: String) -> String {
        if value.isEmpty { return "''" }
        if value.unicodeScalars.allSatisfy(isBare) { return value }
        if !value.unicodeScalars.contains(where: isControl) {
            return "'" + value.replacingAll("'", with: #"'\''"#) + "'"
        }
        var out = "$'"
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\n": out += #"\n"#
            case "\t": out += #"\t"#
            case "\r": out += #"\r"#
            case "\\": out += #"\\"#
            case "'": out += #"\'"#
            case _ where isControl(scalar):
                let hex = String(scalar.value, radix: 16)
                out += #"\x"# + (hex.count == 1 ? "0" + hex : hex)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "'"
    }

    /// What the shell passes to a program for `word` as typed: quotes removed, backslash escapes resolved,
    /// `$'…'` decoded and a leading `~` (alone or before `/`) replaced by `home`. Variables and commands are not
    /// expanded: completion must never run anything. An unterminated quote (the user is still typing) ends
    /// at the end of the word.
    public static func unquote(_ word: String, home: String?) -> String {
        var scalars = Array(word.unicodeScalars)[...]
        var out = String.UnicodeScalarView()
        if let home, scalars.first == "~", scalars.count == 1 || scalars[scalars.startIndex + 1] == "/" {
            out.append(contentsOf: home.unicodeScalars)
            scalars = scalars.dropFirst()
        }
        while let scalar = scalars.popFirst() {
            switch scalar {
            case "\\":
                // A backslash-newline is a line continuation: both go.
                if let next = scalars.popFirst(), next != "\n" { out.append(next) }
            case "'":
                while let inner = scalars.popFirst(), inner != "'" { out.append(inner) }
            case "\"":
                while let inner = scalars.popFirst(), inner != "\"" {
                    if inner == "\\", let next = scalars.first, "$`\"\\\n".unicodeScalars.contains(next) {
                        scalars = scalars.dropFirst()
                        if next != "\n" { out.append(next) }
                    } else {
                        out.append(inner)
                    }
                }
            case "$" where scalars.first == "'":
                scalars = scalars.dropFirst()
                decodeANSIC(&scalars, into: &out)
            default:
                out.append(scalar)
            }
        }
        return String(out)
    }

    /// Reads the body of a `$'…'` word up to its closing quote, resolving C escapes.
    private static func decodeANSIC(
        _ scalars: inout ArraySlice<Unicode.Scalar>, into out: inout String.UnicodeScalarView
    ) {
        while let scalar = scalars.popFirst(), scalar != "'" {
            guard scalar == "\\", let escaped = scalars.popFirst() else {
                out.append(scalar)
                continue
            }
            switch escaped {
            case "n": out.append("\n")
            case "t": out.append("\t")
            case "r": out.append("\r")
            case "e", "E": out.append("\u{1B}")
            case "a": out.append("\u{07}")
            case "b": out.append("\u{08}")
            case "f": out.append("\u{0C}")
            case "v": out.append("\u{0B}")
            case "x":
                var digits = ""
                while digits.count < 2, let next = scalars.first, next.properties.isASCIIHexDigit {
                    digits.unicodeScalars.append(next)
                    scalars = scalars.dropFirst()
                }
                if let value = UInt32(digits, radix: 16), let decoded = Unicode.Scalar(value) {
                    out.append(decoded)
                } else {
                    out.append(contentsOf: #"\x"#.unicodeScalars)
                }
            case "\\", "'", "\"", "?": out.append(escaped)
            default:
                out.append("\\")
                out.append(escaped)
            }
        }
    }

    /// Characters that mean nothing special to a shell anywhere in a word.
    private static func isBare(_ scalar: Unicode.Scalar) -> Bool {
        scalar.isASCII
            && (scalar.properties.isAlphabetic || ("0"..."9").contains(scalar)
                || "_@%+=:,./-".unicodeScalars.contains(scalar))
    }

    private static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value < 0x20 || scalar.value == 0x7F
    }
}
