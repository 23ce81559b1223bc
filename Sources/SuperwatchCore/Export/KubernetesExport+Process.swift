/// One process turned into its manifests.
extension KubernetesExport {
    /// A process's Service as a dependent reaches it: its name and first port.
    struct ServiceAddress: Sendable, Equatable {
        var name: String
        var port: UInt16
    }

    /// Maps one planned process, collecting a note for every setting that does not carry over.
    struct ProcessMapping {
        /// The process as `StackPlan` made it, alone (its PORT; a `werkzeug:` app's address).
        let spec: ProcessSpec
        /// `replicas:` as written.
        let replicas: Int
        /// `PORT` from the process's own `env` or `env_file`, before `StackPlan` numbered it.
        let configuredPort: String?
        let objectName: String
        /// The planned stack (its `env`, file and directory).
        let config: Config
        let options: Options
        /// Every process's Service by process name, for `depends_on`.
        var services: [String: ServiceAddress] = [:]
        private(set) var notes: [ConfigWarning] = []

        init(
            spec: ProcessSpec, replicas: Int, configuredPort: String?, objectName: String, config: Config,
            options: Options
        ) {
            self.spec = spec
            self.replicas = replicas
            self.configuredPort = configuredPort
            self.objectName = objectName
            self.config = config
            self.options = options
        }

        /// `restart: never` runs once, as a Job; everything else is kept running by a Deployment.
        var isJob: Bool { spec.restart == .never }

        var labels: Value {
            .map([Entry(nameLabel, .string(objectName)), Entry(partOfLabel, .string(options.app))])
        }

        var configMapName: String { "\(objectName)-env" }

        /// Where `key` is written in the process, else the process, else the file.
        func location(_ key: String?) -> SourceLocation {
            key.flatMap { spec.keyLocations[$0] } ?? spec.location ?? SourceLocation(file: config.file)
        }

        mutating func note(_ key: String?, _ message: String, at location: SourceLocation? = nil) {
            notes.append(ConfigWarning("\(spec.name): \(message)", at: location ?? self.location(key)))
        }

        func error(_ key: String?, _ message: String, at location: SourceLocation? = nil) -> SuperwatchError {
            SuperwatchError(.invalidConfig, "process `\(spec.name)`: \(message)", at: location ?? self.location(key))
        }

