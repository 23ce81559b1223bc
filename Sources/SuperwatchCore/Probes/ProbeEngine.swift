import CSuperwatchShim
import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// The probe engine: one thread that runs every tcp, http and accept-queue probe of the stack as non-blocking
/// state machines (`SocketProbe`) on one epoll set, with every deadline and due attempt kept by the one
/// timeout of `epoll_wait`. A probe costs its socket calls and nothing else: no task, no thread hop, no actor
/// hop per attempt. Verdicts go to the supervisor only when they change what it must do (`ProbeSchedule`):
/// ready, not ready in time, unhealthy; a passing liveness attempt is not reported.
///
/// Wake-ups: each probe's attempts are due on a grid of its period, shifted by an offset that spreads the probes
/// of one server evenly over the period, and a wake-up starts every attempt due within a short window
/// (`Job.window`: a hundredth of the period, at most 2 ms). Probes of different servers share the grid, so a
/// stack's probes cost a few wake-ups per period, not one each. Probes of one server are spread rather than
/// sent at one instant: fifty at once overflowed its listen backlog (Python's http.server has 5), and a dropped
/// SYN is retried only after a second, past the period.
///
/// Thread confinement as in `IOLoop`: everything but `mailbox` and `nextID` is touched only by the engine
/// thread (asserted in debug builds); other threads send messages.
final class ProbeEngine: @unchecked Sendable {
    private let epoll: OwnedDescriptor
    private let mailbox: Mailbox<Message>
    private let confinement = ThreadConfinement("superwatch-probes")
    private let nextID = Atomic<UInt64>(1)
    private let onFailure: @Sendable (SuperwatchError) -> Void
    /// The grid's origin.
    private let epoch = ContinuousClock.now

    private enum Message: Sendable {
        case add(Job)
        case remove(UInt64)
        /// One attempt of a probe added without a schedule; the result goes to the callback.
        case attempt(UInt64, period: Duration, then: @Sendable (ProbeResult) -> Void)
        case stop
    }

    /// One probe: made by the sender, then touched by the engine thread only.
    private final class Job: @unchecked Sendable {
        let id: UInt64
        let probe: SocketProbe
        /// nil for a probe attempted on request (`attempt`).
        var schedule: ProbeSchedule?
        /// The schedule's period and how early an attempt may start (`window`), kept apart so that the scan of
        /// every probe at each wake-up copies no schedule.
        let period: Duration
        /// Nanoseconds (the engine keeps its times as nanoseconds since `epoch`: `ContinuousClock.Instant` is
        /// opaque outside the standard library, so each comparison of two was a generic call and two copies).
        let window: Int64
        let report: @Sendable (ProbeVerdict) -> Void
        /// When the next attempt is due; nil while one is in flight (or, without a schedule, none is asked for).
        var due: Int64?
        /// The attempt in flight: when it was due (its schedule counts the period from there) and its deadline.
        var began = ContinuousClock.now
        var deadline: Int64?
        /// Where the result of an attempt asked for goes.
        var requested: (@Sendable (ProbeResult) -> Void)?
        /// How many probes of the same server there were when this one was added: its place on the grid.
        var slot = 0

        init(
            id: UInt64, probe: SocketProbe, schedule: ProbeSchedule?, report: @escaping @Sendable (ProbeVerdict) -> Void
        ) {
            self.id = id
            self.probe = probe
            self.schedule = schedule
            self.report = report
            period = schedule?.period ?? .zero
            window = ProbeEngine.nanoseconds(min(period / 100, .milliseconds(2)))
        }
    }

    // Engine-thread state.
    private var jobs: [UInt64: Job] = [:]
    /// The earliest deadline or due attempt of any job, as of the last scan; a scan is needed again only after
    /// one of them changed (`timersChanged`). Most wake-ups are a connection's events, not a timer's: without
    /// this, each of them looked at every job twice.
    private var earliest: Int64?
    private var timersChanged = true
    private var running = true

    /// `onFailure`: epoll failed, so no probe can run any more (said once, from the engine thread).
    init(onFailure: @escaping @Sendable (SuperwatchError) -> Void) throws(SuperwatchError) {
        self.onFailure = onFailure
        epoll = OwnedDescriptor(
            takingOwnershipOf: try retryingEINTR("epoll_create1") { epoll_create1(Int32(EPOLL_CLOEXEC)) })
        mailbox = try Mailbox()
        var event = epoll_event()
        event.events = EPOLLIN.rawValue
        event.data.u64 = 0  // job ids start at 1
        try retryingEINTR("epoll_ctl") { epoll_ctl(epoll.rawValue, EPOLL_CTL_ADD, mailbox.fd, &event) }
    }

