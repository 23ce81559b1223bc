import CSuperwatchShim

#if canImport(Glibc)
    import Glibc
#endif

/// Walks the part of a directory tree that a spec's rules can match, with `readdir` and the entry types it
/// reports (so a file costs no `stat`), never descending into ignored directories or ones where nothing can
/// match, and never following symbolic links to directories (so a link cannot make it loop).
struct TreeWalker {
    /// What to do with a directory the walk has reached.
    enum Decision { case descend, skip, stop }

    let rules: WatchRules

    /// Visits `start` (absolute, at `cursor`) and everything below it that the rules allow. `directory` is
    /// called for each directory before its entries are read (so a watch added there sees every later change);
    /// `file` for each file that matches, with the directory's descriptor for `fstatat`.
    /// Returns false when `directory` said `.stop`.
    @discardableResult
    func walk(
        _ start: String, at cursor: WatchRules.Cursor,
        directory: (String, WatchRules.Cursor) -> Decision,
        file: (
            _ directoryPath: String, _ cursor: WatchRules.Cursor, _ name: UnsafeBufferPointer<UInt8>,
            _ directoryFD: Int32
        ) -> Void
    ) -> Bool {
        var pending: [(String, WatchRules.Cursor)] = [(start, cursor)]
        while let (path, cursor) = pending.popLast() {
            switch directory(path, cursor) {
            case .stop: return false
            case .skip: continue
            case .descend: break
            }
            guard let stream = opendir(path) else { continue }
            defer { closeDirectory(stream) }
            let fd = dirfd(stream)
            let nameOffset = MemoryLayout<dirent>.offset(of: \dirent.d_name)!
            while let entry = readdir(stream) {
                let namePointer = UnsafeRawPointer(entry).advanced(by: nameOffset).assumingMemoryBound(to: UInt8.self)
                let name = UnsafeBufferPointer(
                    start: namePointer, count: strlen(UnsafeRawPointer(namePointer).assumingMemoryBound(to: CChar.self))
                )
                if name.count <= 2 && name.allSatisfy({ $0 == UInt8(ascii: ".") }) { continue }
                var type = entry.pointee.d_type
                if type == UInt8(DT_UNKNOWN) {
                    // Some file systems do not fill in d_type.
                    var info = stat()
                    if fstatat(fd, namePointer, &info, AT_SYMLINK_NOFOLLOW) != 0 { continue }
                    type = (info.st_mode & S_IFMT) == S_IFDIR ? UInt8(DT_DIR) : UInt8(DT_REG)
                }
                if type == UInt8(DT_DIR) {
                    if let child = rules.enter(cursor, directory: name) {
                        pending.append((joinPath(path, String(decoding: name, as: UTF8.self)), child))
                    }
                } else if rules.matchesFile(cursor, name) {
                    file(path, cursor, name, fd)
                }
            }
        }
        return true
    }
}

/// `directory/name`, without doubling the slash of `/`.
func joinPath(_ directory: String, _ name: String) -> String {
    directory.hasSuffix("/") ? directory + name : directory + "/" + name
}
