import Foundation

/// Writes a stack as Kubernetes manifests, for `superwatch export kubernetes`: per process a ConfigMap holding the
/// environment `up` gives it, a Deployment (a Job for `restart: never`) running its command in a container, and a
/// Service when it serves a TCP port. What Kubernetes cannot express is a note — a warning on stderr and a comment
/// in the manifests — so that no setting is dropped silently; what would make a wrong manifest is an error.
public enum KubernetesExport {
    /// What the command line adds to the config.
    public struct Options: Sendable, Equatable {
        /// The stack's name, `app.kubernetes.io/part-of` of everything (`--app`, default the config's directory).
        public var app: String
        /// The image of every process without an `image:` of its own (`--image`).
        public var image: String?
        /// Where the image holds the config's directory (`--workdir-root`): each process's `cwd` under it becomes
        /// its `workingDir`. Without it the container starts in the image's WORKDIR.
        public var workdirRoot: String?
        /// The first process's PORT, as `up` computes it.
        public var basePort: Int
        /// The image of the init containers that wait for a dependency's Service (`--wait-image`): it needs
        /// `/bin/sh` and an `nc` that takes `-z`.
        public var waitImage: String

        public static let defaultWaitImage = "busybox:1.37"

        public init(
            app: String, image: String? = nil, workdirRoot: String? = nil, basePort: Int,
            waitImage: String = defaultWaitImage
        ) {
            self.app = app
            self.image = image
            self.workdirRoot = workdirRoot
            self.basePort = basePort
            self.waitImage = waitImage
        }
    }

    /// The manifests of one process, in the order `kubectl apply` should create them.
    public struct ProcessManifests: Sendable, Equatable {
        /// The process's name in the config.
        public var process: String
        /// Its objects' name: the process name in lowercase, `_` as `-`.
        public var objectName: String
        /// One YAML document each: the ConfigMap, the Deployment or Job and, with a port, the Service.
        var documents: [String]
        /// What did not carry over, in the order of the config.
        public var notes: [ConfigWarning]

        /// The documents, each after `---`, with the notes as comments before them.
        public var body: String {
            notes.map { comment($0.description) }.joined() + documents.map { "---\n" + $0 }.joined()
        }
    }

    /// The whole export.
    public struct Output: Sendable, Equatable {
        /// The comment every output starts with.
        public var header: String
        /// What did not carry over of the stack's own settings (they are in `header` too).
        public var stackNotes: [ConfigWarning]
        public var processes: [ProcessManifests]

        /// The files `export kubernetes DIR` writes: `NAME.yaml` per process.
        public var files: [(name: String, contents: String)] {
            processes.map { ("\($0.objectName).yaml", header + $0.body) }
        }

        /// One multi-document YAML of everything (`export kubernetes -`).
        public var stream: String { header + processes.map(\.body).joined() }

        public var notes: [ConfigWarning] { stackNotes + processes.flatMap(\.notes) }
    }

    /// The labels every object carries; the first two select a process's pods.
    static let nameLabel = "app.kubernetes.io/name"
    static let partOfLabel = "app.kubernetes.io/part-of"

    /// The stack's name for a config in `directory`: its last component as a label value (letters, digits,
    /// `-`, `_`, `.`, starting and ending with a letter or digit, at most 63 characters).
    public static func appName(directory: String) -> String {
        let last = directory.split(separator: "/").last.map(String.init) ?? ""
        var cleaned = String(
            last.unicodeScalars.map { scalar -> Character in
                isLabelScalar(scalar) ? Character(scalar) : "-"
            }
            .prefix(63))
        while let first = cleaned.unicodeScalars.first, !isAlphanumeric(first) { cleaned.removeFirst() }
        while let last = cleaned.unicodeScalars.last, !isAlphanumeric(last) { cleaned.removeLast() }
        return cleaned.isEmpty ? "superwatch" : cleaned
    }

    /// Whether `name` can be a label value, as `--app` must be.
    public static func isValidApp(_ name: String) -> Bool {
        !name.isEmpty && name.unicodeScalars.count <= 63 && name.unicodeScalars.allSatisfy(isLabelScalar)
            && isAlphanumeric(name.unicodeScalars.first!) && isAlphanumeric(name.unicodeScalars.last!)
    }

    private static func isAlphanumeric(_ scalar: Unicode.Scalar) -> Bool {
        ("a"..."z").contains(scalar) || ("A"..."Z").contains(scalar) || ("0"..."9").contains(scalar)
    }

    private static func isLabelScalar(_ scalar: Unicode.Scalar) -> Bool {
        isAlphanumeric(scalar) || "-_.".unicodeScalars.contains(scalar)
    }

