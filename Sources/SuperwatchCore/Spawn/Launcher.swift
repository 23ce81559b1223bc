import CSuperwatchShim
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A started process: its pid (also its process group and session id), its pidfd and the parent's ends of its
/// pipes, all owned: whoever takes this value takes the duty to close them (the I/O loop, or a short-lived
/// caller such as the interpreter query).
struct LaunchedProcess: ~Copyable, Sendable {
    var pid: pid_t
    var pidfd: OwnedDescriptor
    /// The read end of its stdout pipe, or the master of its pseudo-terminal (`LaunchRequest.terminal`), which
    /// carries stdout and stderr both.
    var stdout: OwnedDescriptor
    /// The read end of its stderr pipe; nil on a pseudo-terminal.
    var stderr: OwnedDescriptor?
    /// Whether the child came from clone3(CLONE_PIDFD) (false: the fork + pidfd_open fallback).
    var usedClone3: Bool

    /// The raw number of the stderr pipe's read end (nil on a pseudo-terminal), still owned by this value.
    var stderrNumber: Int32? {
        switch stderr {
        case .some(let descriptor): descriptor.rawValue
        case .none: nil
        }
    }

    /// Hands the descriptors to a new owner that holds raw numbers (the I/O loop's `RunIO`).
    consuming func takeDescriptors() -> (pidfd: Int32, stdout: Int32, stderr: Int32?) {
        let stderr: Int32? =
            switch consume stderr {
            case .some(let descriptor): descriptor.take()
            case .none: nil
            }
        return (pidfd.take(), stdout.take(), stderr)
    }
}

/// What to start: the process as configured plus what superwatch adds at each start. Descriptors here are
/// borrowed for the call: the caller keeps owning them.
struct LaunchRequest: Sendable {
    var arguments: [String]
    var cwd: String
    var environment: [String: String]
    /// Descriptors that become 3, 4, ... in the child (held sockets, the report and standby pipes); at most
    /// `Launcher.maximumPassedDescriptors`.
    var passFDs: [Int32] = []
    var keeperFD: Int32 = -1
    /// What the keeper sends the process group if superwatch dies, and how long it waits before SIGKILL: the
    /// process's own `stop_signal` and `stop_timeout`.
    var stopSignal: UnixSignal
    var stopTimeoutMilliseconds: Int32
    /// An open `cgroup.procs` the child moves itself into before anything else, or -1.
    var cgroupProcsFD: Int32 = -1
    /// That cgroup's name, for the keeper.
    var cgroupName: String?
    /// The soft RLIMIT_NOFILE the program gets, when superwatch raised its own.
    var descriptorLimit: rlim_t?
    /// `.fork`: create the child with fork + pidfd_open even where clone3 works (the fallback, for tests and
    /// `SUPERWATCH_SPAWN=fork`).
    var mode: SpawnMode = .automatic
    /// Run on a new pseudo-terminal of this window size (`tty: true`) instead of /dev/null and two pipes.
    var terminal: WindowSize?
}

/// How children (and the keeper) are created.
enum SpawnMode: Sendable {
    /// clone3(CLONE_PIDFD), or fork + pidfd_open where the kernel or a seccomp filter refuses clone3.
    case automatic
    /// fork + pidfd_open only.
    case fork

    var shim: sw_spawn_mode { self == .fork ? SW_SPAWN_FORK : SW_SPAWN_AUTO }

    /// `SUPERWATCH_SPAWN=fork` in superwatch's environment forces the fallback (to test it, or to rule clone3
    /// out when a start fails oddly).
    init(environment: [String: String]) { self = environment["SUPERWATCH_SPAWN"] == "fork" ? .fork : .automatic }
}

/// Starts processes through the C shim: new session and process group, stdin from /dev/null, stdout and
/// stderr into fresh pipes, only the requested descriptors inherited.
enum Launcher {
    /// The most descriptors a child can be given beyond 0, 1 and 2 (the shim's `SW_PASS_FDS_MAX`).
    static let maximumPassedDescriptors = Int(SW_PASS_FDS_MAX)

    static func launch(_ request: LaunchRequest) throws(SuperwatchError) -> LaunchedProcess {
        do {
            return try launchOnce(request)
        } catch {
            throw explain(error)
        }
    }

    /// A start that ran out of descriptors says whose limit it is: superwatch's own (each running process
    /// costs it three), not the program's.
    static func explain(_ error: SuperwatchError) -> SuperwatchError {
        guard case .system(_, .tooManyOpenFiles) = error.code else { return error }
        return SuperwatchError(.spawn, DescriptorLimit.exhaustedMessage())
    }

