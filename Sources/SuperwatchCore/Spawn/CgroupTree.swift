import CSuperwatchShim

#if canImport(Glibc)
    import Glibc
#endif

/// The cgroup (v2) subtree superwatch runs its processes in: `superwatch-PID` under superwatch's own cgroup,
/// and in it one cgroup per run, named after the process and the run (`web.1-17`).
///
/// A process cannot leave its cgroup without privileges it rarely has, whatever it does with sessions and
/// process groups, so a run's cgroup holds everything the run started: a stop signals every member and ends
/// with `cgroup.kill`, as systemd's `KillMode=control-group` does, and the keeper kills the whole subtree if
/// superwatch is killed. Only available where superwatch may create cgroups and move processes into them:
/// as root, or in a cgroup delegated to the user (systemd's `Delegate=`, a user manager's scopes).
struct CgroupTree: Sendable {
    /// The directory of the parent cgroup, `…/superwatch-PID`.
    let parent: String

    /// Why cgroups cannot be used here, said once at start.
    struct Unavailable: Error, Sendable {
        var reason: String
    }

    /// Creates the parent cgroup and checks that a child process may move into a cgroup below it.
    static func create() -> Result<CgroupTree, Unavailable> {
        guard let mount = unifiedMount() else {
            return .failure(Unavailable(reason: "no cgroup v2 hierarchy is mounted (/proc/self/mountinfo)"))
        }
        guard let own = ownCgroup(), own.hasPrefix(mount.root) else {
            return .failure(Unavailable(reason: "superwatch's own cgroup is not in the mounted cgroup v2 hierarchy"))
        }
        let relative = mount.root == "/" ? own : String(own.dropFirst(mount.root.count))
        let base = (mount.point + (relative.hasPrefix("/") ? relative : "/" + relative))
            .replacingSuffix("/", with: "")
        let parent = "\(base)/superwatch-\(getpid())"
        // A leftover of an earlier superwatch with the same pid (its keeper was killed too): empty it first. Its
        // failures show in the mkdir below (EEXIST), which says why cgroups are not used.
        let tree = CgroupTree(parent: parent)
        if access(parent, F_OK) == 0, let failure = tree.removeAllNow() {
            return .failure(Unavailable(reason: "cannot remove the leftover cgroup \(parent): \(failure)"))
        }
        do {
            try retryingEINTR("mkdir") { mkdir(parent, 0o755) }
        } catch {
            return .failure(Unavailable(reason: "cannot create \(parent): \(error.errno.map(\.description) ?? "")"))
        }
        let probe = "probe"
        let failure: String?
        do throws(SuperwatchError) {
            let procs = try tree.makeRun(probe)
            try shimCall("sw_cgroup_probe") { sw_cgroup_probe(procs.rawValue) }
            failure = nil
        } catch {
            failure = "cannot move a process into \(tree.path(probe)): \(error.errno.map(\.description) ?? "")"
        }
        // ignored: the probe's child has been reaped, so the cgroup is empty; one that stays anyway goes with the
        // tree (removeAll removes child cgroups first).
        _ = tree.remove(probe)
        if let failure {
            // ignored: an empty cgroup superwatch just made; if it cannot go, it only stays behind, empty.
            _ = tree.removeAllNow()
            return .failure(Unavailable(reason: failure))
        }
        return .success(tree)
    }

    /// The directory of a run's cgroup.
    func path(_ name: String) -> String { "\(parent)/\(name)" }

    /// A run's cgroup name: the process name and the run number, short enough for the keeper's record.
    static func runName(process: String, runID: UInt64) -> String {
        let suffix = "-\(runID)"
        return String(process.prefix(Int(SW_CGROUP_NAME_MAX) - 1 - suffix.count)) + suffix
    }

    /// Creates a run's cgroup and opens its `cgroup.procs` for the child to move itself in.
    func makeRun(_ name: String) throws(SuperwatchError) -> OwnedDescriptor {
        let directory = path(name)
        try retryingEINTR("mkdir(\(directory))") { mkdir(directory, 0o755) }
        do {
            return OwnedDescriptor(
                takingOwnershipOf: try retryingEINTR("open(\(directory)/cgroup.procs)") {
                    open("\(directory)/cgroup.procs", O_WRONLY | O_CLOEXEC)
                })
        } catch {
            // ignored: the directory was made a moment ago and nothing is in it; at worst it stays, empty,
            // until the tree is removed.
            _ = remove(name)
            throw error
        }
    }

    /// Signals every member of a run's cgroup whose process group is not `pgid` (that one the caller signals
    /// as a group). Returns why it could not, or nil; a cgroup already gone is no failure (the run ended).
    func signal(_ name: String, _ signal: Int32, skippingGroup pgid: pid_t) -> Errno? {
        Self.failure(sw_cgroup_signal(path(name), signal, pgid))
    }