    /// Starts the engine thread.
    func start() {
        let thread = Thread { [self] in
            confinement.claim()
            run()
        }
        thread.name = "superwatch-probes"
        thread.start()
    }

    /// Probes `target` (a socket kind) on `schedule` until its verdict ends probing or `remove`; returns the
    /// probe's id, or nil for a target the engine does not attempt.
    func add(
        _ target: ProbeTarget, schedule: ProbeSchedule, report: @escaping @Sendable (ProbeVerdict) -> Void
    ) -> UInt64? {
        guard let probe = SocketProbe(target) else { return nil }
        let id = nextID.add(1, ordering: .relaxed).oldValue
        mailbox.send(.add(Job(id: id, probe: probe, schedule: schedule, report: report)))
        return id
    }

    /// Adds `target` to be attempted only when asked (`attempt`), keeping what a probe keeps between attempts.
    func addOnRequest(_ target: ProbeTarget) -> UInt64? {
        guard let probe = SocketProbe(target) else { return nil }
        let id = nextID.add(1, ordering: .relaxed).oldValue
        mailbox.send(.add(Job(id: id, probe: probe, schedule: nil, report: { _ in })))
        return id
    }

    /// One attempt of probe `id` (added with `addOnRequest`), bounded by `period`.
    func attempt(_ id: UInt64, period: Duration) async -> ProbeResult {
        await withCheckedContinuation { done in
            mailbox.send(.attempt(id, period: period, then: { done.resume(returning: $0) }))
        }
    }

    /// Ends probe `id`: no attempt starts any more, one in flight is dropped and its connection closed.
    func remove(_ id: UInt64) { mailbox.send(.remove(id)) }

    /// Ends every probe and the engine thread.
    func stop() { mailbox.send(.stop) }

    // MARK: - Engine thread

    private func run() {
        confinement.assertOnOwner()
        var events = [epoll_event](repeating: epoll_event(), count: 64)
        do throws(SuperwatchError) {
            while running {
                let timeout = nextTimeout(now: .now)
                let count = try retryingEINTR("epoll_wait") {
                    epoll_wait(epoll.rawValue, &events, Int32(events.count), timeout)
                }
                var now = ContinuousClock.now
                for index in 0..<Int(count) {
                    let key = events[index].data.u64
                    if key == 0 {
                        try handleInbox(now: now)
                        now = .now
                    } else if let job = jobs[key], let step = job.probe.ready() {
                        try advance(job, step, now: now)
                    }
                }
                try fireTimers(now: .now)
            }
        } catch {
            onFailure(
                SuperwatchError(
                    error.code, "cannot wait for probe connections any more (\(error.message)); stopping all processes"
                ))
        }
        for job in jobs.values { job.probe.closeConnection() }
        jobs.removeAll()
    }

    private func handleInbox(now: ContinuousClock.Instant) throws(SuperwatchError) {
        confinement.assertOnOwner()
        timersChanged = true
        for message in mailbox.receive() {
            switch message {
            case .add(let job):
                if let endpoint = job.probe.target.endpoint {
                    job.slot = jobs.values.count { $0.probe.target.endpoint == endpoint }
                }
                jobs[job.id] = job
                if let schedule = job.schedule {
                    // Liveness starts on the grid, with the other probes of its period; readiness at once.
                    let first = schedule.firstAttempt
                    job.due = sinceEpoch(schedule.role == .liveness ? aligned(first, job) : first)
                }
            case .remove(let id):
                jobs.removeValue(forKey: id)?.probe.closeConnection()
            case .attempt(let id, let period, let then):
                guard let job = jobs[id], job.deadline == nil else {
                    then(.failed("no such probe, or an attempt of it is in flight"))
                    continue
                }
                job.requested = then
                try begin(job, due: now, period: period, now: now)
            case .stop:
                running = false
            }
        }
    }

