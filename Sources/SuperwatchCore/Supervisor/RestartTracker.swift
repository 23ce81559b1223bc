/// Decides what happens after a process exits on its own, following Werkzeug's reloader: an exit code in
/// `restart_codes` restarts at once and is not a failure; anything else goes to the restart policy, whose
/// restarts back off exponentially and give up after `max_restarts` in a row.
///
/// A restart code that comes back within a moment of every start, forever, would restart the process
/// hundreds of times a second: after `quickRestartLimit` such restarts in a row, each within `quickRun` of
/// its start, the next ones are treated as failures (the policy's backoff and limit apply) until a run lasts
/// longer.
public struct RestartTracker: Sendable, Equatable {
    /// What to do with a process that has just exited.
    public enum Decision: Sendable, Equatable {
        /// The exit code asked for a restart.
        case restartNow
        /// The policy restarts it after `delay`; this is policy restart number `attempt` in a row.
        case restartAfter(Duration, attempt: Int)
        /// The policy says it stays down.
        case stayDown
        /// `max_restarts` policy restarts in a row did not help.
        case giveUp
    }

    /// A run at least this long proves the process healthy again: backoff and failure count start over.
    public static let healthyRun: Duration = .seconds(10)
    /// Backoff never grows beyond this.
    public static let maximumBackoff: Duration = .seconds(30)

    /// A run shorter than this that asks for a restart counts towards a restart storm.
    public static let quickRun: Duration = .milliseconds(100)
    /// Restart-code restarts in a row, each after a quick run, that are restarted at once; the next ones are
    /// failures.
    public static let quickRestartLimit = 10

    /// Policy restarts in a row so far.
    public private(set) var consecutiveRestarts = 0
    /// Restart-code exits in a row after quick runs.
    public private(set) var quickRestarts = 0
    /// Whether the last decision was the first to treat a restart code as a failure (for a single log line):
    /// only that decision leaves the count just past the limit, every other one resets it or moves it on.
    public var stormBegan: Bool { quickRestarts == Self.quickRestartLimit + 1 }

    public init() {}

    public mutating func decide(_ status: Termination, ranFor: Duration, spec: ProcessSpec) -> Decision {
        if ranFor >= Self.healthyRun { consecutiveRestarts = 0 }
        var failed = status != .exited(0)
        if case .exited(let code) = status, spec.restartCodes.contains(code) {
            quickRestarts = ranFor < Self.quickRun ? quickRestarts + 1 : 0
            if quickRestarts <= Self.quickRestartLimit { return .restartNow }
            failed = true
        } else {
            quickRestarts = 0
        }
        switch spec.restart {
        case .never: return .stayDown
        case .onFailure where !failed: return .stayDown
        case .onFailure, .always:
            guard consecutiveRestarts < spec.maxRestarts else { return .giveUp }
            consecutiveRestarts += 1
            return .restartAfter(
                Self.delay(base: spec.backoff, attempt: consecutiveRestarts), attempt: consecutiveRestarts)
        }
    }

    /// Forgets past failures (a file change brought the process back).
    public mutating func reset() {
        consecutiveRestarts = 0
        quickRestarts = 0
    }

    /// `base`, doubled for each attempt after the first, capped at `maximumBackoff`.
    public static func delay(base: Duration, attempt: Int) -> Duration {
        var delay = base
        for _ in 1..<max(1, attempt) {
            delay *= 2
            if delay >= maximumBackoff { return maximumBackoff }
        }
        return min(delay, maximumBackoff)
    }
}