    /// The manifests for `config` as loaded (not through `StackPlan`: a Deployment has replicas, not numbered
    /// copies). Every process is exported; one without an image is an error naming all such processes.
    public static func export(_ config: Config, options: Options) throws(SuperwatchError) -> Output {
        guard isValidApp(options.app) else {
            throw SuperwatchError(
                .usage,
                "--app \(shown(options.app)) cannot be a Kubernetes label value: at most 63 letters, digits, `-`, `_` "
                    + "and `.`, starting and ending with a letter or digit")
        }
        if let root = options.workdirRoot, !root.hasPrefix("/") {
            throw SuperwatchError(
                .usage, "--workdir-root must be an absolute path in the image, found \(shown(root))")
        }
        // One instance per process, numbered as `up` numbers them, so that each gets the PORT it has under `up`.
        let planned = try StackPlan.make(
            config, concurrency: Dictionary(config.processes.map { ($0.name, 1) }) { first, _ in first },
            basePort: options.basePort)
        let missing = config.processes.filter { ($0.image ?? options.image) == nil }.map(\.name)
        guard missing.isEmpty else {
            let them = missing.count == 1 ? "it" : "each of them"
            throw SuperwatchError(
                .usage,
                "no container image for \(missing.joined(separator: ", ")): give \(them) an `image:` in "
                    + "\(config.file), or pass --image IMAGE for every process without one")
        }
        var names: [String: String] = [:]
        var processes: [ProcessManifests] = []
        // What a dependent's init container waits for: each process's Service (its first port), found first.
        var services: [String: ServiceAddress] = [:]
        for (source, spec) in zip(config.processes, planned.processes) {
            var mapping = ProcessMapping(
                spec: spec, replicas: source.replicas, configuredPort: source.env["PORT"],
                objectName: try objectName(spec, in: config), config: planned, options: options)
            let ports = try mapping.ports(
                environment: ChildLaunch.selfBound(spec, stackEnvironment: planned.env).environment)
            if let port = ports.first { services[spec.name] = ServiceAddress(name: mapping.objectName, port: port) }
        }
        for (source, spec) in zip(config.processes, planned.processes) {
            let objectName = try objectName(spec, in: config)
            if let other = names[objectName] {
                throw SuperwatchError(
                    .invalidConfig,
                    "processes `\(other)` and `\(spec.name)` would both be named `\(objectName)` in Kubernetes "
                        + "(lowercase, `_` as `-`); rename one of them",
                    at: spec.location ?? SourceLocation(file: config.file))
            }
            names[objectName] = spec.name
            var process = ProcessMapping(
                spec: spec, replicas: source.replicas, configuredPort: source.env["PORT"], objectName: objectName,
                config: planned, options: options)
            process.services = services
            processes.append(try process.manifests())
        }
        var stackNotes: [ConfigWarning] = []
        if config.processes.contains(where: {
            $0.keyLocations["log_buffer"] == nil && $0.logBuffer != ProcessSpec.defaultLogBuffer
        }) {
            stackNotes.append(
                ConfigWarning(
                    "the top-level `log_buffer` does not carry over: `kubectl logs` reads what the node keeps",
                    at: SourceLocation(file: config.file)))
        }
        let header = comment(
            "Generated by `superwatch export kubernetes` from \(config.file); change the config and export again.")
        return Output(
            header: header + stackNotes.map { comment($0.description) }.joined(), stackNotes: stackNotes,
            processes: processes)
    }

    /// The name of `spec`'s objects: a DNS label, as a Service's name must be.
    static func objectName(_ spec: ProcessSpec, in config: Config) throws(SuperwatchError) -> String {
        let name = spec.name.lowercased().replacingAll("_", with: "-")
        let scalars = name.unicodeScalars
        guard scalars.count <= 63, let first = scalars.first, ("a"..."z").contains(first), scalars.last != "-" else {
            throw SuperwatchError(
                .invalidConfig,
                "process `\(spec.name)` cannot be named `\(name)` in Kubernetes, whose names start with a letter, "
                    + "end with a letter or digit and have at most 63 characters; rename it to export it",
                at: spec.location ?? SourceLocation(file: config.file))
        }
        return name
    }

    /// `argument` as kubelet passes it on: kubelet expands `$(NAME)` in `command` and `args` and turns `$$` into
    /// `$`, so a `$` before `$` or `(` (a shell's `$$` or `$(date)`) is doubled to reach the program as written.
    static func escapingKubeletReferences(_ argument: String) -> String {
        var out = ""
        var scalars = argument.unicodeScalars.makeIterator()
        var current = scalars.next()
        while let scalar = current {
            let next = scalars.next()
            out.unicodeScalars.append(scalar)
            if scalar == "$", next == "$" || next == "(" { out += "$" }
            current = next
        }
        return out
    }
}
