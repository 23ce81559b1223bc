import Synchronization

/// Prints records read from a running `up` (`superwatch logs`) as `up` printed them: the same `NAME | ` and
/// `NAME * ` prefixes, padding and colours, through the same `LogFormatter`, or one JSON object per line. A
/// record's text keeps the colour (SGR) a `tty: true` process printed: the JSON keeps it, text without colour
/// (`--color never`, NO_COLOR, not a terminal) strips it as `up` does.
///
/// The names come from the records themselves: a name the printer has not seen yet (a process a live reload
/// added after this client started) joins the formatter's list, so it gets the next colour and the column's
/// padding, as `up` gives it after the reload.
public final class LogRecordPrinter: Sendable {
    private struct Known {
        var formatter: LogFormatter
        var index: [String: ProcessID]
    }
    private let known: Mutex<Known>
    private let options: LogOptions
    private let json: Bool

    /// `names`: the processes of the stack in its order, as far as the caller knows them (`superwatch status`),
    /// which decides each one's colour and the width of the name column, as in `up`.
    public init(names: [String], color: Bool, json: Bool) {
        options = LogOptions(color: color && !json)
        known = Mutex(
            Known(
                formatter: LogFormatter(names: names, options: options),
                index: Dictionary(
                    names.enumerated().map { ($1, ProcessID($0)) }, uniquingKeysWith: { first, _ in first })))
        self.json = json
    }

    /// The bytes of one record, ending in a newline.
    public func format(_ record: LogRecord) throws -> [UInt8] {
        if json {
            // The API's own encoding of a record, without an encoder per record (a follower prints many).
            var line: [UInt8] = []
            var times = UTCTimestamps()
            record.appendJSON(into: &line, times: &times)
            line.append(0x0A)
            return line
        }
        switch record.stream {
        case .event:
            let kind = record.kind.flatMap(SupervisorEvent.Kind.init(rawValue:)) ?? .notice
            if record.process == LogFormatter.stackName {
                return known.withLock { $0.formatter }.event(process: nil, SupervisorEvent(kind, record.text))
            }
            let (formatter, process) = lookUp(record.process)
            return formatter.event(process: process, SupervisorEvent(kind, record.text))
        case .stdout, .stderr:
            let (formatter, process) = lookUp(record.process)
            var out: [UInt8] = []
            let stream: StreamKind = record.stream == .stderr ? .stderr : .stdout
            var text = Array(record.text.utf8)
            if !options.color {
                // A terminal's colour is in the record as the process printed it; like `up`, text without colour
                // goes without it.
                var plain: [UInt8] = []
                text.withUnsafeBytes { TerminalFilter.appendWithoutColour($0, into: &plain) }
                text = plain
            }
            text.withUnsafeBytes { line in
                formatter.appendLine(process: process, stream: stream, line: line, timestamp: [], into: &out)
            }
            return out
        }
    }

    /// The formatter to print a record of process `name` with, and the process's id in it.
    private func lookUp(_ name: String) -> (LogFormatter, ProcessID) {
        known.withLock { known in
            if let id = known.index[name] { return (known.formatter, id) }
            let id = ProcessID(known.formatter.names.count)
            known.formatter = LogFormatter(names: known.formatter.names + [name], options: options)
            known.index[name] = id
            return (known.formatter, id)
        }
    }
}
