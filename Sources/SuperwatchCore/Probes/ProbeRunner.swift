import Synchronization

/// Runs the probes the probe engine does not (`ProbeEngine` runs the socket kinds), as one task off the
/// supervisor actor: an `exec` probe's attempts one after the other (never overlapping, each bounded by the
/// period), sleeping in between, reporting only verdicts that change something (`ProbeSchedule`); a `log`
/// probe's watch of the output. Cancelled when the run stops or ends.
enum ProbeRunner {
    static func run(
        _ target: ProbeTarget, schedule initial: ProbeSchedule, report: @Sendable (ProbeVerdict) -> Void
    ) async {
        var schedule = initial
        var due = schedule.firstAttempt
        while true {
            do { try await Task.sleep(until: due, clock: .continuous) } catch { return }  // cancelled
            let began = ContinuousClock.now
            let result = await target.attempt(until: began + schedule.period)
            guard !Task.isCancelled else { return }
            let (verdict, next) = schedule.record(result, began: began, now: .now)
            if verdict != .keepProbing { report(verdict) }
            guard let next else { return }
            due = next
        }
    }

    /// A `log:` readiness probe: ready at the first line of the run's output that `pattern` matches, among the
    /// lines it wrote before the probe subscribed (`earlier`: a woken standby interpreter may have printed its
    /// ready line already) and then `lines` (the batches of the subscription); at `ready_timeout`, says so once
    /// and keeps watching.
    static func watchLog(
        _ pattern: LogPattern, earlier: [LogRecord], lines: AsyncStream<[LogRecord]>, schedule: ProbeSchedule,
        report: @escaping @Sendable (ProbeVerdict) -> Void
    ) async {
        if earlier.contains(where: { $0.stream != .event && pattern.matches($0.text) }) {
            report(.ready)
            return
        }
        await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                for await batch in lines
                where batch.contains(where: { $0.stream != .event && pattern.matches($0.text) }) {
                    return true
                }
                return false
            }
            group.addTask {
                do { try await Task.sleep(until: schedule.readyDeadline, clock: .continuous) } catch { return false }
                report(.notReadyInTime(lastError: "no line of its output matched `\(pattern.source)` yet"))
                return false
            }
            for await matched in group where matched {
                report(.ready)
                break
            }
            group.cancelAll()
        }
    }
}

/// Run ids for the commands of `exec:` probes, apart from the processes' own (each names a cgroup).
final class ProbeRunIDs: Sendable {
    private let last = Mutex<UInt64>(0)

    func next() -> UInt64 {
        last.withLock {
            $0 += 1
            return $0
        }
    }
}
