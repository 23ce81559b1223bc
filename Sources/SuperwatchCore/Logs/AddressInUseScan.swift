import CSuperwatchShim

/// Looks for "address already in use" in the output of a `listen:` process, whose program most likely binds
/// `$PORT` itself instead of serving on the socket superwatch holds for it (which is why the bind fails), so
/// that the log can say what to do instead of showing the same traceback on every backoff.
///
/// Cheap by construction: only streams of `listen:` processes are scanned, only until the hint was given for
/// that process and only over the first `budget` bytes of each stream of a run, with memmem over each chunk as
/// read (no decoding, no per-line work). The last bytes of a chunk are kept so that a phrase cut between two
/// reads is still found.
struct AddressInUseScan {
    /// How EADDRINUSE shows in output: strerror's text ("Address already in use" from C, Python and Ruby;
    /// Go's and Node's lower-case "address already in use"), the errno's name (Node's `EADDRINUSE`), and
    /// Python's `[Errno 98]` where a program prints only the number.
    static let needles: [[UInt8]] = ["ddress already in use", "EADDRINUSE", "Errno 98"].map { Array($0.utf8) }
    private static let carryLength = needles.map(\.count).max()! - 1

    /// How much of a stream is looked at: a program that fails to bind says so as it starts, so a server that
    /// is up stops costing anything on the I/O loop once this much of its output has been read.
    static let budget = 64 << 10

    /// The end of the previous chunk, to join with the start of the next one.
    private var carry: [UInt8] = []
    /// What is left of `budget`.
    private var remaining = Self.budget
    /// The budget is spent: the stream need not be scanned any more.
    var isSpent: Bool { remaining <= 0 }

    /// Whether `chunk`, or the end of the previous chunk joined with its start, holds one of the needles.
    mutating func scan(_ chunk: UnsafeRawBufferPointer) -> Bool {
        guard let base = chunk.baseAddress, chunk.count > 0 else { return false }
        remaining -= chunk.count
        if !carry.isEmpty {
            var seam = carry
            seam.append(contentsOf: UnsafeRawBufferPointer(start: base, count: min(chunk.count, Self.carryLength)))
            if seam.withUnsafeBytes({ Self.contains($0) }) { return true }
        }
        if Self.contains(chunk) { return true }
        if chunk.count >= Self.carryLength {
            carry = Array(UnsafeRawBufferPointer(start: base + chunk.count - Self.carryLength, count: Self.carryLength))
        } else {
            carry.append(contentsOf: chunk)
            carry.removeFirst(max(0, carry.count - Self.carryLength))
        }
        return false
    }

    private static func contains(_ bytes: UnsafeRawBufferPointer) -> Bool {
        needles.contains { needle in
            needle.withUnsafeBytes { sw_contains_bytes(bytes.baseAddress, bytes.count, $0.baseAddress, $0.count) == 1 }
        }
    }

    /// Said once per process, after the output that matched.
    static let hint = SupervisorEvent(
        .listenHint,
        "its output says the address is already in use: with `listen:`, superwatch binds the address itself and "
            + "passes the socket as fd 3 (with LISTEN_FDS; Werkzeug's app.run() takes it through WERKZEUG_SERVER_FD), "
            + "so the program must serve on that socket instead of binding $PORT; see SOCKETS in superwatch.yaml(5)")
}
