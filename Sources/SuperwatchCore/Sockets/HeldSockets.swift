/// The listening sockets of a whole stack, by process: bound before anything starts, so that a busy port
/// stops `up` with nothing started, and held for the whole life of `up`, so that connections wait in the
/// backlog while a process restarts. The replicas of one process share its sockets: bound once, passed to
/// each, so copies never race for an address.
struct HeldSockets: Sendable {
    private var byProcess: [[HeldSocket]] = []

    init() {}

    /// Binds every `listen:` address of `processes` (a `Config`'s, in order); an error carries the position
    /// of the address that failed.
    static func bind(for processes: [ProcessSpec]) throws(SuperwatchError) -> HeldSockets {
        var held = HeldSockets()
        var shared: [String: [HeldSocket]] = [:]
        for process in processes {
            if let base = process.replicaOf, let existing = shared[base] {
                held.byProcess.append(existing)
                continue
            }
            var mine: [HeldSocket] = []
            for listen in process.listen {
                do {
                    mine.append(try HeldSocket.bind(listen.address))
                } catch {
                    var located = error
                    located.location = listen.location
                    throw located
                }
            }
            held.byProcess.append(mine)
            if let base = process.replicaOf { shared[base] = mine }
        }
        return held
    }

    /// The sockets `process` gets as fds 3, 4, … (none when it has no `listen:`).
    subscript(process: ProcessID) -> [HeldSocket] {
        byProcess.indices.contains(process.index) ? byProcess[process.index] : []
    }

    /// Whether a process gets `WERKZEUG_SERVER_FD` (its first socket is TCP), and with it superwatch's
    /// `sitecustomize.py`.
    var anyServesWerkzeug: Bool { byProcess.contains { $0.first?.port != nil } }
}
