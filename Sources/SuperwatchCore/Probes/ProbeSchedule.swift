/// Which question a probe answers for a run.
enum ProbeRole: Sendable, Equatable {
    /// `ready:` (or the held socket's default): probed from the start until it passes.
    case readiness
    /// `health:`: probed once the run is ready, for as long as it runs.
    case liveness
}

/// What a run of probe results means for the process; only changes are reported to the supervisor.
enum ProbeVerdict: Sendable, Equatable {
    /// Nothing to report; the next attempt is due at the given time.
    case keepProbing
    /// The readiness probe passed: probing for readiness is over.
    case ready
    /// `ready_timeout` passed without a pass (said once; probing goes on, and a later pass still counts).
    case notReadyInTime(lastError: String)
    /// `failures` liveness attempts in a row failed: the process is to be restarted, and probing is over.
    case unhealthy(failures: Int, lastError: String)
}

/// When to probe a run and what its results mean, as a pure value: the probe task feeds it each attempt's
/// result with the time, and it answers with the verdict and when the next attempt is due. An attempt starts
/// one period after the previous one started, or at once when that one took the whole period (its timeout),
/// so attempts never overlap.
struct ProbeSchedule: Sendable, Equatable {
    let role: ProbeRole
    let period: Duration
    /// Readiness: how long after the run's start the probe may take; liveness: unused.
    let readyTimeout: Duration
    /// Liveness: how many failures in a row mean unhealthy.
    let failuresAllowed: Int
    let runStarted: ContinuousClock.Instant
    private(set) var consecutiveFailures = 0
    private(set) var saidNotReady = false
    private(set) var finished = false

    init(readinessOf spec: ProcessSpec, startedAt: ContinuousClock.Instant) {
        role = .readiness
        period = spec.readyPeriod
        readyTimeout = spec.readyTimeout
        failuresAllowed = 0
        runStarted = startedAt
    }

    init(liveness check: HealthCheck, startedAt: ContinuousClock.Instant) {
        role = .liveness
        period = check.period
        readyTimeout = .zero
        failuresAllowed = check.failures
        runStarted = startedAt
    }

    /// When the first attempt is due: at once for readiness (a fast program is ready at its first attempt),
    /// one period in for liveness (it just became ready).
    var firstAttempt: ContinuousClock.Instant { role == .readiness ? runStarted : runStarted + period }

    /// An attempt that began at `began` ended with `result` at `now`: what it means, and when the next one is
    /// due (nil when probing is over).
    mutating func record(_ result: ProbeResult, began: ContinuousClock.Instant, now: ContinuousClock.Instant)
        -> (verdict: ProbeVerdict, next: ContinuousClock.Instant?)
    {
        guard !finished else { return (.keepProbing, nil) }
        let next = max(began + period, now)
        switch (role, result) {
        case (.readiness, .passed):
            finished = true
            return (.ready, nil)
        case (.readiness, .failed(let error)):
            if !saidNotReady && now - runStarted >= readyTimeout {
                saidNotReady = true
                return (.notReadyInTime(lastError: error), next)
            }
            return (.keepProbing, next)
        case (.liveness, .passed):
            consecutiveFailures = 0
            return (.keepProbing, next)
        case (.liveness, .failed(let error)):
            consecutiveFailures += 1
            guard consecutiveFailures >= failuresAllowed else { return (.keepProbing, next) }
            finished = true
            return (.unhealthy(failures: consecutiveFailures, lastError: error), nil)
        }
    }

    /// For a probe that is not attempted (`log`): `ready_timeout` is due at this time.
    var readyDeadline: ContinuousClock.Instant { runStarted + readyTimeout }
}
