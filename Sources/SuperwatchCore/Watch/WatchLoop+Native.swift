import CSuperwatchShim
#if canImport(Glibc)
import Glibc
#endif

/// inotify: one watch per directory that can hold a match (shared by every spec that walks it), plus the
/// parent directories of extra files, filtered by name so that an editor's rename over the file still counts.
extension WatchLoop {
    /// Watches spec `index`'s tree and extra files.
    func startNative(_ index: Int) throws(SuperwatchError) {
        watched[index].mode = .native
        if let cursor = watched[index].rules.rootCursor {
            try watchTree(index, watched[index].root, at: cursor, reportFiles: false)
        }
        for path in watched[index].extraFiles.sorted() {
            guard case .native = watched[index].mode else { return }
            try watchExtraFile(index, path)
        }
    }

    /// Watches `path` (at `cursor`) and every directory below it that can hold a match. With `reportFiles`,
    /// each matching file found counts as changed: the directory is new, and files made in it before its watch
    /// existed have produced no event.
    func watchTree(
        _ index: Int, _ path: String, at cursor: WatchRules.Cursor, reportFiles: Bool
    ) throws(SuperwatchError) {
        guard let inotify else { return }
        var failure: Int32?
        TreeWalker(rules: watched[index].rules).walk(
            path, at: cursor,
            directory: { directory, cursor in
                switch inotify.addWatch(directory) {
                case .success(let wd):
                    register(wd, directory) { $0.trees.removeAll { $0.spec == index }; $0.trees.append((index, cursor)) }
                    return .descend
                case .failure(let error) where error.code == ENOSPC || error.code == ENOMEM:
                    failure = error.code
                    return .stop
                case .failure:
                    return .skip  // gone already, not a directory, or not readable
                }
            },
            file: { _, cursor, name, _ in
                if reportFiles { change(index, cursor.childPath(String(decoding: name, as: UTF8.self))) }
            })
        if let failure { try fallBack(index, syscall: "inotify_add_watch", errno: failure) }
    }

    /// Watches the directory of extra file `path` for spec `index`. Throws only while `init` runs.
    func watchExtraFile(_ index: Int, _ path: String) throws(SuperwatchError) {
        guard let inotify, let slash = path.lastIndex(of: "/") else { return }
        let directory = slash == path.startIndex ? "/" : String(path[..<slash])
        let name = String(path[path.index(after: slash)...])
        switch inotify.addWatch(directory) {
        case .success(let wd):
            register(wd, directory) { $0.extraNames[index, default: []].insert(name) }
        case .failure(let error) where error.code == ENOSPC || error.code == ENOMEM:
            try fallBack(index, syscall: "inotify_add_watch", errno: error.code)
        case .failure:
            break  // no such directory: nothing to watch
        }
    }

    /// Records what watch `wd` on `path` is for.
    private func register(_ wd: Int32, _ path: String, _ update: (inout WatchedDirectory) -> Void) {
        if let previous = descriptorByPath[path], previous != wd { directories[previous] = nil }
        if let existing = directories[wd], existing.path != path {
            // The same directory under a new name (it was moved): start over.
            descriptorByPath[existing.path] = nil
            directories[wd] = nil
        }
        descriptorByPath[path] = wd
        update(&directories[wd, default: WatchedDirectory(path: path)])
    }

    /// Drops every watch interest of spec `index`, removing watches nobody else needs.
    func forgetNativeWatches(of index: Int) {
        for (wd, var directory) in directories {
            directory.trees.removeAll { $0.spec == index }
            directory.extraNames[index] = nil
            if directory.isUnused {
                inotify?.removeWatch(wd)
                directories[wd] = nil
                descriptorByPath[directory.path] = nil
            } else {
                directories[wd] = directory
            }
        }
    }

