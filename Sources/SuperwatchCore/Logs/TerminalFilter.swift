#if canImport(Glibc)
    import Glibc
#endif

/// Turns what a program writes to a terminal into bytes the line splitter can cut into log lines, for a
/// `tty: true` process's pseudo-terminal.
///
/// A terminal is a screen, the log is a list of lines, and every line of the log carries another process's
/// prefix before it, so only what means something in a line survives:
/// - no carriage return reaches the log: CR LF (the terminal's own translation of `\n`, ONLCR) and CR CR LF
///   become LF, and a bare CR followed by more text (a progress bar redrawing its line) keeps only the last
///   redraw of the line;
/// - colour (SGR, `ESC [ … m`) passes through (to the records and the JSON log; superwatch's text output strips
///   it when it is not coloured, `appendWithoutColour`; `keepsColour: false` strips it here already); a line
///   that ends in colour gets a reset before its newline and the colour again on the next line, so that no
///   colour spills into another process's prefix or line;
/// - every other escape sequence (cursor movement, clearing the screen or the line, titles, modes) and the
///   other control characters are dropped, so that nothing one process writes can move the cursor over another
///   process's lines; a backspace takes back the character before it in the same line (an echoed correction).
///
/// Pure and incremental: state carries over between chunks, so a sequence or a CR LF cut by a read boundary
/// is handled as if it had come whole.
struct TerminalFilter {
    /// Whether SGR sequences are kept (superwatch's output is coloured) or stripped.
    let keepsColour: Bool

    private enum Escape {
        case none
        /// After ESC.
        case escape
        /// After ESC and an intermediate byte (`ESC ( B`, a character set): one more byte ends it.
        case escapeIntermediate
        /// A control sequence, `ESC [` parameters, intermediates and a final byte.
        case controlSequence
        /// An operating system command (`ESC ]`, a title) or another string (DCS, SOS, PM, APC), until BEL or
        /// ESC `\` (or, so that a broken one cannot swallow the log, a newline).
        case string
    }
    private var escape = Escape.none
    /// The control sequence being read, ESC included, for an SGR that is kept.
    private var sequence: [UInt8] = []
    /// A CR came since the line's last text: more text first erases the line.
    private var carriageReturn = false
    /// Text of the current line has been produced (in this chunk or an earlier one, then still pending in the
    /// line splitter).
    private var lineOpen = false
    /// The SGR sequences in effect (since the last reset), to show again at the start of the next line.
    private var colour: [UInt8] = []
    /// Colour is in effect at the current end of the line: it needs a reset before the newline.
    private var lineColoured = false

    /// The longest control sequence kept; longer ones are dropped whole (no SGR is that long).
    private static let maximumSequence = 64
    /// The most SGR bytes remembered for the next line; past that only the last sequence is.
    private static let maximumColour = 128
    private static let reset: [UInt8] = [0x1B, 0x5B, 0x30, 0x6D]  // ESC [ 0 m

    init(keepsColour: Bool) {
        self.keepsColour = keepsColour
    }

    /// Appends `line`, a line this filter produced, without its colour: the only escape sequences left in it are
    /// SGR (`ESC [ … m`), and each goes whole. A line without ESC is copied as it is (one `memchr`: this is on
    /// the path of every terminal line `up` prints without colour).
    static func appendWithoutColour(_ line: UnsafeRawBufferPointer, into out: inout [UInt8]) {
        guard let base = line.baseAddress else { return }
        var start = 0
        while start < line.count, let hit = memchr(base + start, 0x1B, line.count - start) {
            let escape = base.distance(to: UnsafeRawPointer(hit))
            out.append(contentsOf: UnsafeRawBufferPointer(rebasing: line[start..<escape]))
            start = escape + 1
            guard start < line.count, line[start] == 0x5B else { continue }  // `[`
            start += 1
            // Parameters and intermediates, then the final byte (0x40 to 0x7E).
            while start < line.count, !(0x40...0x7E).contains(line[start]) { start += 1 }
            start += 1
        }
        if start < line.count { out.append(contentsOf: UnsafeRawBufferPointer(rebasing: line[start...])) }
    }