    /// SIGKILLs everything in a run's cgroup. Returns why it could not, or nil (also when it is gone already).
    func kill(_ name: String) -> Errno? { Self.failure(sw_cgroup_kill(path(name))) }

    /// Whether a run's cgroup still has a live member (zombies do not count). A cgroup that is gone or cannot be
    /// read counts as empty: the caller's stop then ends, as it would once the members are gone.
    func isPopulated(_ name: String) -> Bool { sw_cgroup_populated(path(name)) > 0 }

    /// Removes a run's cgroup (and any its processes made); false while it still has members.
    func remove(_ name: String) -> Bool { Self.failure(sw_cgroup_remove(path(name))) == nil }

    /// A shim result as a failure: nil for success and for ENOENT (the cgroup is gone, which is what each caller
    /// wanted).
    private static func failure(_ result: Int32) -> Errno? {
        result >= 0 || result == -ENOENT ? nil : Errno(rawValue: -result)
    }

    /// Kills whatever is left in the whole subtree, waits (at most `timeout`) until it is empty and removes
    /// it. Returns why it could not, or nil.
    func removeAll(timeout: Duration = .seconds(5)) async -> Errno? {
        if let failure = Self.failure(sw_cgroup_kill(parent)) { return failure }
        let deadline = ContinuousClock.now + timeout
        while sw_cgroup_populated(parent) > 0, ContinuousClock.now < deadline {
            // A cancelled sleep only ends the wait early; the removal below then reports what is left.
            do { try await Task.sleep(for: .milliseconds(10)) } catch { break }
        }
        return Self.failure(sw_cgroup_remove(parent))
    }

    /// `removeAll` without waiting: for a tree superwatch has started nothing in (or a leftover whose members
    /// are killed on the spot).
    func removeAllNow() -> Errno? {
        if let failure = Self.failure(sw_cgroup_kill(parent)) { return failure }
        return Self.failure(sw_cgroup_remove(parent))
    }

    /// The cgroup v2 mount: where it is and which cgroup its root is (not "/" in a bind mount of a subtree).
    static func unifiedMount(mountinfo: String? = readSmallFile("/proc/self/mountinfo"))
        -> (point: String, root: String)?
    {
        guard let mountinfo else { return nil }
        for line in mountinfo.split(separator: "\n") {
            // ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTIONS
            let fields = line.split(separator: " ", omittingEmptySubsequences: false)
            guard let dash = fields.firstIndex(of: "-"), dash + 1 < fields.count, fields[dash + 1] == "cgroup2",
                fields.count > 4
            else { continue }
            return (unescapeMountField(fields[4]), unescapeMountField(fields[3]))
        }
        return nil
    }

    /// superwatch's own cgroup v2 path, from the `0::PATH` line of /proc/self/cgroup.
    static func ownCgroup(_ text: String? = readSmallFile("/proc/self/cgroup")) -> String? {
        guard let text else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("0::") {
            return String(line.dropFirst(3))
        }
        return nil
    }

    /// mountinfo writes space, tab, newline and backslash in paths as octal escapes (`\040`).
    static func unescapeMountField(_ field: Substring) -> String {
        var bytes: [UInt8] = []
        var utf8 = Array(field.utf8)[...]
        while let byte = utf8.popFirst() {
            if byte == UInt8(ascii: "\\"), utf8.count >= 3,
                let value = UInt8(String(decoding: utf8.prefix(3), as: UTF8.self), radix: 8)
            {
                bytes.append(value)
                utf8 = utf8.dropFirst(3)
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// The whole of a small file (/proc and /sys files), or nil.
/// A file that cannot be opened or read is nil: the callers treat an absent /proc or /sys entry as "unknown".
func readSmallFile(_ path: String) -> String? {
    guard case let fd = open(path, O_RDONLY | O_CLOEXEC), fd >= 0 else { return nil }
    let file = OwnedDescriptor(takingOwnershipOf: fd)
    var result: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4096)
    while true {
        let n: Int
        do {
            n = try retryingEINTR("read") {
                buffer.withUnsafeMutableBytes { read(file.rawValue, $0.baseAddress, $0.count) }
            }
        } catch {
            return nil
        }
        if n == 0 { break }
        result.append(contentsOf: buffer[0..<n])
    }
    return String(decoding: result, as: UTF8.self)
}

extension String {
    fileprivate func replacingSuffix(_ suffix: String, with replacement: String) -> String {
        hasSuffix(suffix) && count > 1 ? String(dropLast(suffix.count)) + replacement : self
    }
}
