import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Where the built `superwatch` binary is: next to the test bundle in SwiftPM's build directory.
public let superwatchBinary: String = {
    let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    var directory = URL(fileURLWithPath: exe).deletingLastPathComponent()
    if directory.lastPathComponent.hasSuffix(".xctest") { directory.deleteLastPathComponent() }
    return directory.appendingPathComponent("superwatch").path
}()

/// A fresh directory under /tmp, removed when the test is done with it (call `remove()`).
public struct TemporaryDirectory: Sendable {
    public let path: String

    public init(_ label: String = "superwatch-test") {
        let template = "/tmp/\(label)-XXXXXX"
        var bytes = Array(template.utf8CString)
        path = bytes.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)!) }
    }

    /// Writes `contents` to `name` (relative) in place, as `echo > file` would, creating parent directories.
    /// (Not Foundation's atomic write: its temporary file is itself a change a watcher may see.)
    @discardableResult
    public func write(_ name: String, _ contents: String) -> String {
        let full = "\(path)/\(name)"
        try? FileManager.default.createDirectory(
            atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        let fd = open(full, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        precondition(fd >= 0, "cannot write \(full)")
        var bytes = Array(contents.utf8)
        _ = bytes.withUnsafeMutableBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        close(fd)
        return full
    }

    public func read(_ name: String) -> String? {
        (try? Data(contentsOf: URL(fileURLWithPath: "\(path)/\(name)"))).map { String(decoding: $0, as: UTF8.self) }
    }

    public func remove() { try? FileManager.default.removeItem(atPath: path) }
}

/// Polls `condition` every 20 ms until it holds or `timeout` passes. Tests wait for conditions this way with
/// generous timeouts, never for fixed amounts of time.
public func eventually(timeout: Duration = .seconds(20), _ condition: () -> Bool) -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if condition() { return true }
        usleep(20_000)
    }
    return condition()
}

/// Whether `pid` is a live (not zombie) process.
public func isAlive(_ pid: pid_t) -> Bool {
    guard kill(pid, 0) == 0 else { return false }
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
        let close = stat.lastIndex(of: ")")
    else { return false }
    let state = stat[stat.index(close, offsetBy: 2)]
    return state != "Z" && state != "X"
}

/// The live (not zombie) members of process group `pgid`, from /proc.
public func liveProcesses(inGroup pgid: pid_t) -> [pid_t] {
    let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
    return entries.compactMap { entry -> pid_t? in
        guard let pid = pid_t(entry),
            let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return nil }
        // After the name: state, ppid, pgrp, ...
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 2, pid_t(fields[2]) == pgid, fields[0] != "Z", fields[0] != "X" else { return nil }
        return pid
    }
}

/// What process `pid` is blocked in (/proc/PID/wchan), e.g. `pipe_write`; empty when it runs or is gone.
public func waitChannel(_ pid: pid_t) -> String {
    (try? String(contentsOfFile: "/proc/\(pid)/wchan", encoding: .utf8)) ?? ""
}

/// Whether a thread of process `pid` is blocked writing to a full pipe (`pipe_write`, or `anon_pipe_write` on
/// newer kernels, in its /proc/PID/task/TID/wchan): a program whose output nobody reads, stopped in a write.
public func blockedWritingToAPipe(_ pid: pid_t) -> Bool {
    let threads = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
    return threads.contains {
        (try? String(contentsOfFile: "/proc/\(pid)/task/\($0)/wchan", encoding: .utf8))?.hasSuffix("pipe_write")
            == true
    }
}

/// A running `superwatch` binary with its output captured.
public final class SuperwatchRun: Sendable {
    /// What superwatch's stdout is: a pipe the run reads, or one that stops being read.
    public enum Stdout: Sendable {
        /// Read to its end; the text is in `stdout`.
        case captured
        /// Read until `lines` whole lines have arrived, then closed, as `up | head -N` does.
        case closedAfter(lines: Int)
        /// Not read until `resumeReading()` (or superwatch has exited): a paused pager, a hung log shipper.
        case stalled
    }

    public let process: Process
    private let captured = Mutex<(stdout: [UInt8], stderr: [UInt8])>(([], []))
    private let stdoutDone = Mutex<Bool>(false)
    private let stderrDone = Mutex<Bool>(false)
    private let resume = DispatchSemaphore(value: 0)
    private let stalled: Bool

