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

        var isZombie: Bool { state == UInt8(ascii: "Z") || state == UInt8(ascii: "X") }
    }

    var entries: [pid_t: Entry] = [:]

    /// Reads /proc now. Processes that exit while it is read are simply missing.
    static func read() -> ProcessTable {
        var table = ProcessTable()
        guard let proc = opendir("/proc") else { return table }
        defer { closedir(proc) }
        var buffer = [UInt8](repeating: 0, count: 1024)
        while let entry = readdir(proc) {
            let pid: Int32? = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                Int32(String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self))
            }
            guard let pid else { continue }
            let fd = open("/proc/\(pid)/stat", O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { continue }
            let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            close(fd)
            guard n > 0, let parsed = parse(pid: pid, buffer[0..<n]) else { continue }
            table.entries[pid] = parsed
        }
        return table
    }

    /// `pid (comm) S ppid pgrp ...`: comm may hold spaces and parentheses, so fields are counted after the
    /// last `)`.
    static func parse(pid: pid_t, _ line: ArraySlice<UInt8>) -> Entry? {
        guard let open = line.firstIndex(of: UInt8(ascii: "(")),
              let close = line.lastIndex(of: UInt8(ascii: ")")), open < close else { return nil }
        let fields = line[(close + 1)...].split(separator: UInt8(ascii: " "))
        guard fields.count > 2, let state = fields[0].first,
              let parent = Int32(String(decoding: fields[1], as: UTF8.self)),
              let group = Int32(String(decoding: fields[2], as: UTF8.self)) else { return nil }
        return Entry(pid: pid, parent: parent, group: group, state: state,
                     name: String(decoding: line[(open + 1)..<close], as: UTF8.self))
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
                if parent == reaper { found.append((entry, nil)); break }
                guard parent > 1, let ancestor = entries[parent] else { break }
                if groups.contains(ancestor.group) { found.append((entry, ancestor.group)); break }
                parent = ancestor.parent
            }
        }
        return found
    }
}