    private static func launchOnce(_ request: LaunchRequest) throws(SuperwatchError) -> LaunchedProcess {
        guard let program = request.arguments.first else {
            throw SuperwatchError(.spawn, "empty command")
        }
        guard request.passFDs.count <= maximumPassedDescriptors else {
            throw SuperwatchError(
                .spawn,
                "cannot start \(program): it would be given \(request.passFDs.count) descriptors (sockets and pipes "
                    + "from fd 3 on); at most \(maximumPassedDescriptors) can be passed")
        }
        // The config's own values were checked by `check`; this catches what superwatch's environment adds.
        if let (_, problem) = ExecLimits.firstEnvironmentProblem(request.environment) {
            throw SuperwatchError(.spawn, problem)
        }
        guard let path = resolveExecutable(program, cwd: request.cwd, path: request.environment["PATH"]) else {
            throw SuperwatchError(.spawn, "command not found: \(program)")
        }
        let streams = try ChildStreams(terminal: request.terminal)

        var environment = request.environment
        if !request.passFDs.isEmpty { environment["LISTEN_PID"] = String(repeating: "0", count: 20) }
        let cArgs = request.arguments.map { strdup($0) } + [nil]
        let cEnv = environment.sorted { $0.key < $1.key }.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            cArgs.forEach { free($0) }
            cEnv.forEach { free($0) }
        }
        var result = sw_spawn_result()
        let pid: pid_t = path.withCString { cPath in
            request.cwd.withCString { cCwd in
                request.passFDs.withUnsafeBufferPointer { fds in
                    cArgs.withUnsafeBufferPointer { argv in
                        cEnv.withUnsafeBufferPointer { envp in
                            var spec = sw_spawn_spec(
                                path: cPath, argv: argv.baseAddress!, envp: envp.baseAddress!, cwd: cCwd,
                                stdin_fd: streams.stdin, stdout_fd: streams.stdout,
                                stderr_fd: streams.stderr, pass_fds: fds.baseAddress,
                                pass_fd_count: Int32(fds.count), keeper_fd: request.keeperFD,
                                stop_signal: request.stopSignal.rawValue,
                                stop_timeout_ms: request.stopTimeoutMilliseconds,
                                cgroup_procs_fd: request.cgroupProcsFD, cgroup_name: nil,
                                nofile_soft: request.descriptorLimit.map { Int64($0) } ?? -1,
                                controlling_tty: request.terminal == nil ? 0 : 1, mode: request.mode.shim)
                            guard let cgroupName = request.cgroupName else { return sw_spawn(&spec, &result) }
                            return cgroupName.withCString { name in
                                spec.cgroup_name = name
                                return sw_spawn(&spec, &result)
                            }
                        }
                    }
                }
            }
        }
        // The child has its copies (or failed): the parent's write ends, /dev/null and the pty's slave close
        // below, as `streams` is consumed.
        guard pid > 0 else {
            let failure = Errno(rawValue: -pid)
            let step = String(cString: sw_spawn_step_name(result.step))
            if failure == .tooManyOpenFiles { throw SuperwatchError.system(step, failure) }
            let what =
                result.step == SW_STEP_CHDIR ? "cannot enter \(request.cwd)" : "cannot start \(program) (\(step))"
            throw SuperwatchError(.spawn, "\(what): \(failure)")
        }
        return streams.launched(
            pid: pid, pidfd: OwnedDescriptor(takingOwnershipOf: result.pidfd), usedClone3: result.used_clone3 != 0)
    }

    /// A close-on-exec pipe; `size` enlarges it (a larger pipe means fewer wake-ups for chatty processes;
    /// failing to enlarge only costs speed). The caller owns both raw ends.
    static func makePipe(size: Int32? = 1 << 20) throws(SuperwatchError) -> (read: Int32, write: Int32) {
        let pipe = try OwnedPipe(size: size)
        return (pipe.read.take(), pipe.write.take())
    }

    /// The file `execve` should run: a name with a slash as given (relative to `cwd`), else the first
    /// executable match on PATH.
    static func resolveExecutable(_ program: String, cwd: String, path: String?) -> String? {
        if program.contains("/") {
            let full = program.hasPrefix("/") ? program : "\(cwd)/\(program)"
            return access(full, X_OK) == 0 ? full : nil
        }
        for directory in (path ?? "/usr/local/bin:/usr/bin:/bin").split(
            separator: ":", omittingEmptySubsequences: false)
        {
            let base = directory.isEmpty ? cwd : (directory.hasPrefix("/") ? String(directory) : "\(cwd)/\(directory)")
            let candidate = "\(base)/\(program)"
            var info = stat()
            if stat(candidate, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG, access(candidate, X_OK) == 0 {
                return candidate
            }
        }
        return nil
    }
}

/// What a child gets as fds 0, 1 and 2, owned by the parent until the start is done: /dev/null and two pipes, or
/// the slave of a new pseudo-terminal as all three.
private struct ChildStreams: ~Copyable {
    private enum Owned: ~Copyable {
        case pipes(stdin: OwnedDescriptor, stdout: OwnedPipe, stderr: OwnedPipe)
        case terminal(Pseudoterminal)
    }

    /// The descriptors the child moves to 0, 1 and 2.
    let stdin: Int32
    let stdout: Int32
    let stderr: Int32
    private let owned: Owned

    init(terminal size: WindowSize?) throws(SuperwatchError) {
        if let size {
            let pty = try Pseudoterminal(size: size)
            (stdin, stdout, stderr) = (pty.slave.rawValue, pty.slave.rawValue, pty.slave.rawValue)
            owned = .terminal(pty)
            return
        }
        let devNull = OwnedDescriptor(
            takingOwnershipOf: try retryingEINTR("open(/dev/null)") { open("/dev/null", O_RDONLY | O_CLOEXEC) })
        let out = try OwnedPipe(size: 1 << 20)
        let err = try OwnedPipe(size: 1 << 20)
        (stdin, stdout, stderr) = (devNull.rawValue, out.write.rawValue, err.write.rawValue)
        owned = .pipes(stdin: devNull, stdout: out, stderr: err)
    }

    /// The started process with the parent's ends: the pipes' read ends, or the master. Everything else (write
    /// ends, /dev/null, the slave) closes here, so the parent holds nothing that would keep the child's output
    /// open.
    consuming func launched(pid: pid_t, pidfd: consuming OwnedDescriptor, usedClone3: Bool) -> LaunchedProcess {
        switch consume owned {
        case .pipes(_, let stdout, let stderr):
            return LaunchedProcess(
                pid: pid, pidfd: pidfd, stdout: stdout.read, stderr: stderr.read, usedClone3: usedClone3)
        case .terminal(let pty):
            return LaunchedProcess(pid: pid, pidfd: pidfd, stdout: pty.master, stderr: nil, usedClone3: usedClone3)
        }
    }
}