        mutating func manifests() throws(SuperwatchError) -> ProcessManifests {
            var launch = ChildLaunch.selfBound(spec, stackEnvironment: config.env)
            let ports = try ports(environment: launch.environment)
            let arguments = try arguments(launch).map(escapingKubeletReferences)
            let workingDirectory = try workingDirectory()
            if replicas > 1 {
                launch.environment.removeValue(forKey: "SUPERWATCH_REPLICA")
                note(
                    "replicas",
                    "SUPERWATCH_REPLICA is not set: the \(replicas) pods of a \(isJob ? "Job" : "Deployment") are "
                        + "not numbered")
            }
            noteSettings()

            var container: [Entry] = [
                Entry("name", .string(objectName)),
                Entry("image", .string(spec.image ?? options.image ?? "")),
                Entry("command", .list([.string(arguments[0])])),
            ]
            if arguments.count > 1 { container.append(Entry("args", .list(arguments.dropFirst().map(Value.string)))) }
            if let workingDirectory { container.append(Entry("workingDir", .string(workingDirectory))) }
            container.append(
                Entry(
                    "envFrom",
                    .list([.map([Entry("configMapRef", .map([Entry("name", .string(configMapName))]))])])))
            let probes = probeEntries(ports: ports)
            if !ports.isEmpty {
                container.append(
                    Entry(
                        "ports",
                        .list(
                            ports.map { port in
                                .map([
                                    Entry("name", .string(portName(port))), Entry("containerPort", .integer(Int(port))),
                                    Entry("protocol", .string("TCP")),
                                ])
                            })))
            }
            container += probes
            let milliseconds = spec.stopTimeout.milliseconds
            let waits = initContainers()
            var podSpec: [Entry] = waits.isEmpty ? [] : [Entry("initContainers", .list(waits))]
            podSpec.append(Entry("containers", .list([.map(container)])))
            if isJob { podSpec.append(Entry("restartPolicy", .string("Never"))) }
            podSpec.append(Entry("terminationGracePeriodSeconds", .integer(Int((milliseconds + 999) / 1000))))
            let template = Value.map([
                Entry("metadata", .map([Entry("labels", labels)])), Entry("spec", .map(podSpec)),
            ])

            var documents = [
                yaml(
                    object(
                        apiVersion: "v1", kind: "ConfigMap", name: configMapName,
                        [
                            Entry(
                                "data",
                                .map(
                                    launch.environment.sorted { $0.key < $1.key }.map {
                                        Entry($0.key, .string($0.value))
                                    }))
                        ]))
            ]
            if isJob {
                var jobSpec = [Entry("backoffLimit", .integer(0))]
                if replicas > 1 {
                    jobSpec += [Entry("completions", .integer(replicas)), Entry("parallelism", .integer(replicas))]
                }
                jobSpec.append(Entry("template", template))
                documents.append(
                    yaml(object(apiVersion: "batch/v1", kind: "Job", name: objectName, [Entry("spec", .map(jobSpec))])))
            } else {
                let deploymentSpec: [Entry] = [
                    Entry("replicas", .integer(replicas)),
                    Entry("selector", .map([Entry("matchLabels", labels)])),
                    Entry("template", template),
                ]
                documents.append(
                    yaml(
                        object(
                            apiVersion: "apps/v1", kind: "Deployment", name: objectName,
                            [Entry("spec", .map(deploymentSpec))])))
            }
            if !ports.isEmpty {
                let servicePorts = ports.map { port -> Value in
                    .map([
                        Entry("name", .string(portName(port))), Entry("port", .integer(Int(port))),
                        Entry("targetPort", .integer(Int(port))), Entry("protocol", .string("TCP")),
                    ])
                }
                documents.append(
                    yaml(
                        object(
                            apiVersion: "v1", kind: "Service", name: objectName,
                            [Entry("spec", .map([Entry("selector", labels), Entry("ports", .list(servicePorts))]))])))
            }
            // In the order of the config, whatever order they were found in.
            let ordered = notes.enumerated().sorted {
                ($0.element.location.line, $0.element.location.column, $0.offset)
                    < ($1.element.location.line, $1.element.location.column, $1.offset)
            }
            return ProcessManifests(
                process: spec.name, objectName: objectName, documents: documents, notes: ordered.map(\.element))
        }

        /// `readinessProbe` from `ready:` (or the default probe of a process with a port) and `livenessProbe` from
        /// `health:`, each tried every period (whole seconds, at least 1) with the period as its timeout.
        mutating func probeEntries(ports: [UInt16]) -> [Entry] {
            var entries: [Entry] = []
            if let probe = spec.readiness, let action = probeAction(probe, key: "ready", ports: ports) {
                let period = wholeSeconds(spec.readyPeriod)
                entries.append(
                    Entry(
                        "readinessProbe",
                        .map(
                            action + [
                                Entry("periodSeconds", .integer(period)), Entry("timeoutSeconds", .integer(period)),
                            ])))
            }
            if let health = spec.health, let action = probeAction(health.probe, key: "health", ports: ports) {
                let period = wholeSeconds(health.period)
                entries.append(
                    Entry(
                        "livenessProbe",
                        .map(
                            action + [
                                Entry("periodSeconds", .integer(period)), Entry("timeoutSeconds", .integer(period)),
                                Entry("failureThreshold", .integer(health.failures)),
                            ])))
            }
            for key in ["ready_timeout", "restart_dependents"] where spec.keyLocations[key] != nil {
                note(
                    key,
                    "`\(key)` does not carry over: "
                        + (key == "ready_timeout"
                            ? "a pod is not ready until its readiness probe passes, however long that takes"
                            : "Kubernetes does not restart a pod's dependents"))
            }
            return entries
        }

        /// `duration` in whole seconds, rounded up, at least 1 (what a probe's period can be).
        func wholeSeconds(_ duration: Duration) -> Int {
            max(1, Int((duration.milliseconds + 999) / 1000))
        }

