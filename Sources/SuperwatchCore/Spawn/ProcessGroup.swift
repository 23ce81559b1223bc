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
    defer { closeDirectory(proc) }
    while let entry = readdir(proc) {
        guard let pid = ProcessTable.pidName(entry), let process = ProcessTable.readStat(pid) else { continue }
        if process.group == pgid && !process.isZombie { return true }
    }
    return false
}
