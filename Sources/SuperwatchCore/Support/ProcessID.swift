/// The identity of one configured process (one replica counts as one process) for the whole life of `up`:
/// the supervisor, the watcher, the I/O loop and the log formatter name a process by this, never by a bare
/// array index, so that a message can always say which process it is about.
public struct ProcessID: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The process's position in `Config.processes`: stable for the life of a `Config`.
    public let index: Int

    public init(_ index: Int) { self.index = index }

    public static func < (lhs: ProcessID, rhs: ProcessID) -> Bool { lhs.index < rhs.index }

    public var description: String { "process #\(index)" }
}
