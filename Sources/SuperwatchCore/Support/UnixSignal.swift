#if canImport(Glibc)
    import Glibc
#endif

/// A Unix signal number with its name: what a config's `stop_signal` names, what superwatch sends to a
/// process group and what it receives. Any number the kernel knows can be carried; the common ones have names.
public struct UnixSignal: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: Int32

    public init(rawValue: Int32) { self.rawValue = rawValue }

    public static let hangup = UnixSignal(rawValue: SIGHUP)
    public static let interrupt = UnixSignal(rawValue: SIGINT)
    public static let quit = UnixSignal(rawValue: SIGQUIT)
    public static let kill = UnixSignal(rawValue: SIGKILL)
    public static let user1 = UnixSignal(rawValue: SIGUSR1)
    public static let user2 = UnixSignal(rawValue: SIGUSR2)
    public static let pipe = UnixSignal(rawValue: SIGPIPE)
    public static let terminate = UnixSignal(rawValue: SIGTERM)
    public static let windowChanged = UnixSignal(rawValue: SIGWINCH)

    /// The signals a config may name as `stop_signal`, by their names without `SIG`.
    public static let configurable: [(name: String, signal: UnixSignal)] = [
        ("TERM", .terminate), ("INT", .interrupt), ("HUP", .hangup), ("QUIT", .quit), ("KILL", .kill),
        ("USR1", .user1), ("USR2", .user2),
    ]

    /// `TERM`, `SIGTERM`, `term`: one of the `configurable` signals, or nil. Only ASCII letters fold
    /// (`ſigterm` is no signal).
    public init?(name text: String) {
        guard text.unicodeScalars.allSatisfy(\.isASCII) else { return nil }
        var name = text.uppercased()
        if name.hasPrefix("SIG") { name.removeFirst(3) }
        guard let found = Self.configurable.first(where: { $0.name == name }) else { return nil }
        self = found.signal
    }

    /// `SIGTERM`; `signal 42` for a number without a name here.
    public var description: String {
        let others: [Int32: String] = [
            SIGABRT: "ABRT", SIGSEGV: "SEGV", SIGPIPE: "PIPE", SIGALRM: "ALRM", SIGFPE: "FPE", SIGILL: "ILL",
            SIGBUS: "BUS", SIGWINCH: "WINCH",
        ]
        if let name = Self.configurable.first(where: { $0.signal == self })?.name ?? others[rawValue] {
            return "SIG\(name)"
        }
        return "signal \(rawValue)"
    }
}
