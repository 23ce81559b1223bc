/// A position in a file the user wrote: 1-based line and column (column counted in Unicode scalars, as
/// libyaml does). `line == 0` means the file as a whole.
public struct SourceLocation: Sendable, Equatable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var column: Int

    public init(file: String, line: Int = 0, column: Int = 0) {
        self.file = file
        self.line = line
        self.column = column
    }

    public var description: String {
        switch (line, column) {
        case (0, _): return file
        case (_, 0): return "\(file):\(line)"
        default: return "\(file):\(line):\(column)"
        }
    }
}

/// The one error type superwatch reports to its user: what kind of failure, where (when a file is to blame)
/// and a message that says how to fix it.
public struct SuperwatchError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The kind of failure; decides the exit status of the command that hit it.
    public enum Code: Sendable, Equatable {
        /// The config, a Procfile or a .env file is wrong: exit status 2, nothing starts.
        case invalidConfig
        /// No config file was found.
        case configNotFound
        /// The command line is wrong.
        case usage
        /// An address in `listen` cannot be bound.
        case addressInUse
        /// A system call failed; `syscall` names it, `errno` is what it said.
        case system(syscall: String, errno: Errno)
        /// A process could not be started (no such program, bad cwd...).
        case spawn
        /// Another `up` of the same config holds its lock; `pid` is that superwatch's, when it has written it.
        case alreadyRunning(pid: Int32?)
        /// The runtime directory is not a private directory of this user.
        case unsafeRuntimeDirectory
        /// A control request named a process the stack does not have.
        case unknownProcess(name: String)
        /// No `up` is running for this config (no control socket answers).
        case notRunning
        /// A file superwatch writes (an exported unit, the pid in its lock) was not written in full, for a reason
        /// that is no errno (Foundation's own error, a short write); the message says which.
        case fileNotWritten(path: String)
        /// The running `up` refused a control request with this HTTP status (a 4xx or 5xx other than 404).
        case controlRefused(status: Int)
        /// A stream from the running `up` (`logs --follow`) ended before its reader had read everything: `up`
        /// ended while it was behind. `lost`: how many records it never got, when `up` could say.
        case streamCut(lost: Int?)
    }

    public var code: Code
    public var message: String
    public var location: SourceLocation?

    public init(_ code: Code, _ message: String, at location: SourceLocation? = nil) {
        self.code = code
        self.message = message
        self.location = location
    }

    /// `FILE:LINE:COL: error: MESSAGE`, or `error: MESSAGE` when no file is to blame.
    public var description: String {
        if let location { return "\(location): error: \(message)" }
        return "error: \(message)"
    }

    /// The exit status `superwatch` uses for this error.
    public var exitStatus: Int32 {
        switch code {
        case .invalidConfig, .configNotFound, .usage: return 2
        case .addressInUse, .system, .spawn, .alreadyRunning, .unsafeRuntimeDirectory, .unknownProcess, .notRunning,
            .fileNotWritten, .controlRefused:
            return 1
        case .streamCut: return 3
        }
    }
}

/// Something in a file that superwatch skips rather than refuses, because foreman and honcho skip it too (a
/// Procfile line that is not `name: command`): printed as `FILE:LINE:COL: warning: MESSAGE` so that a typo
/// is not silent, while the file still runs as it does under them.
public struct ConfigWarning: Sendable, Equatable, CustomStringConvertible {
    public var message: String
    public var location: SourceLocation

    public init(_ message: String, at location: SourceLocation) {
        self.message = message
        self.location = location
    }

    public var description: String { "\(location): warning: \(message)" }
}
