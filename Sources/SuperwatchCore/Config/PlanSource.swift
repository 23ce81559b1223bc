/// Where the plan `up` runs comes from: the config file and the command line's choices about it (`-c`, the
/// names to start, `--port`). `up` keeps it so that a live reload reads the same file again and plans it
/// exactly as the first time, and so that the processes a reload does not touch keep their PORT.
public struct PlanSource: Sendable {
    /// The config file as the user named it (`-f`, or the default file found).
    public var path: String
    /// `-c`: copies per process name.
    public var concurrency: [String: Int]
    /// The names `up` was given (empty: all).
    public var only: [String]
    /// `--port`.
    public var portFlag: Int?
    /// superwatch's environment, for a `PORT` there.
    public var environment: [String: String]
    /// `up --tty`: every process on a pseudo-terminal, after a reload too.
    public var allOnTerminals = false

    public init(
        path: String, concurrency: [String: Int] = [:], only: [String] = [], portFlag: Int? = nil,
        environment: [String: String]
    ) {
        self.path = path
        self.concurrency = concurrency
        self.only = only
        self.portFlag = portFlag
        self.environment = environment
    }

    /// A config as read and the plan made of it.
    public struct Planned: Sendable, Equatable {
        /// As read: the processes as written, the env files read, the warnings.
        public var config: Config
        /// What runs: one spec per instance, PORTs assigned.
        public var plan: Config
        public var basePort: Int
        /// The first PORT of each process of `config`, by name (see `StackPlan.portSlots`).
        public var portSlots: [String: Int]
    }

    /// Reads the file again, with its env files (a live reload).
    public func load() throws(SuperwatchError) -> Config {
        try ConfigLoader.load(path: path)
    }

    /// Plans `config`. With `previous` (the plan running now, on a live reload), every process it has keeps
    /// its ports, unless the base port itself changed.
    public func plan(_ config: Config, keeping previous: Planned? = nil) throws(SuperwatchError) -> Planned {
        let basePort = try StackPlan.basePort(flag: portFlag, config: config, environment: environment)
        let kept = previous.flatMap { $0.basePort == basePort ? $0.portSlots : nil } ?? [:]
        let slots = StackPlan.portSlots(config.processes.map(\.name), basePort: basePort, keeping: kept)
        var plan = try StackPlan.make(
            config, concurrency: concurrency, only: only, basePort: basePort, portSlots: slots)
        if allOnTerminals { plan = plan.runningOnTerminals() }
        return Planned(config: config, plan: plan, basePort: basePort, portSlots: slots)
    }
}
