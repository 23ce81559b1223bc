import Dispatch
import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Starting runs: a new one, or the standby interpreter woken instead; what a run gets (environment, held
/// sockets, the bootstrap's pipes); the Python interpreter of a `werkzeug:` process; standby interpreters.
extension Supervisor {
    /// Starts a run of process `id`: wakes its standby interpreter when it has one, else launches it, and
    /// tells its lifecycle how that went.
    func spawn(_ id: ProcessID, changed: [String]) {
        if !changed.isEmpty { removeStaleBytecode(id, changed: changed) }
        dependencies.runStartTimes[id] = Date()
        if let standby = standbys.wake(id, changed: changed, containment: containment) {
            deliver(.spawned(runID: standby.runID, pid: standby.pid, viaStandby: true, at: .now), to: id)
            attachedClientFollows(id)
            return
        }
        nextRunID += 1
        let runID = nextRunID
        let now = ContinuousClock.now
        guard let io else {
            return deliver(.spawnFailed(runID: runID, message: "the stack is not running", at: now), to: id)
        }
        do {
            let run = try launch(id, runID: runID, changed: changed)
            deliver(.spawned(runID: runID, pid: run.pid, viaStandby: false, at: now), to: id)
            attachedClientFollows(id)
            io.add(run)
        } catch {
            deliver(.spawnFailed(runID: runID, message: error.message, at: now), to: id)
        }
    }

    /// Before a start after a change: Python must compile the changed files, not load bytecode cached for the
    /// version before (see `FreshBytecode`).
    private func removeStaleBytecode(_ id: ProcessID, changed: [String]) {
        let spec = lifecycles[id.index].spec
        let prefix = spec.env["PYTHONPYCACHEPREFIX"] ?? baseEnvironment["PYTHONPYCACHEPREFIX"]
        for failure in FreshBytecode.removeCachedBytecode(of: changed, root: spec.cwd, pycachePrefix: prefix) {
            log(
                id,
                SupervisorEvent(
                    .notice,
                    "cannot remove \(failure.path), which may hold bytecode of the changed code: "
                        + errnoDescription(failure.errno)))
        }
    }

    /// Starts one run of process `id`: its environment, held sockets, and for a `werkzeug:` process the
    /// bootstrap with its report pipe. With `standby`, the bootstrap imports `preloads` and waits for "go" on
    /// the pipe whose read end is `standby` (fd after the report pipe).
    private func launch(
        _ id: ProcessID, runID: UInt64, changed: [String], standby: (goRead: Int32, preloads: [String])? = nil
    ) throws(SuperwatchError) -> RunIO {
        let spec = lifecycles[id.index].spec
        let held = sockets[id]
        var python: PythonInterpreter?
        var reportPipe: (read: Int32, write: Int32)?
        // The read end goes to the I/O loop with the run; until then, and on failure, it is ours to close.
        var reportReadHandedOver = false
        defer {
            if let reportPipe {
                closeAsserting(reportPipe.write)
                if !reportReadHandedOver { closeAsserting(reportPipe.read) }
            }
        }
        if spec.reportsFiles, pythonFiles != nil {
            if let app = spec.werkzeug {
                let environment = ChildLaunch.processEnvironment(spec, base: baseEnvironment, changed: changed)
                python = interpreter(id, app: app, environment: environment)
            }
            do {
                reportPipe = try Launcher.makePipe(size: nil)
            } catch {
                // The app still runs; only what it imports is not watched (out of descriptors, say).
                log(
                    id,
                    SupervisorEvent(
                        .notice, "cannot make the report pipe: \(error.message); its modules are not watched"))
            }
        }
        let child = ChildLaunch.make(
            spec, sockets: held.map { ChildLaunch.Socket(port: $0.port) }, base: baseEnvironment, changed: changed,
            python: pythonFiles.map(ChildLaunch.PythonLocations.init), interpreter: python,
            reportPipe: reportPipe != nil, standbyPreloads: standby?.preloads)
        // `make` lists the report and "go" pipes only when they are given.
        let passFDs = child.descriptors.map { descriptor -> Int32 in
            switch descriptor {
            case .listenSocket(let socket): return held[socket].fd
            case .report: return reportPipe?.write ?? -1
            case .standbyGo: return standby?.goRead ?? -1
            }
        }
        var request = LaunchRequest(
            arguments: child.arguments, cwd: spec.cwd, environment: child.environment, passFDs: passFDs,
            stopSignal: spec.stopSignal, stopTimeoutMilliseconds: Int32(clamping: spec.stopTimeout.milliseconds))
        if spec.tty { request.terminal = terminals.windowSize(for: id) }
        let launched = try containment.launch(request, process: id, name: spec.name, runID: runID)
        reportReadHandedOver = true
        // The I/O loop takes the descriptors over.
        let pid = launched.pid
        let taken = launched.takeDescriptors()
        let output: [Channel]
        var terminal: TerminalSession?
        if let stderr = taken.stderr {
            output = [
                Channel(.output(.stdout), OwnedDescriptor(takingOwnershipOf: taken.stdout)),
                Channel(.output(.stderr), OwnedDescriptor(takingOwnershipOf: stderr)),
            ]
        } else {
            // A pseudo-terminal: one channel for both streams, and a session for `attach`.
            let master = OwnedDescriptor(takingOwnershipOf: taken.stdout)
            do {
                terminal = try terminals.add(runID: runID, process: id, master: master.rawValue)
            } catch {
                // The run goes on; only `attach` cannot reach it.
                log(id, SupervisorEvent(.notice, "cannot keep its terminal for attach: \(error.message)"))
            }
            output = [Channel(.output(.pty), master)]
        }
        // A program of its own under `listen:` that binds $PORT itself fails with "address in use".
        return RunIO(
            runID: runID, process: id, pid: pid, pidfd: OwnedDescriptor(takingOwnershipOf: taken.pidfd),
            channels: (reportPipe.map { [Channel(.report, OwnedDescriptor(takingOwnershipOf: $0.read))] } ?? [])
                + output,
            scansForAddressInUse: !spec.listen.isEmpty && spec.werkzeug == nil, terminal: terminal)
    }

    /// The interpreter that runs process `id`'s bootstrap: found before the first start (`findInterpreters`) or
    /// before a reload that changes or adds the process is applied (`InterpreterLookup`), and looked for again at
    /// a start while it is not found at all, so that a virtualenv created later counts.
    private func interpreter(_ id: ProcessID, app: WerkzeugApp, environment: [String: String]) -> PythonInterpreter {
        if let known = interpreters[id] { return known }
        nextRunID += 1
        let spec = lifecycles[id.index].spec
        guard
            let found = PythonInterpreter.resolve(
                app.python, cwd: spec.cwd, environment: environment,
                runner: interpreterRunner(id, name: spec.name, runID: nextRunID))
        else { return PythonInterpreter(program: app.python) }  // the start reports it as a command not found
        interpreters[id] = found
        return found
    }

    /// Finds the interpreter of every `werkzeug:` process before anything starts, all at once and off the
    /// actor: asking a wrapper script which interpreter it runs takes one run of it (up to 10 s).
    func findInterpreters() async {
        let specs = processIDs.map { ($0, lifecycles[$0.index].spec) }
        let found = await interpreterLookup(for: specs, base: baseEnvironment).run()
        for (id, spec) in specs {
            if let question = InterpreterQuestion(spec, base: baseEnvironment), let interpreter = found[question] {
                interpreters[id] = interpreter
            }
        }
    }

    /// The lookup of the interpreters of the `werkzeug:` processes among `specs` (by the ids they have or will
    /// have), with `base` as the stack's environment.
    func interpreterLookup(for specs: [(ProcessID, ProcessSpec)], base: [String: String]) -> InterpreterLookup {
        var lookup = InterpreterLookup()
        for (id, spec) in specs {
            // Replicas and processes alike ask once.
            guard let question = InterpreterQuestion(spec, base: base),
                !lookup.asked.contains(where: { $0.question == question })
            else { continue }
            nextRunID += 1
            lookup.asked.append((question, interpreterRunner(id, name: spec.name, runID: nextRunID)))
        }
        return lookup
    }

    /// How `PythonInterpreter` runs a wrapper for process `id` (named `name`): through containment, so nothing of
    /// it outlives superwatch.
    private func interpreterRunner(_ id: ProcessID, name: String, runID: UInt64) -> PythonInterpreter.Runner {
        let containment = self.containment
        return PythonInterpreter.Runner(
            launch: { request throws(SuperwatchError) in
                try containment.launch(request, process: id, name: name, runID: runID)
            },
            kill: { containment.signal($0, SIGKILL) }, release: { containment.release($0) })
    }

    /// Starts a standby interpreter for process `id` once its app has reported what it imports: the bootstrap of
    /// a `werkzeug:` process, or the same command for one whose reloader superwatch replaces (its sitecustomize.py
    /// waits for "go" before the program runs).
    func prepareStandby(_ id: ProcessID) {
        guard let io, lifecycles[id.index].spec.reportsFiles, !standbys.hasStandby(id),
            lifecycles[id.index].acceptsStandby, let preloads = standbys.preloads(for: id)
        else { return }
        // A standby only makes the next restart faster: when one cannot be had, the next start launches a new
        // interpreter, as if there were none, and the user is told why once per attempt.
        let go: (read: Int32, write: Int32)
        do { go = try Launcher.makePipe(size: nil) } catch {
            log(id, SupervisorEvent(.notice, "cannot prepare a standby interpreter: \(error.message)"))
            return
        }
        defer { closeAsserting(go.read) }
        var goHandedOver = false
        defer { if !goHandedOver { closeAsserting(go.write) } }
        nextRunID += 1
        let runID = nextRunID
        let run: RunIO
        do { run = try launch(id, runID: runID, changed: [], standby: (go.read, preloads)) } catch {
            log(id, SupervisorEvent(.notice, "cannot start a standby interpreter: \(error.message)"))
            return
        }
        standbys.add(Standby(runID: runID, pid: run.pid, goFD: go.write), for: id)
        goHandedOver = true
        io.add(run)
    }
}

/// What a `werkzeug:` process's interpreter is found from: its `python`, its directory and its environment.
struct InterpreterQuestion: Hashable, Sendable {
    var python: String
    var cwd: String
    var environment: [String: String]

    /// The question for `spec` with `base` as the stack's environment; nil when it is no `werkzeug:` process.
    init?(_ spec: ProcessSpec, base: [String: String]) {
        guard let app = spec.werkzeug else { return nil }
        python = app.python
        cwd = spec.cwd
        environment = ChildLaunch.processEnvironment(spec, base: base)
    }
}

/// Interpreters to find all at once, off the supervisor's actor: asking a wrapper script (a pyenv shim, say)
/// which interpreter it runs takes one run of it, up to 10 s, which must not stall the supervisor.
struct InterpreterLookup: Sendable {
    var asked: [(question: InterpreterQuestion, runner: PythonInterpreter.Runner)] = []

    /// The interpreters found, by question; a question without an interpreter (no such program) is absent.
    func run() async -> [InterpreterQuestion: PythonInterpreter] {
        guard !asked.isEmpty else { return [:] }
        let asked = self.asked
        return await withCheckedContinuation { done in
            // Blocking work, on threads of their own rather than Swift's cooperative pool.
            DispatchQueue.global().async {
                let found = Mutex([InterpreterQuestion: PythonInterpreter]())
                DispatchQueue.concurrentPerform(iterations: asked.count) { index in
                    let (question, runner) = asked[index]
                    let answer = PythonInterpreter.resolve(
                        question.python, cwd: question.cwd, environment: question.environment, runner: runner)
                    if let answer { found.withLock { $0[question] = answer } }
                }
                done.resume(returning: found.withLock { $0 })
            }
        }
    }
}
