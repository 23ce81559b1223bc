#if canImport(Glibc)
    import Glibc
#endif

/// A `log:` probe's POSIX extended regular expression, compiled once. regexec only reads the compiled
/// pattern, so one value may be matched from any thread; the pattern is freed with the last reference.
final class LogPattern: @unchecked Sendable {
    private var compiled = regex_t()
    /// The expression as written, for messages.
    let source: String

    /// Compiles `pattern`; the C library's reason when it is not a valid extended regular expression.
    init(_ pattern: String) throws(ProbeSyntaxError) {
        source = pattern
        let status = regcomp(&compiled, pattern, REG_EXTENDED | REG_NOSUB)
        guard status == 0 else {
            var buffer = [CChar](repeating: 0, count: 256)
            regerror(status, &compiled, &buffer, buffer.count)
            regfree(&compiled)
            throw ProbeSyntaxError(
                String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
    }

    deinit { regfree(&compiled) }

    /// Whether `line` contains a match. A `tty: true` process's records keep its colour (SGR), which the
    /// pattern is not written against (`^Listening` must match a green "Listening"): it is matched without.
    func matches(_ line: String) -> Bool {
        guard line.utf8.contains(0x1B) else { return regexec(&compiled, line, 0, nil, 0) == 0 }
        var plain: [UInt8] = []
        Array(line.utf8).withUnsafeBytes { TerminalFilter.appendWithoutColour($0, into: &plain) }
        return regexec(&compiled, String(decoding: plain, as: UTF8.self), 0, nil, 0) == 0
    }
}