    /// Fails the attempts whose deadline passed, and starts those due now or within the window.
    private func fireTimers(now: ContinuousClock.Instant) throws(SuperwatchError) {
        confinement.assertOnOwner()
        // A window is at most 2 ms, so nothing can be due before `earliest` less that.
        let nowNanoseconds = sinceEpoch(now)
        if !timersChanged, earliest.map({ $0 > nowNanoseconds + 2_000_000 }) ?? true { return }
        timersChanged = true
        for job in jobs.values {
            if let deadline = job.deadline {
                guard nowNanoseconds >= deadline else { continue }
                try finish(job, job.probe.timedOut(), now: now)
            } else if let due = job.due, due <= nowNanoseconds + job.window {
                try begin(job, due: epoch + .nanoseconds(due), period: job.period, now: now)
            }
        }
    }

    /// The first point of `job`'s grid at or after `instant`, less the window (an instant just past a grid
    /// point, such as the end of an attempt that timed out, keeps that point). The grid's offset is the
    /// fractional part of the probe's slot times the golden ratio: the probes of one server are spread evenly
    /// over the period (a dev server's listen backlog may be 5), those of different servers share wake-ups.
    private func aligned(_ instant: ContinuousClock.Instant, _ job: Job) -> ContinuousClock.Instant {
        let periodNanoseconds = Self.nanoseconds(job.period)
        guard periodNanoseconds > 0 else { return instant }
        let fraction = (Double(job.slot) * 0.618_033_988_749_895).truncatingRemainder(dividingBy: 1)
        let origin = epoch + .nanoseconds(Int64(fraction * Double(periodNanoseconds)))
        let since = Self.nanoseconds(instant - origin) - job.window
        let steps = since <= 0 ? 0 : (since + periodNanoseconds - 1) / periodNanoseconds
        return origin + .nanoseconds(steps * periodNanoseconds)
    }

    private func sinceEpoch(_ instant: ContinuousClock.Instant) -> Int64 { Self.nanoseconds(instant - epoch) }

    fileprivate static func nanoseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }

    private func begin(
        _ job: Job, due: ContinuousClock.Instant, period: Duration, now: ContinuousClock.Instant
    ) throws(SuperwatchError) {
        timersChanged = true
        job.due = nil
        // Its period counts from its due time, so that it stays on the grid (started early or late).
        job.began = due
        job.deadline = sinceEpoch(now) + Self.nanoseconds(period)
        try advance(job, job.probe.begin(), now: now)
    }

    /// Carries out what the probe's last step asked for.
    private func advance(_ job: Job, _ step: SocketProbe.Step, now: ContinuousClock.Instant) throws(SuperwatchError) {
        switch step {
        case .waitFor(let events):
            var event = epoll_event()
            event.events = events
            event.data.u64 = job.id
            let operation = job.probe.registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD
            try retryingEINTR("epoll_ctl") { epoll_ctl(epoll.rawValue, operation, job.probe.fd, &event) }
            job.probe.registered = true
        case .finished(let result):
            if job.probe.registered {
                // The accept-queue probe keeps its connection for the next attempt, out of the set meanwhile.
                try retryingEINTR("epoll_ctl") { epoll_ctl(epoll.rawValue, EPOLL_CTL_DEL, job.probe.fd, nil) }
                job.probe.registered = false
            }
            try finish(job, result, now: now)
        }
    }

    /// An attempt ended: its result goes to whoever asked for it, or to the schedule, which says whether the
    /// supervisor hears of it and when the next attempt is due.
    private func finish(_ job: Job, _ result: ProbeResult, now: ContinuousClock.Instant) throws(SuperwatchError) {
        timersChanged = true
        job.deadline = nil
        if let requested = job.requested {
            job.requested = nil
            requested(result)
            return
        }
        guard var schedule = job.schedule else { return }
        let (verdict, next) = schedule.record(result, began: job.began, now: now)
        job.schedule = schedule
        if verdict != .keepProbing { job.report(verdict) }
        guard let next else {
            jobs.removeValue(forKey: job.id)?.probe.closeConnection()
            return
        }
        job.due = sinceEpoch(aligned(next, job))
    }

    /// Milliseconds until the earliest deadline or due attempt (rounded up: waking early would only wait
    /// again); -1 when nothing is due.
    private func nextTimeout(now: ContinuousClock.Instant) -> Int32 {
        confinement.assertOnOwner()
        if timersChanged {
            earliest = nil
            for job in jobs.values {
                guard let instant = job.deadline ?? job.due else { continue }
                if earliest.map({ instant < $0 }) ?? true { earliest = instant }
            }
            timersChanged = false
        }
        guard let earliest else { return -1 }
        let left = earliest - sinceEpoch(now)
        guard left > 0 else { return 0 }
        return Int32(clamping: (left + 999_999) / 1_000_000)
    }
}