        /// What a probe does as Kubernetes writes it (`tcpSocket`, `httpGet` or `exec`), or nil when it has no
        /// counterpart (noted). A loopback host becomes the pod's own address, where kubelet probes by default.
        mutating func probeAction(_ probe: Probe, key: String, ports: [UInt16]) -> [Entry]? {
            func host(_ name: String) -> [Entry] {
                let local =
                    ["", "localhost", "0.0.0.0", "::", "::1"].contains(name.lowercased()) || name.hasPrefix("127.")
                return local ? [] : [Entry("host", .string(name))]
            }
            switch probe {
            case .tcp(let name, let port):
                return [Entry("tcpSocket", .map(host(name) + [Entry("port", .integer(Int(port)))]))]
            case .http(let target):
                return [
                    Entry(
                        "httpGet",
                        .map(
                            [Entry("path", .string(target.path))] + host(target.host)
                                + [Entry("port", .integer(Int(target.port)))]))
                ]
            case .exec(let command):
                let argv = ["/bin/sh", "-c", command].map { Value.string(escapingKubeletReferences($0)) }
                return [Entry("exec", .map([Entry("command", .list(argv))]))]
            case .log:
                note(
                    key,
                    "a `log` probe does not carry over: Kubernetes does not read a container's output, so the pod is "
                        + "ready as soon as its container runs")
                return nil
            case .heldSocket:
                // superwatch's default for a process with sockets: it accepts connections.
                guard let port = ports.first else { return nil }
                return [Entry("tcpSocket", .map([Entry("port", .integer(Int(port)))]))]
            }
        }

        /// An init container per `depends_on` entry, which waits until the dependency's Service accepts a
        /// connection (a Service forwards only to ready pods, so this waits for `ready`, and for `started` too).
        mutating func initContainers() -> [Value] {
            var containers: [Value] = []
            for (index, dependency) in spec.dependsOn.enumerated() {
                let written = "`depends_on` \(dependency.name)"
                if dependency.condition == .completed {
                    note(
                        "depends_on",
                        "\(written): `completed` does not carry over: a pod cannot see that a Job finished without "
                            + "access to the Kubernetes API, so it starts without waiting",
                        at: dependency.location)
                    continue
                }
                guard let service = services[dependency.name] else {
                    note(
                        "depends_on",
                        "\(written): \(dependency.name) has no Service (it serves no port), so the pod starts "
                            + "without waiting for it",
                        at: dependency.location)
                    continue
                }
                let address = "\(service.name) \(service.port)"
                let script =
                    "until nc -z -w 2 \(address); do echo waiting for \(service.name):\(service.port); sleep 1; done"
                let name = "wait-for-\(service.name)"
                containers.append(
                    .map([
                        Entry("name", .string(name.count <= 63 ? name : "wait-\(index + 1)")),
                        Entry("image", .string(options.waitImage)),
                        Entry("command", .list([.string("/bin/sh"), .string("-c"), .string(script)])),
                    ]))
            }
            return containers
        }

        /// An object with its `apiVersion`, `kind` and `metadata` (name and labels) first.
        func object(apiVersion: String, kind: String, name: String, _ rest: [Entry]) -> Value {
            .map(
                [
                    Entry("apiVersion", .string(apiVersion)), Entry("kind", .string(kind)),
                    Entry("metadata", .map([Entry("name", .string(name)), Entry("labels", labels)])),
                ] + rest)
        }

        /// A port's name in the container and the Service (an IANA service name: at most 15 characters).
        func portName(_ port: UInt16) -> String { "tcp-\(port)" }

