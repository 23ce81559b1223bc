/// Prints records read from a running `up` (`superwatch logs`) as `up` printed them: the same `NAME | ` and
/// `NAME * ` prefixes, padding and colours, through the same `LogFormatter`, or one JSON object per line.
public struct LogRecordPrinter: Sendable {
    private let formatter: LogFormatter
    private let index: [String: ProcessID]
    private let json: Bool

    /// `names`: every process of the stack in its order (`superwatch status`), which decides each one's colour
    /// and the width of the name column, as in `up`.
    public init(names: [String], color: Bool, json: Bool) {
        formatter = LogFormatter(names: names, options: LogOptions(color: color && !json))
        index = Dictionary(names.enumerated().map { ($1, ProcessID($0)) }, uniquingKeysWith: { first, _ in first })
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
        let process = index[record.process]
        // A process `status` did not list when this client started (a live reload added it since): its name as
        // the record gives it, unpadded and uncoloured — never under the stack's own name.
        if process == nil && record.process != LogFormatter.stackName {
            let separator = record.stream == .event ? "*" : "|"
            return Array("\(record.process) \(separator) \(record.text)\n".utf8)
        }
        switch record.stream {
        case .event:
            let kind = record.kind.flatMap(SupervisorEvent.Kind.init(rawValue:)) ?? .notice
            return formatter.event(process: process, SupervisorEvent(kind, record.text))
        case .stdout, .stderr:
            var out: [UInt8] = []
            guard let process else {
                out.append(contentsOf: "\(record.process) | \(record.text)\n".utf8)
                return out
            }
            let stream: StreamKind = record.stream == .stderr ? .stderr : .stdout
            var text = Array(record.text.utf8)
            text.withUnsafeMutableBytes { line in
                formatter.appendLine(
                    process: process, stream: stream, line: UnsafeRawBufferPointer(line), timestamp: [], into: &out)
            }
            return out
        }
    }
}
