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
        try bind(for: processes, keeping: HeldSockets(), unchanged: [])
    }

    /// The sockets of `processes` (by process index; nil: a process a live reload removed, which gets none) on
    /// a live reload. A process in `unchanged` (its `listen:` is as it was) keeps its sockets from `current`;
    /// another keeps those of its addresses it had, takes over an address another process gave up (a port
    /// other than 0), and binds the rest. So an address a running process keeps is in use for any other, as it
    /// is when `up` starts. A failure is thrown before anything changes (what was bound is closed again).
    static func bind(
        for processes: [ProcessSpec?], keeping current: HeldSockets, unchanged: Set<ProcessID>
    ) throws(SuperwatchError) -> HeldSockets {
        func key(_ address: ListenAddress) -> String? { address.isReusable ? "\(address)" : nil }
        // The sockets whose process no longer asks for their address.
        var released: [String: HeldSocket] = [:]
        for (index, sockets) in current.byProcess.enumerated() where !unchanged.contains(ProcessID(index)) {
            let wanted = Set(
                processes.indices.contains(index) ? processes[index]?.listen.compactMap { key($0.address) } ?? [] : [])
            for socket in sockets {
                if let address = key(socket.requested), !wanted.contains(address) { released[address] = socket }
            }
        }
        var held = HeldSockets()
        var shared: [String: [HeldSocket]] = [:]
        for (index, process) in processes.enumerated() {
            guard let process else {
                held.byProcess.append([])
                continue
            }
            if let base = process.replicaOf, let existing = shared[base] {
                held.byProcess.append(existing)
                continue
            }
            var mine: [HeldSocket] = []
            if unchanged.contains(ProcessID(index)) {
                mine = current[ProcessID(index)]
            } else {
                let own = Dictionary(
                    current[ProcessID(index)].compactMap { socket in
                        key(socket.requested).map { ($0, socket) }
                    }
                ) { first, _ in first }
                for listen in process.listen {
                    if let address = key(listen.address),
                        let socket = own[address] ?? released.removeValue(forKey: address)
                    {
                        mine.append(socket)
                        continue
                    }
                    do {
                        mine.append(try HeldSocket.bind(listen.address))
                    } catch {
                        var located = error
                        located.location = listen.location
                        throw located
                    }
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

extension ListenAddress {
    /// Whether a socket bound for this address can serve a later request for the same address: not a TCP
    /// port 0, which asks for a new port each time.
    fileprivate var isReusable: Bool {
        if case .tcp(_, 0) = self { return false }
        return true
    }
}
