import CSuperwatchShim

#if canImport(Glibc)
    import Glibc
#endif

/// A terminal's window size in character cells, as TIOCGWINSZ and TIOCSWINSZ carry it.
public struct WindowSize: Sendable, Equatable, CustomStringConvertible {
    public var rows: UInt16
    public var columns: UInt16

    public init(rows: UInt16, columns: UInt16) {
        self.rows = rows
        self.columns = columns
    }

    /// What a `tty: true` process gets when superwatch has no terminal of its own (`up > log`, under systemd):
    /// the classic VT100 size most programs assume anyway.
    public static let fallback = WindowSize(rows: 24, columns: 80)

    /// The size of the terminal `fd` refers to; nil when it is not a terminal (or reports 0 x 0, as a serial
    /// line or a freshly made pty does).
    public static func of(_ fd: Int32) -> WindowSize? {
        var rows: UInt16 = 0
        var columns: UInt16 = 0
        guard sw_get_window_size(fd, &rows, &columns) == 0, rows > 0, columns > 0 else { return nil }
        return WindowSize(rows: rows, columns: columns)
    }

    /// The size of superwatch's own terminal: its stdout's, else stderr's, else stdin's (`up | tee log` still
    /// has one), else `fallback`.
    static func ofOwnTerminal() -> WindowSize {
        of(1) ?? of(2) ?? of(0) ?? fallback
    }

    public var description: String { "\(columns)x\(rows)" }
}

/// A pseudo-terminal made for one run of a `tty: true` process: the master stays with superwatch (the I/O loop
/// reads it, `attach` writes to it), the slave becomes the child's fds 0, 1 and 2 and its controlling terminal,
/// and superwatch's copy of the slave closes as soon as the child has its own, so that the master reads EIO once
/// the last process holding the slave is gone: the end of the run's output, as end of file is for a pipe.
struct Pseudoterminal: ~Copyable {
    var master: OwnedDescriptor
    var slave: OwnedDescriptor

    /// posix_openpt + grantpt + unlockpt, and the slave opened, both close-on-exec and with `size` as window.
    init(size: WindowSize) throws(SuperwatchError) {
        var master: Int32 = -1
        var slave: Int32 = -1
        try shimCall("posix_openpt") { sw_open_pty(&master, &slave, size.rows, size.columns) }
        self.master = OwnedDescriptor(takingOwnershipOf: master)
        self.slave = OwnedDescriptor(takingOwnershipOf: slave)
    }

    /// TIOCSWINSZ on `fd` (a master); the kernel signals the child's foreground group with SIGWINCH.
    static func resize(_ fd: Int32, to size: WindowSize) throws(SuperwatchError) {
        try shimCall("ioctl(TIOCSWINSZ)") { sw_set_window_size(fd, size.rows, size.columns) }
    }
}

extension Config {
    /// `up --tty`: every process on a pseudo-terminal, as if each had `tty: true`.
    public func runningOnTerminals() -> Config {
        var config = self
        for index in config.processes.indices { config.processes[index].tty = true }
        return config
    }
}
