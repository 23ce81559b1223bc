#if canImport(Glibc)
    import Glibc
#endif

/// A snapshot of every process on the machine, from /proc: parent, process group and state, enough to find
/// the processes that left the process group superwatch started them in.
struct ProcessTable: Sendable {
    struct Entry: Sendable, Equatable {
        var pid: pid_t
        var parent: pid_t
        var group: pid_t
        /// The state letter of /proc/PID/stat (`Z` for a zombie).
        var state: UInt8
        /// The command name (comm).
        var name: String
        /// How many threads it has (a process's children are listed per thread).
        var threads = 1

        var isZombie: Bool { state == UInt8(ascii: "Z") || state == UInt8(ascii: "X") }
    }

    var entries: [pid_t: Entry] = [:]

    /// Reads /proc now: every process on the machine. Processes that exit while it is read are missing.
    static func read() -> ProcessTable {
        var table = ProcessTable()
        guard let proc = opendir("/proc") else { return table }
        defer { closeDirectory(proc) }
        while let entry = readdir(proc) {
            guard let pid = pidName(entry) else { continue }
            if let parsed = readStat(pid) { table.entries[pid] = parsed }
        }
        return table
    }

    /// Reads `root` and its descendants only, following /proc/PID/task/TID/children: the cost grows with
    /// superwatch's own tree, not with everything else the machine runs. Where the kernel has no children
    /// files (CONFIG_PROC_CHILDREN), reads every process.
    static func read(under root: pid_t) -> ProcessTable {
        guard hasChildrenFiles else { return read() }
        var table = ProcessTable()
        var pending = [root]
        while let pid = pending.popLast() {
            guard table.entries[pid] == nil, let entry = readStat(pid) else { continue }
            table.entries[pid] = entry
            func addChildren(of tid: pid_t) {
                guard let text = readSmallFile("/proc/\(pid)/task/\(tid)/children") else { return }
                pending += text.split(separator: " ").compactMap { pid_t($0.filter(\.isNumber)) }
            }
            // Most processes have one thread: no need to list their tasks.
            guard entry.threads > 1 else {
                addChildren(of: pid)
                continue
            }
            guard let tasks = opendir("/proc/\(pid)/task") else { continue }
            while let task = readdir(tasks) {
                if let tid = pidName(task) { addChildren(of: tid) }
            }
            closeDirectory(tasks)
        }
        return table
    }

    private static let hasChildrenFiles = access("/proc/self/task/\(getpid())/children", R_OK) == 0

    /// The pid a /proc entry names; nil for entries that are not processes.
    static func pidName(_ entry: UnsafeMutablePointer<dirent>) -> pid_t? {
        withUnsafeBytes(of: entry.pointee.d_name) { raw in
            Int32(String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self))
        }
    }

    /// One process, now; nil once it is gone.
    static func readStat(_ pid: pid_t) -> Entry? {
        // A process that is gone (ENOENT, ESRCH while reading) is nil, which is what the callers ask.
        guard case let fd = open("/proc/\(pid)/stat", O_RDONLY | O_CLOEXEC), fd >= 0 else { return nil }
        let file = OwnedDescriptor(takingOwnershipOf: fd)
        var buffer = [UInt8](repeating: 0, count: 1024)
        let n = buffer.withUnsafeMutableBytes { Glibc.read(file.rawValue, $0.baseAddress, $0.count) }
        return n > 0 ? parse(pid: pid, buffer[0..<n]) : nil
    }

    /// `pid (comm) S ppid pgrp ...`: comm may hold spaces and parentheses, so fields are counted after the
    /// last `)`.
    static func parse(pid: pid_t, _ line: ArraySlice<UInt8>) -> Entry? {
        guard let open = line.firstIndex(of: UInt8(ascii: "(")),
            let close = line.lastIndex(of: UInt8(ascii: ")")), open < close
        else { return nil }
        let fields = line[(close + 1)...].split(separator: UInt8(ascii: " "))
        guard fields.count > 2, let state = fields[0].first,
            let parent = Int32(String(decoding: fields[1], as: UTF8.self)),
            let group = Int32(String(decoding: fields[2], as: UTF8.self))
        else { return nil }
        // num_threads is the 20th field, the 18th after comm.
        let threads = fields.count > 17 ? Int(String(decoding: fields[17], as: UTF8.self)) ?? 1 : 1
        return Entry(
            pid: pid, parent: parent, group: group, state: state,
            name: String(decoding: line[(open + 1)..<close], as: UTF8.self), threads: threads)
    }

    /// Live processes that are not in a group of `groups` but descend from a member of one (through
    /// parents that are not), or are children of `reaper` that `own` does not list: what left the groups
    /// superwatch watches. Each comes with the group it descends from (nil: re-parented to `reaper`, its
    /// origin unknown).
    func escapees(from groups: Set<pid_t>, reaper: pid_t, own: Set<pid_t>) -> [(entry: Entry, origin: pid_t?)] {
        var found: [(Entry, pid_t?)] = []
        for entry in entries.values where !entry.isZombie && !groups.contains(entry.group) && !own.contains(entry.pid) {
            var parent = entry.parent
            // A chain of parents ends at init; the bound only guards against a cycle in a torn snapshot.
            for _ in 0..<256 {
                if parent == reaper {
                    found.append((entry, nil))
                    break
                }
                guard parent > 1, let ancestor = entries[parent] else { break }
                if groups.contains(ancestor.group) {
                    found.append((entry, ancestor.group))
                    break
                }
                parent = ancestor.parent
            }
        }
        return found
    }
}
