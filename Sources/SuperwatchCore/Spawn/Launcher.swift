import CSuperwatchShim
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A started process: its pid (also its process group and session id) and the parent's ends of its pipes.
/// The I/O loop takes ownership of every descriptor here.
struct LaunchedProcess: Sendable {
    var pid: pid_t
    var pidfd: Int32
    var stdout: Int32
    var stderr: Int32
}

/// What to start: the process as configured plus what superwatch adds at each start.
struct LaunchRequest: Sendable {
    var arguments: [String]
    var cwd: String
    var environment: [String: String]
    /// Descriptors that become 3, 4, ... in the child (held sockets).
    var passFDs: [Int32] = []
    var keeperFD: Int32 = -1
    var stopSignal: UnixSignal = .terminate
    var stopTimeoutMilliseconds: Int32 = 5000
    /// An open `cgroup.procs` the child moves itself into before anything else, or -1.
    var cgroupProcsFD: Int32 = -1
    /// That cgroup's name, for the keeper.
    var cgroupName: String?
    /// The soft RLIMIT_NOFILE the program gets, when superwatch raised its own.
    var descriptorLimit: rlim_t?
}

/// Starts processes through the C shim: new session and process group, stdin from /dev/null, stdout and
/// stderr into fresh pipes, only the requested descriptors inherited.
enum Launcher {
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
        // The config's own values were checked by `check`; this catches what superwatch's environment adds.
        if let (_, problem) = ExecLimits.firstEnvironmentProblem(request.environment) {
            throw SuperwatchError(.spawn, problem)
        }
        guard let path = resolveExecutable(program, cwd: request.cwd, path: request.environment["PATH"]) else {
            throw SuperwatchError(.spawn, "command not found: \(program)")
        }
        let devNull = try retryingEINTR("open(/dev/null)") { open("/dev/null", O_RDONLY | O_CLOEXEC) }
        defer { close(devNull) }
        let out = try makePipe()
        let err: (read: Int32, write: Int32)
        do { err = try makePipe() } catch {
            close(out.read)
            close(out.write)
            throw error
        }

        var environment = request.environment
        if !request.passFDs.isEmpty { environment["LISTEN_PID"] = String(repeating: "0", count: 20) }
        let cArgs = request.arguments.map { strdup($0) } + [nil]
        let cEnv = environment.sorted { $0.key < $1.key }.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            cArgs.forEach { free($0) }
            cEnv.forEach { free($0) }
        }
        var failedErrno: Int32 = 0
        var failedStep: UnsafePointer<CChar>?
        let pid: pid_t = path.withCString { cPath in
            request.cwd.withCString { cCwd in
                request.passFDs.withUnsafeBufferPointer { fds in
                    cArgs.withUnsafeBufferPointer { argv in
                        cEnv.withUnsafeBufferPointer { envp in
                            var spec = sw_spawn_spec(
                                path: cPath, argv: argv.baseAddress, envp: envp.baseAddress, cwd: cCwd,
                                stdin_fd: devNull, stdout_fd: out.write, stderr_fd: err.write,
                                pass_fds: fds.baseAddress, pass_fd_count: Int32(fds.count),
                                keeper_fd: request.keeperFD, stop_signal: request.stopSignal.rawValue,
                                stop_timeout_ms: request.stopTimeoutMilliseconds,
                                cgroup_procs_fd: request.cgroupProcsFD, cgroup_name: nil,
                                nofile_soft: request.descriptorLimit.map { Int64($0) } ?? -1)
                            guard let cgroupName = request.cgroupName else {
                                return sw_spawn(&spec, &failedErrno, &failedStep)
                            }
                            return cgroupName.withCString { name in
                                spec.cgroup_name = name
                                return sw_spawn(&spec, &failedErrno, &failedStep)
                            }
                        }
                    }
                }
            }
        }
        close(out.write)
        close(err.write)
        guard pid > 0 else {
            close(out.read)
            close(err.read)
            let step = failedStep.map { String(cString: $0) } ?? "spawn"
            if failedErrno == EMFILE {
                throw SuperwatchError.system(step, .tooManyOpenFiles)
            }
            let what = step == "chdir" ? "cannot enter \(request.cwd)" : "cannot start \(program) (\(step))"
            throw SuperwatchError(.spawn, "\(what): \(errnoDescription(failedErrno))")
        }
        let pidfd = sw_pidfd_open(pid)
        guard pidfd >= 0 else {
            let code = errno
            kill(-pid, SIGKILL)
            var status: Int32 = 0
            _ = waitpid(pid, &status, 0)
            if request.keeperFD >= 0 { _ = sw_keeper_send(request.keeperFD, 2, pid, 0, 0, nil) }
            close(out.read)
            close(err.read)
            throw SuperwatchError.system("pidfd_open", Errno(rawValue: code))
        }
        _ = fcntl(pidfd, F_SETFD, FD_CLOEXEC)
        return LaunchedProcess(pid: pid, pidfd: pidfd, stdout: out.read, stderr: err.read)
    }

    /// A close-on-exec pipe; `size` enlarges it (a larger pipe means fewer wake-ups for chatty processes;
    /// failing to enlarge only costs speed).
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
