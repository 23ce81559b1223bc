import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// The thread that owns some unlocked state (the I/O loop's, the stdout writer's), so that a debug build can
/// check that every method touching that state runs on it, as swift-nio's selector checks its event loop.
/// Release builds pay nothing: `assertOnOwner()` is an `assert`, which they compile out.
final class ThreadConfinement: Sendable {
    /// `pthread_self()` of the owner once `claim()` ran; 0 before.
    private let owner = Atomic<UInt>(0)
    /// Names the owning thread in the failure message.
    private let name: String

    init(_ name: String) { self.name = name }

    /// Makes the calling thread the owner. The owner's first act; called once.
    func claim() {
        let (exchanged, _) = owner.compareExchange(expected: 0, desired: UInt(pthread_self()), ordering: .relaxed)
        precondition(exchanged, "\(name): claimed by a second thread")
    }

    /// Whether the calling thread is the owner.
    var isOwner: Bool { pthread_equal(pthread_t(owner.load(ordering: .relaxed)), pthread_self()) != 0 }

    /// Stops a debug build when the calling thread is not the owner.
    @inline(__always)
    func assertOnOwner(file: StaticString = #fileID, line: UInt = #line) {
        assert(isOwner, "\(name): state confined to its thread touched from another one", file: file, line: line)
    }
}