    /// Drops the watches of `path` and everything below it (it was moved away or deleted).
    private func forgetSubtree(_ path: String) {
        let prefix = path + "/"
        let gone = descriptorByPath.filter { $0.key == path || $0.key.hasPrefix(prefix) }
        for (path, wd) in gone {
            inotify?.removeWatch(wd)
            directories[wd] = nil
            descriptorByPath[path] = nil
        }
    }

    /// Acts on one inotify event.
    func handle(_ event: Inotify.Event) {
        if event.has(IN_Q_OVERFLOW) {
            rescanAfterOverflow()
            return
        }
        guard let directory = directories[event.wd] else { return }
        if event.has(IN_IGNORED) {
            // The kernel dropped the watch: the directory is gone.
            directories[event.wd] = nil
            if descriptorByPath[directory.path] == event.wd { descriptorByPath[directory.path] = nil }
            return
        }
        if event.has(IN_DELETE_SELF) || event.has(IN_MOVE_SELF) {
            for (index, cursor) in directory.trees where cursor.path.isEmpty {
                notice(index, "watched directory \(directory.path) was \(event.has(IN_MOVE_SELF) ? "moved" : "deleted"); "
                    + "its file changes are no longer noticed")
            }
            if event.has(IN_MOVE_SELF) { forgetSubtree(directory.path) }
            return
        }
        if event.name.isEmpty { return }
        let path = joinPath(directory.path, event.name)
        if event.has(IN_ISDIR) {
            handleDirectoryEvent(event, path: path, in: directory)
            return
        }
        let trees = directory.trees.filter { watched[$0.spec].rules.matchesFile($0.cursor, event.name) }
        let extras = directory.extraNames.filter { $0.value.contains(event.name) }.map(\.key)
        if trees.isEmpty && extras.isEmpty { return }
        if event.has(IN_CREATE) && !isLinkOrExtraLink(path) {
            // A new regular file: not a change until it has been written (its IN_CLOSE_WRITE follows), but if
            // it is gone again within the burst it was only a temporary file.
            for (index, cursor) in trees { watched[index].burst.noteCreated(cursor.childPath(event.name)) }
            return
        }
        let removed = event.has(IN_DELETE) || event.has(IN_MOVED_FROM)
        for (index, cursor) in trees { change(index, cursor.childPath(event.name), removed: removed) }
        for index in extras.sorted() { change(index, displayPath(path, for: index), removed: removed) }
    }

    private func handleDirectoryEvent(_ event: Inotify.Event, path: String, in directory: WatchedDirectory) {
        if event.has(IN_DELETE) || event.has(IN_MOVED_FROM) {
            // A deleted tree's files were reported one by one; a moved-away tree's files vanished at once.
            if event.has(IN_MOVED_FROM) {
                for (index, cursor) in directory.trees {
                    if let child = watched[index].rules.enter(cursor, directory: event.name) { change(index, child.path) }
                }
            }
            forgetSubtree(path)
        }
        if event.has(IN_CREATE) || event.has(IN_MOVED_TO) {
            for (index, cursor) in directory.trees {
                guard case .native = watched[index].mode,
                      let child = watched[index].rules.enter(cursor, directory: event.name) else { continue }
                // Falling back only throws while `init` runs.
                try? watchTree(index, path, at: child, reportFiles: true)
            }
        }
    }

    /// Whether a just-created entry is a symbolic link or a new hard link, which are complete at once.
    private func isLinkOrExtraLink(_ path: String) -> Bool {
        var info = stat()
        guard lstat(path, &info) == 0 else { return false }
        let type = info.st_mode & S_IFMT
        return type == S_IFLNK || (type == S_IFREG && info.st_nlink > 1)
    }

    /// The kernel dropped events: watch whatever directories appeared meanwhile and count it as a change.
    private func rescanAfterOverflow() {
        for index in watched.indices {
            guard case .native = watched[index].mode else { continue }
            if let cursor = watched[index].rules.rootCursor {
                try? watchTree(index, watched[index].root, at: cursor, reportFiles: false)
            }
            change(index, ".")
        }
    }
}
