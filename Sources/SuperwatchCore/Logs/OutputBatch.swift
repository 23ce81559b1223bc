/// What one round of the I/O loop produced, on its way to the fan-out (`LogFanOut.write`): the formatted
/// bytes for the terminal, and the same lines raw for the ring buffers and subscribers. Both sides are
/// appended to without allocating per line, so that keeping the lines costs the hot path two copies of bytes
/// it has in cache anyway.
struct OutputBatch {
    /// One line (or event) in `lineBytes`.
    struct Line {
        var process: ProcessID
        var stream: LogRecord.Stream
        var kind: SupervisorEvent.Kind?
        var offset: Int
        var length: Int
    }

    /// Formatted for stdout (text or JSON), whole lines.
    var terminal: [UInt8] = []
    /// The text of `lines`, back to back.
    private(set) var lineBytes: [UInt8] = []
    private(set) var lines: [Line] = []

    init() {}

    var isEmpty: Bool { terminal.isEmpty && lines.isEmpty }

    /// Adds one line of a process's output (without its newline).
    @inline(__always)
    mutating func appendLine(
        process: ProcessID, stream: StreamKind, line: UnsafeRawBufferPointer, formatter: LogFormatter,
        timestamp: [UInt8]
    ) {
        formatter.appendLine(process: process, stream: stream, line: line, timestamp: timestamp, into: &terminal)
        lines.append(
            Line(process: process, stream: stream.record, kind: nil, offset: lineBytes.count, length: line.count))
        lineBytes.append(contentsOf: line)
    }

    /// Adds one of superwatch's events about `process`, in its place among the lines.
    mutating func appendEvent(process: ProcessID, _ event: SupervisorEvent, formatter: LogFormatter) {
        terminal.append(contentsOf: formatter.event(process: process, event))
        let text = Array(event.message.utf8)
        lines.append(
            Line(process: process, stream: .event, kind: event.kind, offset: lineBytes.count, length: text.count))
        lineBytes.append(contentsOf: text)
    }

    /// Empties the record side, keeping its storage for the next round (the terminal side is handed over).
    mutating func removeLines() {
        lineBytes.removeAll(keepingCapacity: lineBytes.capacity <= 4 << 20)
        lines.removeAll(keepingCapacity: lines.capacity <= 1 << 16)
    }
}

extension StreamKind {
    /// The stream a record of this output names: a PTY carries both of the process's streams as its stdout.
    var record: LogRecord.Stream {
        switch self {
        case .stdout, .pty: return .stdout
        case .stderr: return .stderr
        }
    }
}
