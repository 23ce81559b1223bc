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

    /// The interpreter that runs process `id`'s bootstrap: found before the first start (`findInterpreters`),
    /// and looked for again at a start while it is not found at all, so that a virtualenv created later counts.
    private func interpreter(_ id: ProcessID, app: WerkzeugApp, environment: [String: String]) -> PythonInterpreter {
        if let known = interpreters[id] { return known }
        nextRunID += 1
        guard
            let found = PythonInterpreter.resolve(
                app.python, cwd: lifecycles[id.index].spec.cwd, environment: environment,
                runner: interpreterRunner(id, runID: nextRunID))
        else { return PythonInterpreter(program: app.python) }  // the start reports it as a command not found
        interpreters[id] = found
        return found
    }

    /// Finds the interpreter of every `werkzeug:` process before anything starts, all at once and off the
    /// actor: asking a wrapper script which interpreter it runs takes one run of it (up to 10 s).
    func findInterpreters() async {
        var questions: [(id: ProcessID, python: String, cwd: String, environment: [String: String], runID: UInt64)] =
            []
        for id in processIDs {
            guard let app = lifecycles[id.index].spec.werkzeug else { continue }
            nextRunID += 1
            let spec = lifecycles[id.index].spec
            questions.append(
                (id, app.python, spec.cwd, ChildLaunch.processEnvironment(spec, base: baseEnvironment), nextRunID))
        }
        guard !questions.isEmpty else { return }
        let runners = questions.map { interpreterRunner($0.id, runID: $0.runID) }
        let asked = questions
        let found: [PythonInterpreter?] = await withCheckedContinuation { done in
            // Blocking work, on threads of their own rather than Swift's cooperative pool.
            DispatchQueue.global().async {
                let found = Mutex([PythonInterpreter?](repeating: nil, count: asked.count))
                DispatchQueue.concurrentPerform(iterations: asked.count) { index in
                    let question = asked[index]
                    let answer = PythonInterpreter.resolve(
                        question.python, cwd: question.cwd, environment: question.environment, runner: runners[index])
                    found.withLock { $0[index] = answer }
                }
                done.resume(returning: found.withLock { $0 })
            }
        }
        for (question, interpreter) in zip(questions, found) where interpreter != nil {
            interpreters[question.id] = interpreter
        }
    }

    /// How `PythonInterpreter` runs a wrapper for process `id`: through containment, so nothing of it outlives
    /// superwatch.
    private func interpreterRunner(_ id: ProcessID, runID: UInt64) -> PythonInterpreter.Runner {
        let containment = self.containment
        let name = lifecycles[id.index].spec.name
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
