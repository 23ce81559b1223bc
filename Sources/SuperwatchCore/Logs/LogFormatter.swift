#if canImport(Glibc)
    import Glibc
#endif

/// How the multiplexed stream looks: plain prefixed lines (optionally coloured and timestamped) or one JSON
/// object per line.
public struct LogOptions: Sendable, Equatable {
    public enum Format: String, Sendable, CaseIterable { case text, json }
    public var color: Bool
    public var timestamps: Bool
    public var format: Format

    public init(color: Bool = false, timestamps: Bool = false, format: Format = .text) {
        self.color = color
        self.timestamps = timestamps
        self.format = format
    }

    /// Whether to colour: `--color always|never` wins, then NO_COLOR (any value), then FORCE_COLOR, then
    /// whether stdout is a terminal.
    public static func shouldColor(flag: String, environment: [String: String], stdoutIsTerminal: Bool) -> Bool {
        switch flag {
        case "always": return true
        case "never": return false
        default:
            if let value = environment["NO_COLOR"], !value.isEmpty { return false }
            if let value = environment["FORCE_COLOR"], !value.isEmpty, value != "0" { return true }
            return stdoutIsTerminal
        }
    }
}

/// Which of a process's streams a line came from: a pipe for each of stdout and stderr, or one pseudo-terminal
/// for both (the PTY channel the I/O loop is ready for; nothing starts one yet).
public enum StreamKind: String, Sendable { case stdout, stderr, pty }

/// Turns process output and superwatch's events into the bytes of the multiplexed stream. Prefixes are
/// built once per process; the hot path only copies bytes.
public struct LogFormatter: Sendable {
    public let options: LogOptions
    /// Per process (`ProcessID.index`): the ready-made `NAME | ` prefix (with colour codes when colouring).
    private let outputPrefixes: [[UInt8]]
    /// Per process: the prefix of superwatch's own events about it, `NAME * `.
    private let eventPrefixes: [[UInt8]]
    /// Per process: its name (`web`, `web.2`).
    let names: [String]
    private let globalEventPrefix: [UInt8]

    static let palette = ["36", "33", "32", "35", "34", "96", "93", "92", "95", "94"]
    /// The name shown for events about the whole stack.
    static let stackName = "superwatch"

    public init(names: [String], options: LogOptions) {
        self.options = options
        self.names = names
        // `superwatch * ` lines (the banner, a shutdown, the closing line) appear in every `up`, so the name
        // column is at least as wide as that name and every prefix lines up with theirs.
        let width = (names + [Self.stackName]).map(\.count).max() ?? 0
        func prefix(_ name: String, marker: String, color: String?) -> [UInt8] {
            let padded = name + String(repeating: " ", count: max(0, width - name.count))
            if let color, options.color {
                return Array("\u{1B}[\(color)m\(padded) \(marker)\u{1B}[0m ".utf8)
            }
            return Array("\(padded) \(marker) ".utf8)
        }
        outputPrefixes = names.enumerated().map {
            prefix($1, marker: "|", color: Self.palette[$0 % Self.palette.count])
        }
        eventPrefixes = names.enumerated().map { prefix($1, marker: "*", color: Self.palette[$0 % Self.palette.count]) }
        globalEventPrefix = prefix(Self.stackName, marker: "*", color: "1")
    }

    /// `names[process.index]`, or `superwatch` for the stack's own events (nil).
    func name(of process: ProcessID?) -> String {
        process.map { names[$0.index] } ?? Self.stackName
    }

    /// `HH:MM:SS ` for now, local time; empty when timestamps are off.
    public func timestampPrefix() -> [UInt8] {
        guard options.timestamps || options.format == .json else { return [] }
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        var parts = tm()
        var seconds = now.tv_sec
        localtime_r(&seconds, &parts)
        if options.format == .json {
            gmtime_r(&seconds, &parts)
            let ms = now.tv_nsec / 1_000_000
            return Array(String(format2: parts, millis: Int(ms)).utf8)
        }
        return Array(
            "\(zeroPadded(Int(parts.tm_hour), 2)):\(zeroPadded(Int(parts.tm_min), 2)):\(zeroPadded(Int(parts.tm_sec), 2)) "
                .utf8)
    }

