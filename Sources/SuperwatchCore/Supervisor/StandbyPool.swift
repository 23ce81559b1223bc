import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A `werkzeug:` run started ahead of the next restart: it has imported the installed packages the app
/// used (Flask and the like, most of a Python start) and waits for "go" on `goFD`.
struct Standby: Sendable {
    var runID: UInt64
    var pid: pid_t
    /// The write end of the pipe it reads "go" from; owned by the standby until woken or discarded.
    var goFD: Int32
}

/// The standby interpreters of `werkzeug:` processes, at most one per process, and the installed packages
/// each process's app imported, which its next standby imports. The supervisor starts a standby once an app
/// reports what it imports; a start takes it and wakes it; a stop, a shutdown, or its death discards it.
struct StandbyPool: Sendable {
    private var standbys: [ProcessID: Standby] = [:]
    private var preloads: [ProcessID: [String]] = [:]

    /// Adds the packages `process`'s app reported importing to those its standbys import.
    mutating func learn(_ packages: [String], for process: ProcessID) {
        var known = preloads[process] ?? []
        for name in packages where !known.contains(name) { known.append(name) }
        preloads[process] = known
    }

    /// The packages a standby for `process` imports; nil before its app reported any.
    func preloads(for process: ProcessID) -> [String]? { preloads[process].flatMap { $0.isEmpty ? nil : $0 } }

    func hasStandby(_ process: ProcessID) -> Bool { standbys[process] != nil }

    /// Whether run `runID` is `process`'s standby.
    func isStandby(runID: UInt64, of process: ProcessID) -> Bool { standbys[process]?.runID == runID }

    mutating func add(_ standby: Standby, for process: ProcessID) { standbys[process] = standby }

    /// Wakes `process`'s standby as its next run with `changed` as SUPERWATCH_CHANGED; nil when there is none
    /// or it is gone (it is then ended as a discarded one is), and the start must launch a new interpreter.
    mutating func wake(_ process: ProcessID, changed: [String], containment: Containment) -> Standby? {
        guard let standby = standbys.removeValue(forKey: process) else { return nil }
        defer { closeAsserting(standby.goFD) }
        if Self.sendGo(standby, changed: changed) { return standby }
        end(standby, containment: containment)
        return nil
    }

    /// Ends `process`'s standby interpreter, if it has one, that will not be used (a stop, or it died).
    mutating func discard(_ process: ProcessID, containment: Containment) {
        guard let standby = standbys.removeValue(forKey: process) else { return }
        closeAsserting(standby.goFD)
        end(standby, containment: containment)
    }

    /// Ends every standby (the stack is shutting down).
    mutating func discardAll(containment: Containment) {
        for process in standbys.keys { discard(process, containment: containment) }
    }

    /// Kills what is left of a standby's group and forgets it.
    private func end(_ standby: Standby, containment: Containment) {
        containment.signal(standby.pid, SIGKILL)
        containment.release(standby.pid)
    }

    /// Tells a standby interpreter to go on as a start; false when it is gone.
    private static func sendGo(_ standby: Standby, changed: [String]) -> Bool {
        let environment: [String: String?] = ["SUPERWATCH_CHANGED": ChildLaunch.changedVariable(changed)]
        guard processGroupIsAlive(standby.pid),
            let json = try? JSONSerialization.data(withJSONObject: environment.mapValues { $0 ?? NSNull() as Any }),
            var line = String(data: json, encoding: .utf8)
        else { return false }
        line = "\(PythonProtocol.go) \(line)\n"
        var bytes = Array(line.utf8)
        return bytes.withUnsafeMutableBytes { writeAll(standby.goFD, $0) }
    }
}
