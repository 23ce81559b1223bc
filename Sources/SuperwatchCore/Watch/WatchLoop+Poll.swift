#if canImport(Glibc)
    import Glibc
#endif

/// What polling compares: a file's modification time (ns), size and inode. An editor's atomic save changes
/// the inode even when the size and a coarse mtime stay the same.
struct FileStamp: Equatable {
    var modified: Int64
    var size: Int64
    var inode: UInt64

    init(_ info: stat) {
        modified = Int64(info.st_mtim.tv_sec) * 1_000_000_000 + Int64(info.st_mtim.tv_nsec)
        size = Int64(info.st_size)
        inode = UInt64(info.st_ino)
    }

    /// The stamp of the file at `path` (following links), or nil when there is none.
    init?(_ path: String) {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        self.init(info)
    }
}

/// A polling spec's last picture of its files and when to look again.
struct PollState {
    /// Keyed by the path as reported (see `WatchLoop.displayPath`).
    var files: [String: FileStamp]
    var due: ContinuousClock.Instant
}

/// Polling: every `interval`, walk the tree again and compare each matching file's stamp.
extension WatchLoop {
    /// Switches spec `index` to polling, taking the baseline now.
    func startPolling(_ index: Int) {
        var files: [String: FileStamp] = [:]
        for (path, stamp) in snapshot(index) { files[path] = stamp }
        watched[index].mode = .polling(PollState(files: files, due: clock.now + watched[index].spec.interval))
    }

    /// Compares spec `index`'s files with the last picture; new, changed and deleted files are changes.
    func pollNow(_ index: Int, at now: ContinuousClock.Instant) {
        guard case .polling(var state) = watched[index].mode else { return }
        let current = snapshot(index)
        var previous = state.files
        state.files = Dictionary(minimumCapacity: current.count)
        var changed: [String] = []
        for (path, stamp) in current {
            if previous.removeValue(forKey: path) != stamp { changed.append(path) }
            state.files[path] = stamp
        }
        state.due = now + watched[index].spec.interval
        watched[index].mode = .polling(state)
        for path in changed { change(index, path) }
        for path in previous.keys.sorted() { change(index, path, removed: true) }
    }

    /// Every matching file of spec `index` and every existing extra file, with its stamp, in walk order.
    private func snapshot(_ index: Int) -> [(String, FileStamp)] {
        var result: [(String, FileStamp)] = []
        var seen: Set<String> = []
        if let cursor = watched[index].rules.rootCursor {
            TreeWalker(rules: watched[index].rules).walk(
                watched[index].root, at: cursor, directory: { _, _ in .descend },
                file: { _, cursor, name, directoryFD in
                    var info = stat()
                    // The walker hands over the dirent's own name, which is NUL-terminated.
                    let cName = UnsafeRawPointer(name.baseAddress!).assumingMemoryBound(to: CChar.self)
                    guard fstatat(directoryFD, cName, &info, 0) == 0 else { return }
                    let path = cursor.childPath(String(decoding: name, as: UTF8.self))
                    seen.insert(path)
                    result.append((path, FileStamp(info)))
                })
        }
        for file in watched[index].extraFiles.sorted() {
            let path = displayPath(file, for: index)
            if !seen.contains(path), let stamp = FileStamp(file) { result.append((path, stamp)) }
        }
        return result
    }
}