    /// Filters `chunk` into `out` (which it empties first). Returns true when the line that was pending before
    /// this chunk (in the splitter) was redrawn and must be dropped before `out` is split.
    mutating func filter(_ chunk: UnsafeRawBufferPointer, into out: inout [UInt8]) -> Bool {
        out.removeAll(keepingCapacity: true)
        guard let base = chunk.baseAddress else { return false }
        var discardsPending = false
        /// Where the current line starts in `out`; 0 while it may have begun in an earlier chunk.
        var lineStart = 0
        var newlineSeen = false
        let count = chunk.count
        var index = 0
        while index < count {
            let byte = base.load(fromByteOffset: index, as: UInt8.self)
            if escape == .none && byte >= 0x20 && byte != 0x7F {
                // A run of text: copied at once.
                var end = index + 1
                while end < count {
                    let next = base.load(fromByteOffset: end, as: UInt8.self)
                    if next < 0x20 || next == 0x7F { break }
                    end += 1
                }
                beginText(&out, lineStart: lineStart, newlineSeen: newlineSeen, discardsPending: &discardsPending)
                out.append(contentsOf: UnsafeRawBufferPointer(start: base + index, count: end - index))
                index = end
                continue
            }
            index += 1
            switch escape {
            case .none:
                switch byte {
                case 0x0A:
                    if lineColoured { out.append(contentsOf: Self.reset) }
                    out.append(0x0A)
                    lineStart = out.count
                    newlineSeen = true
                    lineOpen = false
                    lineColoured = false
                    carriageReturn = false
                case 0x0D:
                    carriageReturn = true
                case 0x09:
                    beginText(&out, lineStart: lineStart, newlineSeen: newlineSeen, discardsPending: &discardsPending)
                    out.append(0x09)
                case 0x08:
                    eraseLastCharacter(&out, lineStart: lineStart)
                case 0x1B:
                    escape = .escape
                default:
                    break  // BEL, DEL and the other controls mean nothing in a log line
                }
            case .escape:
                switch byte {
                case 0x5B:  // [
                    escape = .controlSequence
                    sequence.removeAll(keepingCapacity: true)
                    sequence.append(contentsOf: [0x1B, 0x5B])
                case 0x5D, 0x50, 0x58, 0x5E, 0x5F:  // ] P X ^ _
                    escape = .string
                case 0x20...0x2F:
                    escape = .escapeIntermediate
                case 0x1B:
                    escape = .escape
                default:
                    escape = .none  // a two-byte sequence (save or restore the cursor, a keypad mode, ...)
                }
            case .escapeIntermediate:
                escape = .none
            case .controlSequence:
                if (0x20...0x3F).contains(byte) {
                    // Bounded: an endless sequence is dropped, not kept (longer ones are never passed on).
                    if sequence.count <= Self.maximumSequence { sequence.append(byte) }
                } else if (0x40...0x7E).contains(byte) {
                    escape = .none
                    sequence.append(byte)
                    if byte == 0x6D && keepsColour && sequence.count <= Self.maximumSequence {
                        beginText(
                            &out, lineStart: lineStart, newlineSeen: newlineSeen, discardsPending: &discardsPending)
                        out.append(contentsOf: sequence)
                        remember(sequence)
                        lineColoured = !colour.isEmpty
                    }
                } else {
                    // Not a control sequence after all: drop it, and let a control character act as one.
                    escape = .none
                    if byte == 0x0A || byte == 0x0D || byte == 0x1B { index -= 1 }
                }
            case .string:
                if byte == 0x07 {
                    escape = .none
                } else if byte == 0x1B {
                    escape = .escape  // ESC \ ends it; the `\` is then a two-byte sequence, dropped
                } else if byte == 0x0A {
                    escape = .none
                    index -= 1
                }
            }
        }
        return discardsPending
    }

    /// What ends the current line when the output ends (or is drained) with the line unfinished: a colour reset
    /// when colour is in effect. The next text starts a new line.
    mutating func finish() -> [UInt8] {
        defer {
            lineOpen = false
            lineColoured = false
            carriageReturn = false
        }
        return lineColoured ? Self.reset : []
    }

    /// Before text (or a kept SGR) is added to the line: a CR before it erases the line so far (a redraw), and a
    /// new line starts with the colour in effect.
    private mutating func beginText(
        _ out: inout [UInt8], lineStart: Int, newlineSeen: Bool, discardsPending: inout Bool
    ) {
        if carriageReturn {
            carriageReturn = false
            if lineOpen {
                out.removeSubrange(lineStart...)
                if !newlineSeen { discardsPending = true }
                lineOpen = false
            }
        }
        guard !lineOpen else { return }
        lineOpen = true
        if keepsColour && !colour.isEmpty {
            out.append(contentsOf: colour)
            lineColoured = true
        }
    }

    /// A backspace: the last character of the line in `out` goes (a UTF-8 sequence whole). A character that
    /// is already in the splitter's pending line stays: only echo of a correction typed at a prompt needs this.
    private mutating func eraseLastCharacter(_ out: inout [UInt8], lineStart: Int) {
        var end = out.count
        while end > lineStart {
            end -= 1
            let byte = out[end]
            if byte & 0xC0 != 0x80 { break }  // the first byte of a character
        }
        if end >= lineStart && end < out.count && out[end] != 0x1B { out.removeSubrange(end...) }
    }

    /// Keeps track of the colour in effect after SGR `sequence`: a reset (no parameter, or 0 first) starts over.
    private mutating func remember(_ sequence: [UInt8]) {
        let parameters = sequence.dropFirst(2).dropLast()
        let resetFirst = parameters.first == 0x30 && parameters.dropFirst().first == 0x3B
        if parameters.isEmpty || parameters == [0x30] || resetFirst {
            colour.removeAll(keepingCapacity: true)
            if parameters.count <= 1 { return }
        }
        if colour.count + sequence.count > Self.maximumColour { colour.removeAll(keepingCapacity: true) }
        colour.append(contentsOf: sequence)
    }
}
