/// One of superwatch's own events, printed in the multiplexed stream: a human message plus, for
/// `--log-format json`, a kind and typed fields.
public struct SupervisorEvent: Sendable, Equatable {
    public enum Value: Sendable, Equatable {
        case int(Int)
        case string(String)
    }

    /// What happened, as `--log-format json` names it in its `event` field. The raw values are a public
    /// interface (scripts read them): add kinds, never rename one.
    public enum Kind: String, Sendable, CaseIterable {
        case banner, listening, port
        case started
        case startFailed = "start-failed"
        case stopping
        case stopTimeout = "stop-timeout"
        case exited
        case restarting, changed, backoff
        case restartStorm = "restart-storm"
        case down
        case gaveUp = "gave-up"
        case shutdown, kill
        case allStopped = "all-stopped"
        case notice
        case escaped
        case keeperLost = "keeper-lost"
        case lineSplit = "line-split"
        case listenHint = "listen-hint"
        /// A live config reload applied (or found nothing to apply); one event per reload.
        case reloaded
        /// Waiting for dependencies before the start, or for dependents before the stop.
        case waiting
        /// The readiness probe passed.
        case ready
        /// `ready_timeout` passed without the readiness probe passing.
        case notReady = "not-ready"
        /// The liveness probe failed `failures` times in a row: restarting.
        case unhealthy
    }

    public var kind: Kind
    public var message: String
    public var fields: [(String, Value)]

    public init(_ kind: Kind, _ message: String, _ fields: [(String, Value)] = []) {
        self.kind = kind
        self.message = message
        self.fields = fields
    }

    public static func == (lhs: SupervisorEvent, rhs: SupervisorEvent) -> Bool {
        lhs.kind == rhs.kind && lhs.message == rhs.message && lhs.fields.elementsEqual(rhs.fields) { $0 == $1 }
    }
}