        /// The TCP ports the process serves: its `listen` ports, else its PORT when it sets PORT itself or its
        /// command names `$PORT` (as the banner of `up` shows an address for it).
        mutating func ports(environment: [String: String]) throws(SuperwatchError) -> [UInt16] {
            var ports: [UInt16] = []
            // A `werkzeug:` app without `listen` gets its address from StackPlan, not from the config.
            let written = spec.keyLocations["listen"] != nil
            for listen in spec.listen {
                switch listen.address {
                case .tcp(let host, let port):
                    guard port != 0 else {
                        throw error(
                            "listen", "`listen`: Kubernetes needs a fixed port, not 0; write the port to export it",
                            at: listen.location)
                    }
                    if !ports.contains(port) { ports.append(port) }
                    guard written else { continue }
                    var parts: [String] = []
                    if !["", "0.0.0.0", "::"].contains(host) {
                        parts.append(
                            "becomes port \(port) on all the pod's interfaces, since a Service cannot reach \(host) "
                                + "inside a pod")
                    }
                    if spec.werkzeug == nil {
                        parts.append(
                            "Kubernetes passes no socket (no LISTEN_FDS or WERKZEUG_SERVER_FD), so the program must "
                                + "bind port \(port) on all interfaces itself")
                    }
                    if !parts.isEmpty {
                        let separator = parts.count == 1 && spec.werkzeug == nil ? ": " : " "
                        note(
                            "listen", "`listen` \(listen.address)" + separator + parts.joined(separator: "; "),
                            at: listen.location)
                    }
                case .unix(let path):
                    note(
                        "listen",
                        "`listen` unix:\(shownPath(path)) is left out: a Service reaches TCP ports only, and "
                            + "Kubernetes passes no socket, so the program must make it itself if it still needs it",
                        at: listen.location)
                }
            }
            if spec.werkzeug != nil, spec.listen.count != 1 || ports.count != 1 {
                throw error(
                    "listen",
                    "a `werkzeug` app runs as `flask run` in Kubernetes, which serves one TCP port; give it one "
                        + "TCP `listen` address to export it")
            }
            if spec.listen.isEmpty, configuredPort != nil || spec.command.usesPort, let value = environment["PORT"] {
                if let port = ListenAddress.port(value), port > 0 {
                    ports.append(port)
                } else {
                    note("env", "PORT=\(shown(value)) is not a port number, so it gets no containerPort and no Service")
                }
            }
            return ports
        }

        /// The container's argv: the command as `up` runs it (a string through `/bin/sh -c`, as `exec LINE` when
        /// it is one simple command), or `flask run` for a `werkzeug:` app.
        mutating func arguments(_ launch: ChildLaunch) throws(SuperwatchError) -> [String] {
            if let app = spec.werkzeug {
                var arguments = [try pathInImage(app.python, key: "python"), "-m", "flask", "--app", app.target]
                if app.debug { arguments.append("--debug") }
                arguments += ["run", "--host", "0.0.0.0", "--port", String(spec.firstTCPPort ?? 0), "--no-reload"]
                note(
                    "werkzeug",
                    "`werkzeug` runs as `\(Command.argv(arguments))` in the pod, so Flask must be installed in the "
                        + "image; superwatch's own server for the app and its watching of the imported modules do not "
                        + "carry over")
                return arguments
            }
            // `exec PROGRAM …` replaces the shell just as the `exec` superwatch adds to a simple command does.
            if case .shell(let line) = spec.command, !Command.isSimpleCommand(line),
                line.split(separator: " ", maxSplits: 1).first != "exec"
            {
                note(
                    "command",
                    "`command` is not one simple command, so /bin/sh stays PID 1 and does not pass SIGTERM on: the "
                        + "pod is killed after terminationGracePeriodSeconds; end it with `exec PROGRAM` in a script "
                        + "to stop cleanly")
            }
            return launch.arguments
        }

        /// `path` (an interpreter, a name or a path on this machine) as the image has it: a name stays; a path
        /// under the config's directory moves to `--workdir-root`.
        func pathInImage(_ path: String, key: String) throws(SuperwatchError) -> String {
            guard path.contains("/") else { return path }
            guard let root = options.workdirRoot, let moved = underRoot(path, root: root) else {
                throw error(
                    key,
                    "`\(key)` \(path) is a path on this machine; pass --workdir-root DIR (where the image holds "
                        + "\(config.directory)) with a path under it, or name a program on the image's PATH")
            }
            return moved
        }

