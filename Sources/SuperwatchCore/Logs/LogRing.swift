import Foundation

/// The last lines and events of one process, for `superwatch logs` and the control API: at most `capacity`
/// lines and, past `byteLimit` bytes of text, the oldest go first (a single longer line is still kept, so the
/// memory a process can hold is bounded by the larger of `byteLimit` and one line at the splitter's cap).
///
/// Cheap to fill, because the I/O loop fills it for every line it reads: a line is copied into a large shared
/// segment and described by a small fixed-size entry (no allocation per line, no decoding); a `LogRecord`
/// with its `String` and `Date` is made only when someone reads it.
struct LogRing {
    /// One held line: where its bytes are, and what the record needs besides them.
    struct Entry {
        /// The segment's number since the ring began (`segments[segment - firstSegment]`).
        var segment: Int
        var offset: Int
        var length: Int
        /// Wall clock, nanoseconds since 1970.
        var time: Int64
        /// The fan-out's order over all rings, so that lines of several processes merge as they were written.
        var sequence: UInt64
        var stream: LogRecord.Stream
        var kind: SupervisorEvent.Kind?
    }

    /// The most lines kept.
    let capacity: Int
    /// The most bytes of text kept (but always the newest line).
    let byteLimit: Int
    /// Bytes a segment is made with; a longer line gets a segment of its own size.
    static let segmentSize = 64 << 10

    /// Oldest first from `start`; the slots before it are dropped and reclaimed now and then (`compact`).
    private var entries: [Entry] = []
    private var start = 0
    private var segments: [[UInt8]] = []
    private var firstSegment = 0
    /// Bytes of the lines held.
    private(set) var bytes = 0

    init(capacity: Int, byteLimit: Int) {
        precondition(capacity > 0, "a ring holds at least one line")
        self.capacity = capacity
        self.byteLimit = byteLimit
    }

    /// How many lines it holds.
    var count: Int { entries.count - start }

    /// Keeps `line`, dropping the oldest lines as needed.
    mutating func append(
        _ line: UnsafeRawBufferPointer, time: Int64, sequence: UInt64, stream: LogRecord.Stream,
        kind: SupervisorEvent.Kind? = nil
    ) {
        if segments.isEmpty || segments[segments.count - 1].capacity - segments[segments.count - 1].count < line.count {
            var segment: [UInt8] = []
            segment.reserveCapacity(max(Self.segmentSize, line.count))
            segments.append(segment)
        }
        let last = segments.count - 1
        let entry = Entry(
            segment: firstSegment + last, offset: segments[last].count, length: line.count, time: time,
            sequence: sequence, stream: stream, kind: kind)
        segments[last].append(contentsOf: line)
        entries.append(entry)
        bytes += line.count
        while count > capacity || (bytes > byteLimit && count > 1) { dropOldest() }
    }

    private mutating func dropOldest() {
        bytes -= entries[start].length
        start += 1
        // Segments before the oldest line left hold nothing any more.
        let oldestSegment = entries[start].segment
        if oldestSegment > firstSegment {
            segments.removeFirst(oldestSegment - firstSegment)
            firstSegment = oldestSegment
        }
        if start >= 1024 && start * 2 >= entries.count { compact() }
    }

    private mutating func compact() {
        entries.removeFirst(start)
        start = 0
    }

    /// The newest `tail` entries, oldest first, with their text.
    func newest(_ tail: Int) -> [(entry: Entry, text: String)] {
        let from = max(start, entries.count - max(0, tail))
        return entries[from...].map { entry in
            let segment = segments[entry.segment - firstSegment]
            return (entry, String(decoding: segment[entry.offset..<(entry.offset + entry.length)], as: UTF8.self))
        }
    }
}
