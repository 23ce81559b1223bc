/// What the kernel lets `execve` pass to a process, checked before anything is started, so that a value too
/// long for it is an error naming the value instead of an `Argument list too long` from a failed start.
public enum ExecLimits {
    /// The longest single argument or `KEY=VALUE` environment string, in bytes without its terminating NUL:
    /// Linux's MAX_ARG_STRLEN (32 pages of 4 KiB, NUL included).
    public static let maximumStringLength = 32 * 4096 - 1

    /// Why the variable `key` with `value` cannot be passed to a process, or nil when it can.
    public static func environmentProblem(key: String, value: String) -> String? {
        if value.utf8.contains(0) {
            return "the value of \(key) contains a NUL character, which cannot be passed to a process; remove it"
        }
        let length = key.utf8.count + 1 + value.utf8.count
        guard length > maximumStringLength else { return nil }
        return
            "\(key)=VALUE is \(length) bytes; the kernel passes at most \(maximumStringLength) bytes per environment "
            + "variable (MAX_ARG_STRLEN), so no process could be started with it"
    }

    /// Why `argument` cannot be passed to a process as one argument, or nil when it can.
    public static func argumentProblem(_ argument: String) -> String? {
        if argument.utf8.contains(0) {
            return "it contains a NUL character, which cannot be passed to a process; remove it"
        }
        let length = argument.utf8.count
        guard length > maximumStringLength else { return nil }
        return
            "it is \(length) bytes; the kernel passes at most \(maximumStringLength) bytes per argument (MAX_ARG_STRLEN)"
    }

    /// The first variable of `environment` (in name order) that cannot be passed to a process, with why.
    public static func firstEnvironmentProblem(_ environment: [String: String]) -> (key: String, problem: String)? {
        for (key, value) in environment.sorted(by: { $0.key < $1.key }) {
            if let problem = environmentProblem(key: key, value: value) { return (key, problem) }
        }
        return nil
    }
}
