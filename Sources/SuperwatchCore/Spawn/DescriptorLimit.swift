#if canImport(Glibc)
    import Glibc
#endif

/// superwatch's own limit on open descriptors (RLIMIT_NOFILE).
///
/// superwatch holds three descriptors per running process (two pipes and a pidfd) on top of its own, so the
/// usual soft limit of 1,024 (or a user's `ulimit -n 64`) runs out long before the stack does. At start it
/// raises its soft limit to the hard one; every program it starts gets the soft limit superwatch was given
/// back, between fork and exec, since some programs misbehave with a large one (select(2), closing every
/// possible descriptor at start).
struct DescriptorLimit: Sendable, Equatable {
    /// The soft limit superwatch was started with: what its children get.
    var original: rlim_t
    /// superwatch's soft limit now.
    var current: rlim_t

    /// Raises the soft limit to the hard limit (or to fs.nr_open when the hard limit is unlimited, which
    /// setrlimit refuses beyond that). Failing to raise it leaves it as it was.
    static func raise() -> DescriptorLimit {
        var limit = rlimit()
        guard getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0 else {
            return DescriptorLimit(original: 0, current: 0)
        }
        let original = limit.rlim_cur
        var target = limit.rlim_max
        if target == rlim_t.max { target = systemMaximum() ?? original }  // RLIM_INFINITY
        guard target > original else { return DescriptorLimit(original: original, current: original) }
        limit.rlim_cur = target
        guard setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0 else {
            return DescriptorLimit(original: original, current: original)
        }
        return DescriptorLimit(original: original, current: target)
    }

    /// fs.nr_open: the most descriptors a process may ever have.
    private static func systemMaximum() -> rlim_t? {
        readSmallFile("/proc/sys/fs/nr_open").flatMap { rlim_t($0.prefix { $0.isASCII && $0.isNumber }) }
    }

    /// What a start that failed with EMFILE says: the limit is superwatch's, not the program's.
    static func exhaustedMessage() -> String {
        var limit = rlimit()
        let now = getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0 ? " of \(limit.rlim_cur)" : ""
        return "superwatch has reached its own limit\(now) open descriptors (it holds 3 per running process); "
            + "raise the hard limit (ulimit -Hn) or run fewer processes"
    }
}
