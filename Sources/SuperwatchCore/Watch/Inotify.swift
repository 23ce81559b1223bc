import CSuperwatchShim

#if canImport(Glibc)
    import Glibc
#endif

/// An inotify instance (`inotify_init1(IN_NONBLOCK | IN_CLOEXEC)`), owned: the descriptor is closed when this
/// is. Thread confinement: used only by its `FileWatcher`'s thread (or, before that starts, by the thread that
/// creates the watcher).
final class Inotify {
    /// The events a watched directory reports. File contents count when a writer closes the file
    /// (`IN_CLOSE_WRITE`), not on each write, so a slow writer still makes one change; `IN_CREATE` is only
    /// used for directories, links and special files (a created regular file is followed by its
    /// `IN_CLOSE_WRITE`). `IN_EXCL_UNLINK`: nothing from files already deleted but still open.
    static let directoryMask: UInt32 = UInt32(
        IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE | IN_ATTRIB | IN_DELETE_SELF
            | IN_MOVE_SELF | IN_ONLYDIR | IN_EXCL_UNLINK)

    /// The instance; closing it drops every watch.
    private let descriptor: OwnedDescriptor
    var fd: Int32 { descriptor.rawValue }
    /// For tests: the number of watches after which `addWatch` fails with ENOSPC, as the kernel does at
    /// `fs.inotify.max_user_watches`.
    private let watchLimit: Int?
    private var watches: Set<Int32> = []

    /// One event, with the name (empty for events about the watched directory itself).
    struct Event {
        var wd: Int32
        var mask: UInt32
        var name: String

        func has(_ flag: Int32) -> Bool { mask & UInt32(flag) != 0 }
    }

    init(watchLimit: Int? = nil) throws(SuperwatchError) {
        self.watchLimit = watchLimit
        descriptor = OwnedDescriptor(
            takingOwnershipOf: try retryingEINTR("inotify_init1") { inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC)) })
    }

    /// `inotify_add_watch` for a directory: the watch descriptor (the same one again for a directory already
    /// watched), or the errno.
    func addWatch(_ path: String) -> Result<Int32, Errno> {
        let wd = inotify_add_watch(fd, path, Inotify.directoryMask)
        guard wd >= 0 else { return .failure(.current) }
        if let watchLimit {
            if !watches.contains(wd) && watches.count >= watchLimit {
                removeWatch(wd)
                return .failure(.noSpace)
            }
            watches.insert(wd)
        }
        return .success(wd)
    }

    /// `inotify_rm_watch`; a watch the kernel already dropped (its directory was deleted) is fine.
    func removeWatch(_ wd: Int32) {
        do {
            try retryingEINTR("inotify_rm_watch") { inotify_rm_watch(fd, wd) }
        } catch {
            // ignored: EINVAL, the only failure left (EBADF stops superwatch): the kernel dropped the watch already.
            _ = error
        }
        watches.remove(wd)
    }

    /// Reads every queued event into `events` (empty when none is queued).
    func read(into events: inout [Event], buffer: UnsafeMutableRawBufferPointer) {
        events.removeAll(keepingCapacity: true)
        while true {
            let count: Int
            do {
                count = try retryingEINTR("read(inotify)") { Glibc.read(fd, buffer.baseAddress, buffer.count) }
            } catch {
                // EAGAIN: nothing more is queued. Anything else (EINVAL for a buffer smaller than one event, EFAULT)
                // is a bug in this function, not a condition of the system.
                precondition(error.code == .system(syscall: "read(inotify)", errno: .wouldBlock), error.message)
                return
            }
            if count == 0 { return }
            var offset = 0
            let headerSize = MemoryLayout<inotify_event>.size
            while offset + headerSize <= count {
                let base = UnsafeRawPointer(buffer.baseAddress!).advanced(by: offset)
                let wd = base.loadUnaligned(fromByteOffset: 0, as: Int32.self)
                let mask = base.loadUnaligned(fromByteOffset: 4, as: UInt32.self)
                let length = Int(base.loadUnaligned(fromByteOffset: 12, as: UInt32.self))
                var name = ""
                if length > 0 {
                    let bytes = base.advanced(by: headerSize).assumingMemoryBound(to: UInt8.self)
                    name = String(
                        decoding: UnsafeBufferPointer(
                            start: bytes,
                            count: strnlen(UnsafeRawPointer(bytes).assumingMemoryBound(to: CChar.self), length)),
                        as: UTF8.self)
                }
                events.append(Event(wd: wd, mask: mask, name: name))
                offset += headerSize + length
            }
        }
    }
}
