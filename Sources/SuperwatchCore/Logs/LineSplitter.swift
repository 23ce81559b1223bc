#if canImport(Glibc)
    import Glibc
#endif

/// Cuts one stream of a process into whole lines. Bytes after the last newline wait for the rest of their
/// line; `finish` emits them when the stream ends or the process exits, so a last line without a newline is
/// still printed. Bytes are never decoded: invalid UTF-8 passes through unchanged.
struct LineSplitter {
    /// A line longer than this is emitted in pieces of this size rather than held without bound.
    static let maximumLineLength = 64 << 20

    let process: ProcessID
    let stream: StreamKind
    /// `maximumLineLength`, except in tests, which split lines without allocating 64 MiB.
    let maximumLength: Int
    private var pending: [UInt8] = []
    /// The current line was longer than `maximumLength` and has been split (the event said so once).
    private var splitting = false

    init(process: ProcessID, stream: StreamKind, maximumLength: Int = LineSplitter.maximumLineLength) {
        self.process = process
        self.stream = stream
        self.maximumLength = maximumLength
    }

    /// Appends every complete line in `chunk` (formatted) to `out`, keeping the incomplete tail.
    mutating func consume(
        _ chunk: UnsafeRawBufferPointer, formatter: LogFormatter, timestamp: [UInt8], into out: inout OutputBatch
    ) {
        guard let base = chunk.baseAddress, chunk.count > 0 else { return }
        var start = 0
        while start < chunk.count {
            guard let hit = memchr(base + start, 0x0A, chunk.count - start) else { break }
            let end = base.distance(to: UnsafeRawPointer(hit))
            let line = UnsafeRawBufferPointer(start: base + start, count: end - start)
            if pending.isEmpty {
                out.appendLine(process: process, stream: stream, line: line, formatter: formatter, timestamp: timestamp)
            } else {
                pending.append(contentsOf: line)
                emitPending(formatter: formatter, timestamp: timestamp, into: &out)
            }
            splitting = false
            start = end + 1
        }
        if start < chunk.count {
            pending.append(contentsOf: UnsafeRawBufferPointer(start: base + start, count: chunk.count - start))
            if pending.count >= maximumLength {
                emitPending(formatter: formatter, timestamp: timestamp, into: &out)
                if !splitting {
                    // Said after the first piece, once per overlong line, so a split is never silent.
                    splitting = true
                    out.appendEvent(
                        process: process,
                        SupervisorEvent(
                            .lineSplit, "a line over \(Self.describe(maximumLength)) was split",
                            [("stream", .string(stream.rawValue))]),
                        formatter: formatter)
                }
            }
        }
    }

    private static func describe(_ length: Int) -> String {
        length >= 1 << 20 && length % (1 << 20) == 0 ? "\(length >> 20) MiB" : "\(length) bytes"
    }

    /// Drops the incomplete last line: a terminal's program redrew it (`TerminalFilter`).
    mutating func discardPending() {
        pending.removeAll(keepingCapacity: pending.count < 1 << 20)
        splitting = false
    }

    /// Emits an incomplete last line, if any.
    mutating func finish(formatter: LogFormatter, timestamp: [UInt8], into out: inout OutputBatch) {
        if !pending.isEmpty { emitPending(formatter: formatter, timestamp: timestamp, into: &out) }
        splitting = false
    }

    private mutating func emitPending(formatter: LogFormatter, timestamp: [UInt8], into out: inout OutputBatch) {
        pending.withUnsafeBytes {
            out.appendLine(process: process, stream: stream, line: $0, formatter: formatter, timestamp: timestamp)
        }
        pending.removeAll(keepingCapacity: pending.count < 1 << 20)
    }
}
