#if canImport(Glibc)
    import Glibc
#endif

/// Whether process group `pgid` still has a member that is not a zombie.
///
/// kill(-pgid, 0) alone is not enough: a zombie still counts as a member, and the init of many containers and
/// VMs (this project's CI machine's included) reaps orphans late, so a stop would wait for its whole timeout.
/// When kill says "members exist", /proc says which of them still run.
func processGroupIsAlive(_ pgid: pid_t) -> Bool {
    guard pgid > 0, kill(-pgid, 0) == 0 else { return false }
    guard let proc = opendir("/proc") else { return true }
    defer { closedir(proc) }
    var buffer = [UInt8](repeating: 0, count: 1024)
    while let entry = readdir(proc) {
        let pid: Int32? = withUnsafeBytes(of: entry.pointee.d_name) { raw in
            Int32(String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self))
        }
        guard let pid else { continue }
        let fd = open("/proc/\(pid)/stat", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { continue }
        let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        close(fd)
        guard n > 0, let (state, group) = parseStat(buffer[0..<n]) else { continue }
        if group == pgid && state != UInt8(ascii: "Z") && state != UInt8(ascii: "X") { return true }
    }
    return false
}

/// State and process group from a /proc/PID/stat line: `pid (comm) S ppid pgrp ...` (comm may hold spaces
/// and parentheses, so fields are counted after the last `)`).
func parseStat(_ line: ArraySlice<UInt8>) -> (state: UInt8, pgrp: Int32)? {
    guard let close = line.lastIndex(of: UInt8(ascii: ")")) else { return nil }
    let fields = line[(close + 1)...].split(separator: UInt8(ascii: " "))
    guard fields.count > 2, let state = fields[0].first,
        let group = Int32(String(decoding: fields[2], as: UTF8.self))
    else { return nil }
    return (state, group)
}
