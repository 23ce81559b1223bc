import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A tmux server of its own (its own socket, `-L`) with one session running `command`: a real terminal for
/// what needs one (`superwatch attach`), driven as a user would, by keys (`send-keys`), and read off its screen
/// (`capture-pane`). `kill()` ends the server and everything in it.
public struct TmuxSession: Sendable {
    public let socket: String

    /// Starts `command` (a shell line) in `directory`, in a window of `columns` x `rows` with no status line, with
    /// `environment` (besides the test's own, which a new tmux server inherits).
    public init(
        _ command: String, in directory: String, columns: Int = 100, rows: Int = 30,
        environment: [String: String] = [:]
    ) throws {
        socket = "superwatch-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let exports = environment.sorted { $0.key < $1.key }.map { "\($0.key)=\(ShellQuote.quote($0.value))" }
        let line = (["cd", ShellQuote.quote(directory), "&&"] + (exports.isEmpty ? [] : ["env"] + exports) + [command])
            .joined(separator: " ")
        // The tmux server this starts keeps every descriptor it inherits: started from `runCommand` (or
        // Foundation's Process), it would hold the pipes their reader waits to end. system(3) waits for the shell
        // alone, and the shell gives tmux /dev/null and a file.
        let errors = TemporaryDirectory("superwatch-tmux")
        defer { errors.remove() }
        let arguments = [
            "tmux", "-L", socket, "-f", "/dev/null", "new-session", "-d", "-s", "main", "-x", String(columns), "-y",
            String(rows), line, ";", "set-option", "-g", "status", "off", ";", "set-option", "-g", "remain-on-exit",
            "on",
        ]
        let status = system(
            arguments.map(ShellQuote.quote).joined(separator: " ") + " </dev/null >/dev/null 2>"
                + ShellQuote.quote("\(errors.path)/stderr"))
        guard status == 0 else {
            throw TmuxError(message: "tmux new-session (\(status)): \(errors.read("stderr") ?? "")")
        }
    }

    /// Types `keys` as tmux's send-keys names them (`Enter`, `C-]`, or text with `-l`).
    public func send(_ keys: String..., literally: Bool = false) throws {
        let command = ["tmux", "-L", socket, "send-keys", "-t", "main"] + (literally ? ["-l"] : [])
        let result = try runCommand(command + keys)
        guard result.status == 0 else { throw TmuxError(message: "tmux send-keys: \(result.stderr)") }
    }

    /// The screen now, one line per row (trailing blanks cut), history included.
    public func screen() -> String {
        (try? runCommand(["tmux", "-L", socket, "capture-pane", "-p", "-J", "-S", "-200", "-t", "main"]))?.stdout ?? ""
    }

    /// Waits until the screen shows `text`.
    @discardableResult
    public func waitFor(_ text: String, timeout: Duration = .seconds(20)) -> Bool {
        eventually(timeout: timeout) { screen().contains(text) }
    }

    /// Resizes the window (the program in it gets SIGWINCH).
    public func resize(columns: Int, rows: Int) throws {
        let result = try runCommand([
            "tmux", "-L", socket, "resize-window", "-t", "main", "-x", String(columns), "-y", String(rows),
        ])
        guard result.status == 0 else { throw TmuxError(message: "tmux resize-window: \(result.stderr)") }
    }

    public func kill() {
        _ = try? runCommand(["tmux", "-L", socket, "kill-server"])
    }
}

public struct TmuxError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}

/// Whether tmux is installed (.ci/run installs it).
public var tmuxAvailable: Bool { (try? runCommand(["tmux", "-V"]))?.status == 0 }

/// Single quotes for sh.
public enum ShellQuote {
    public static func quote(_ text: String) -> String { "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'" }
}