    /// Appends one line of a process's output (without its newline) to `out`. A terminal's line keeps its colour
    /// (`TerminalFilter`) in the JSON log and the records; printed as text without colour, it loses it here.
    @inline(__always)
    public func appendLine(
        process: ProcessID, stream: StreamKind, line: UnsafeRawBufferPointer, timestamp: [UInt8],
        into out: inout [UInt8]
    ) {
        switch options.format {
        case .text:
            out.append(contentsOf: timestamp)
            out.append(contentsOf: outputPrefixes[process.index])
            if stream == .pty && !options.color {
                TerminalFilter.appendWithoutColour(line, into: &out)
            } else {
                out.append(contentsOf: line)
            }
            out.append(0x0A)
        case .json:
            out.append(contentsOf: "{\"time\":\"".utf8)
            out.append(contentsOf: timestamp)
            out.append(contentsOf: "\",\"process\":".utf8)
            appendJSONString(Array(names[process.index].utf8), into: &out)
            out.append(contentsOf: ",\"stream\":\"\(stream.rawValue)\",\"text\":".utf8)
            appendJSONString(line, into: &out)
            out.append(contentsOf: "}\n".utf8)
        }
    }

    /// One of superwatch's own events, about process `process` (nil: about the whole stack). A message of
    /// several lines (a `command: |` block in "started") is several lines, each with the prefix, so that every
    /// line of the stream says whose it is.
    public func event(process: ProcessID?, _ event: SupervisorEvent) -> [UInt8] {
        let timestamp = timestampPrefix()
        var out: [UInt8] = []
        switch options.format {
        case .text:
            let prefix = process.map { eventPrefixes[$0.index] } ?? globalEventPrefix
            var lines = event.message.split(separator: "\n", omittingEmptySubsequences: false)
            while lines.count > 1 && lines.last!.isEmpty { lines.removeLast() }
            for line in lines {
                out.append(contentsOf: timestamp)
                out.append(contentsOf: prefix)
                out.append(contentsOf: line.utf8)
                out.append(0x0A)
            }
        case .json:
            out.append(contentsOf: "{\"time\":\"".utf8)
            out.append(contentsOf: timestamp)
            out.append(contentsOf: "\",\"process\":".utf8)
            appendJSONString(Array((process.map { names[$0.index] } ?? Self.stackName).utf8), into: &out)
            out.append(contentsOf: ",\"event\":".utf8)
            appendJSONString(Array(event.kind.rawValue.utf8), into: &out)
            for (key, value) in event.fields {
                out.append(contentsOf: ",\"\(key)\":".utf8)
                switch value {
                case .int(let n): out.append(contentsOf: String(n).utf8)
                case .string(let s): appendJSONString(Array(s.utf8), into: &out)
                }
            }
            out.append(contentsOf: ",\"text\":".utf8)
            appendJSONString(Array(event.message.utf8), into: &out)
            out.append(contentsOf: "}\n".utf8)
        }
        return out
    }
}

extension String {
    /// `2026-11-25T19:55:05.123Z`.
    init(format2 parts: tm, millis: Int) {
        self =
            "\(zeroPadded(Int(parts.tm_year) + 1900, 4))-\(zeroPadded(Int(parts.tm_mon) + 1, 2))-\(zeroPadded(Int(parts.tm_mday), 2))T"
            + "\(zeroPadded(Int(parts.tm_hour), 2)):\(zeroPadded(Int(parts.tm_min), 2)):\(zeroPadded(Int(parts.tm_sec), 2)).\(zeroPadded(millis, 3))Z"
    }
}

func zeroPadded(_ value: Int, _ width: Int) -> String {
    let digits = String(value)
    return String(repeating: "0", count: max(0, width - digits.count)) + digits
}

/// Appends `bytes` as a JSON string literal. Invalid UTF-8 becomes U+FFFD (JSON cannot carry it).
func appendJSONString<C: Collection>(_ bytes: C, into out: inout [UInt8]) where C.Element == UInt8 {
    appendJSONString(String(decoding: bytes, as: UTF8.self), into: &out)
}

/// Appends `text` as a JSON string literal: `"` and `\` escaped, control characters as `\n`, `\r`, `\t` or
/// `\u00XX`, everything else as its UTF-8 (a `String`'s is valid), copied a run at a time.
func appendJSONString(_ text: String, into out: inout [UInt8]) {
    var text = text
    out.append(0x22)
    text.withUTF8 { bytes in
        var run = 0
        for index in bytes.indices {
            let byte = bytes[index]
            guard byte < 0x20 || byte == 0x22 || byte == 0x5C else { continue }
            out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[run..<index]))
            run = index + 1
            switch byte {
            case 0x22: out.append(contentsOf: [0x5C, 0x22])
            case 0x5C: out.append(contentsOf: [0x5C, 0x5C])
            case 0x0A: out.append(contentsOf: [0x5C, 0x6E])
            case 0x0D: out.append(contentsOf: [0x5C, 0x72])
            case 0x09: out.append(contentsOf: [0x5C, 0x74])
            default:
                let hex = Array("0123456789abcdef".utf8)
                out.append(contentsOf: [0x5C, 0x75, 0x30, 0x30, hex[Int(byte >> 4)], hex[Int(byte & 0x0F)]])
            }
        }
        out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[run...]))
    }
    out.append(0x22)
}
