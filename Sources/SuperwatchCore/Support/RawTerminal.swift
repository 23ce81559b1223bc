#if canImport(Glibc)
    import Glibc
#endif

/// A terminal put in raw mode (cfmakeraw: no echo, no line editing, no signals from ^C, no output processing),
/// as `attach` needs it: every key goes to the attached process as typed, and its output reaches the screen as
/// it wrote it. `restore()` puts the saved settings back; the caller does so on every way out (`defer`).
final class RawTerminal {
    let fd: Int32
    private let saved: termios

    /// tcgetattr + cfmakeraw + tcsetattr on `fd`. Throws when `fd` is not a terminal.
    init(_ fd: Int32) throws(SuperwatchError) {
        var settings = termios()
        try retryingEINTR("tcgetattr") { tcgetattr(fd, &settings) }
        saved = settings
        cfmakeraw(&settings)
        try retryingEINTR("tcsetattr") { tcsetattr(fd, TCSANOW, &settings) }
        self.fd = fd
    }

    /// The settings from before. ignored: there is nothing better to do with a terminal that refuses its own
    /// settings back than to leave it (the shell's `reset` mends it).
    func restore() {
        var settings = saved
        _ = tcsetattr(fd, TCSANOW, &settings)
    }
}
