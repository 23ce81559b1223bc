/// One process's debounce state: the changes seen since the burst began, and when it ends if nothing else
/// changes. A plain value, driven by the watcher thread.
///
/// A file created and removed again within a burst (an editor's or Foundation's temporary file, renamed over
/// the real one) is left out of the settled paths, unless nothing else changed.
struct Burst {
    private(set) var paths: [String] = []
    private var seen: Set<String> = []
    /// Files whose creation was seen (before or during the burst), and those of them gone again.
    private var created: Set<String> = []
    private var transient: Set<String> = []
    /// When the burst settles; nil between bursts.
    private(set) var deadline: ContinuousClock.Instant?

    /// Notes that `path` was just created (not a change yet: its contents follow).
    mutating func noteCreated(_ path: String) {
        created.insert(path)
    }

    /// Records a change at `now`, pushing the deadline to `now + debounce`. `removed`: the file is gone (deleted
    /// or renamed away). Returns true when it opens a burst (the caller reports that one at once).
    mutating func record(
        _ path: String, removed: Bool = false, at now: ContinuousClock.Instant, debounce: Duration
    ) -> Bool {
        let opens = deadline == nil
        if seen.insert(path).inserted { paths.append(path) }
        if removed {
            if created.contains(path) { transient.insert(path) }
        } else {
            transient.remove(path)
        }
        deadline = now + debounce
        return opens
    }

    /// The burst's paths when its deadline has passed (and the burst closes), else nil.
    mutating func settle(at now: ContinuousClock.Instant) -> [String]? {
        guard let deadline, deadline <= now else { return nil }
        defer { self = Burst() }
        if transient.isEmpty { return paths }
        let lasting = paths.filter { !transient.contains($0) }
        return lasting.isEmpty ? paths : lasting
    }
}
