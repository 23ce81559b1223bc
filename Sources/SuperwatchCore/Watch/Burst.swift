/// One process's debounce state: the changes seen since the burst began, and when it ends if nothing else
/// changes. A plain value, driven by the watcher thread with the time it reads once per wake-up.
struct Burst {
    private(set) var paths: [String] = []
    private var seen: Set<String> = []
    /// When the burst settles; nil between bursts.
    private(set) var deadline: ContinuousClock.Instant?

    /// Records a change at `now`, pushing the deadline to `now + debounce`. Returns true when it opens a
    /// burst (the caller reports that one at once).
    mutating func record(_ path: String, at now: ContinuousClock.Instant, debounce: Duration) -> Bool {
        let opens = deadline == nil
        if seen.insert(path).inserted { paths.append(path) }
        deadline = now + debounce
        return opens
    }

    /// The burst's paths when its deadline has passed (and the burst closes), else nil.
    mutating func settle(at now: ContinuousClock.Instant) -> [String]? {
        guard let deadline, deadline <= now else { return nil }
        defer { self = Burst() }
        return paths
    }
}