    /// Starts `superwatch ARGS` in `directory` with NO_COLOR unset unless `environment` says otherwise, and
    /// without the variables named in `unsetting`. `closing` names standard descriptors (0, 1, 2) superwatch
    /// starts without, as after `up >&-`.
    public init(
        _ arguments: [String], in directory: String, environment: [String: String] = [:],
        unsetting: [String] = [], stdout mode: Stdout = .captured, closing: Set<Int32> = []
    ) throws {
        process = Process()
        if closing.isEmpty {
            process.executableURL = URL(fileURLWithPath: superwatchBinary)
            process.arguments = arguments
        } else {
            // The shell closes them and execs superwatch, which keeps the pid.
            let redirections = closing.sorted().map { "\($0)>&-" }.joined(separator: " ")
            process.executableURL = URL(fileURLWithPath: "/bin/sh")
            process.arguments = ["-c", "exec \"$0\" \"$@\" \(redirections)", superwatchBinary] + arguments
        }
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        var env = ProcessInfo.processInfo.environment
        env.removeValue(forKey: "FORCE_COLOR")
        env.removeValue(forKey: "NO_COLOR")
        env.merge(environment) { $1 }
        for name in unsetting { env.removeValue(forKey: name) }
        process.environment = env
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        if case .stalled = mode { stalled = true } else { stalled = false }
        try process.run()
        for (handle, isStdout) in [(out.fileHandleForReading, true), (err.fileHandleForReading, false)] {
            let thread = Thread { [self] in
                if isStdout, case .stalled = mode { self.resume.wait() }
                let fd = handle.fileDescriptor
                var buffer = [UInt8](repeating: 0, count: 1 << 16)
                var lines = 0
                while true {
                    let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                    if n < 0 && errno == EINTR { continue }
                    if n <= 0 { break }
                    self.captured.withLock {
                        if isStdout {
                            $0.stdout.append(contentsOf: buffer[0..<n])
                        } else {
                            $0.stderr.append(contentsOf: buffer[0..<n])
                        }
                    }
                    if isStdout, case .closedAfter(let wanted) = mode {
                        lines += buffer[0..<n].count { $0 == 0x0A }
                        if lines >= wanted {
                            do { try handle.close() } catch { fatalError("cannot close superwatch's stdout: \(error)") }
                            break
                        }
                    }
                }
                if isStdout { self.stdoutDone.withLock { $0 = true } } else { self.stderrDone.withLock { $0 = true } }
            }
            thread.start()
        }
    }

    /// Lets a `.stalled` stdout be read from now on.
    public func resumeReading() { resume.signal() }

    public var stdoutBytes: [UInt8] { captured.withLock { $0.stdout } }
    public var stdout: String { String(decoding: stdoutBytes, as: UTF8.self) }
    public var stderr: String { captured.withLock { String(decoding: $0.stderr, as: UTF8.self) } }
    public var stdoutLines: [String] {
        stdout.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    }
    public var pid: pid_t { process.processIdentifier }

    /// Waits until stdout contains `text` (`count` times).
    @discardableResult
    public func waitFor(_ text: String, count: Int = 1, timeout: Duration = .seconds(20)) -> Bool {
        eventually(timeout: timeout) { self.stdout.components(separatedBy: text).count - 1 >= count }
    }

    public func signal(_ number: Int32) { kill(process.processIdentifier, number) }

    /// Waits for superwatch to exit and for its stdout and stderr to reach end of file; returns its exit status
    /// (nil on timeout, after which it is killed).
    public func waitForExit(timeout: Duration = .seconds(30)) -> Int32? {
        guard eventually(timeout: timeout, { !self.process.isRunning }) else {
            signal(SIGKILL)
            return nil
        }
        if stalled { resumeReading() }
        _ = eventually(timeout: .seconds(10)) { self.stdoutDone.withLock { $0 } && self.stderrDone.withLock { $0 } }
        return process.terminationStatus
    }

    /// Runs superwatch to completion.
    public static func run(
        _ arguments: [String], in directory: String, environment: [String: String] = [:],
        timeout: Duration = .seconds(60)
    ) throws -> (status: Int32?, stdout: String, stderr: String) {
        let run = try SuperwatchRun(arguments, in: directory, environment: environment)
        let status = run.waitForExit(timeout: timeout)
        return (status, run.stdout, run.stderr)
    }
}

/// The repository's root directory (this file is Tests/SuperwatchTestSupport/Support.swift).
public let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

/// `superwatchBinary` when it has been built (a test target that does not depend on the executable may run
/// without it).
public var superwatchBinaryIfBuilt: String? {
    FileManager.default.isExecutableFile(atPath: superwatchBinary) ? superwatchBinary : nil
}

/// What a command run to completion printed and how it ended.
public struct CommandResult: Sendable {
    public var status: Int32
    public var stdout: String
    public var stderr: String
}

/// Runs `arguments` (the program is looked up on PATH) to completion in `directory`, feeding it `input`.
/// For the tools tests drive — python3, mandoc, make, systemd-analyze — not for superwatch itself, which
/// `SuperwatchRun` runs.
public func runCommand(_ arguments: [String], in directory: String? = nil, input: Data? = nil) throws -> CommandResult {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = arguments
    if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
    let out = Pipe()
    let err = Pipe()
    let inPipe = Pipe()
    process.standardOutput = out
    process.standardError = err
    process.standardInput = input == nil ? FileHandle.nullDevice : inPipe
    try process.run()
    if let input {
        inPipe.fileHandleForWriting.write(input)
        try inPipe.fileHandleForWriting.close()
    }
    // Read stderr on its own thread so that neither pipe can fill up and block the command.
    let errorText = Mutex<Data>(Data())
    let errorRead = DispatchSemaphore(value: 0)
    Thread {
        let data = err.fileHandleForReading.readDataToEndOfFile()
        errorText.withLock { $0 = data }
        errorRead.signal()
    }.start()
    let stdout = out.fileHandleForReading.readDataToEndOfFile()
    errorRead.wait()
    process.waitUntilExit()
    return CommandResult(
        status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
        stderr: errorText.withLock { String(decoding: $0, as: UTF8.self) })
}

/// Whether python3 on PATH can import `module` (tests that need Flask, Werkzeug or jsonschema say so when it
/// is missing; CI installs them).
public func pythonCanImport(_ module: String) -> Bool {
    (try? runCommand(["python3", "-c", "import \(module)"]))?.status == 0
}