        /// `path` under `root` as it is under the config's directory, or nil when it is outside it.
        func underRoot(_ path: String, root: String) -> String? {
            let directory = config.directory.hasSuffix("/") ? String(config.directory.dropLast()) : config.directory
            let trimmedRoot = root.count > 1 && root.hasSuffix("/") ? String(root.dropLast()) : root
            if path == directory || path + "/" == config.directory { return trimmedRoot }
            guard path.hasPrefix(directory + "/") else { return nil }
            let rest = path.dropFirst(directory.count + 1)
            return (trimmedRoot == "/" ? "" : trimmedRoot) + "/" + rest
        }

        /// `path` relative to the config's directory when it is under it (as it was most likely written).
        func shownPath(_ path: String) -> String {
            guard let relative = underRoot(path, root: "/") else { return path }
            return relative == "/" ? "." : String(relative.dropFirst())
        }

        /// `workingDir`: the process's `cwd` under `--workdir-root`; nil without it (the image's WORKDIR).
        mutating func workingDirectory() throws(SuperwatchError) -> String? {
            guard let root = options.workdirRoot else {
                if spec.cwd != config.directory {
                    note(
                        "cwd",
                        "`cwd` \(shownPath(spec.cwd)) does not carry over without --workdir-root, so the container "
                            + "starts in the image's WORKDIR; pass --workdir-root DIR, where the image holds "
                            + "\(config.directory)")
                }
                return nil
            }
            guard let moved = underRoot(spec.cwd, root: root) else {
                throw error(
                    "cwd",
                    "`cwd` \(spec.cwd) is outside \(config.directory), so --workdir-root cannot place it in the image")
            }
            return moved
        }

        /// Notes for the settings that have no Kubernetes counterpart, at the keys that set them.
        mutating func noteSettings() {
            let watchKeys = ["watch", "ignore", "extra_files", "watcher", "interval", "debounce"]
                .filter { spec.keyLocations[$0] != nil }
            if let first = watchKeys.first {
                note(
                    first,
                    watchKeys.map { "`\($0)`" }.joined(separator: ", ")
                        + " \(watchKeys.count == 1 ? "does" : "do") not carry over: nothing restarts a pod when "
                        + "files change; build a new image and roll it out")
            }
            let restarted =
                isJob ? "a Job's pod is not restarted (backoffLimit: 0)" : "a Deployment restarts its container"
            if spec.keyLocations["restart"] != nil, spec.restart == .onFailure {
                note(
                    "restart",
                    "`restart: on-failure` becomes a Deployment, which restarts its container after "
                        + "every exit, 0 included")
            }
            if spec.keyLocations["restart_codes"] != nil {
                note(
                    "restart_codes",
                    "`restart_codes` does not carry over: "
                        + (isJob ? restarted : "\(restarted) after any exit, with Kubernetes's own backoff"))
            }
            if spec.keyLocations["max_restarts"] != nil {
                note(
                    "max_restarts",
                    "`max_restarts` does not carry over: "
                        + (isJob ? restarted : "\(restarted) without ever giving up (CrashLoopBackOff)"))
            }
            if spec.keyLocations["backoff"] != nil {
                note(
                    "backoff",
                    "`backoff` does not carry over: Kubernetes's own restart backoff starts at 10s and doubles up "
                        + "to 5m")
            }
            if spec.keyLocations["log_buffer"] != nil {
                note("log_buffer", "`log_buffer` does not carry over: `kubectl logs` reads what the node keeps")
            }
            if spec.stopSignal != .terminate {
                let name = String(spec.stopSignal.description.dropFirst(3))
                note(
                    "stop_signal",
                    "`stop_signal` \(name) does not carry over: Kubernetes stops a container with SIGTERM unless its "
                        + "image names another; add `STOPSIGNAL SIG\(name)` to the image's Dockerfile, or stop the "
                        + "program on SIGTERM")
            }
            let milliseconds = spec.stopTimeout.milliseconds
            if milliseconds % 1000 != 0 {
                note(
                    "stop_timeout",
                    "`stop_timeout` \(milliseconds)ms becomes terminationGracePeriodSeconds: "
                        + "\((milliseconds + 999) / 1000) (whole seconds)")
            }
        }
    }
}
