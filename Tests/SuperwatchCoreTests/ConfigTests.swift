import Testing
@testable import SuperwatchCore

/// Parses YAML as if it came from `superwatch.yaml` in /tmp.
func parse(_ yaml: String) throws(SuperwatchError) -> Config {
    try ConfigLoader.parse(yaml: yaml, file: "superwatch.yaml", directory: "/tmp")
}

/// The error a bad config produces, as the user sees it.
func configError(_ yaml: String) -> String? {
    do {
        _ = try parse(yaml)
        return nil
    } catch {
        return error.description
    }
}

@Suite struct ConfigTests {
    @Test func fullProcessIsParsedWithDefaults() throws {
        let config = try parse("""
            version: 1
            env: {LOG_LEVEL: debug, N: 3}
            processes:
              web:
                command: python3 -m http.server 8000
                env: {DEBUG: "1"}
                restart_codes: [3, 4]
                restart: always
                max_restarts: 2
                backoff: 250ms
                stop_signal: SIGINT
                stop_timeout: 1.5s
              worker:
                command: [python3, worker.py]
            """)
        #expect(config.env == ["LOG_LEVEL": "debug", "N": "3"])
        #expect(config.processes.map(\.name) == ["web", "worker"])
        let web = config.processes[0]
        #expect(web.command == .shell("python3 -m http.server 8000"))
        #expect(web.cwd == "/tmp")
        #expect(web.env == ["DEBUG": "1"])
        #expect(web.restartCodes == [3, 4])
        #expect(web.restart == .always)
        #expect(web.maxRestarts == 2)
        #expect(web.backoff == .milliseconds(250))
        #expect(web.stopSignal == 2)
        #expect(web.stopTimeout == .milliseconds(1500))
        let worker = config.processes[1]
        #expect(worker.command == .argv(["python3", "worker.py"]))
        #expect(worker.restartCodes == [3])
        #expect(worker.restart == .onFailure)
        #expect(worker.maxRestarts == 5)
        #expect(worker.backoff == .seconds(1))
        #expect(worker.stopSignal == 15)
        #expect(worker.stopTimeout == .seconds(5))
    }

    @Test func processesKeepTheirWrittenOrder() throws {
        let config = try parse("processes:\n  zeta: {command: a}\n  alpha: {command: b}\n  mid: {command: c}\n")
        #expect(config.processes.map(\.name) == ["zeta", "alpha", "mid"])
    }

    @Test func anUnresolvableListenHostIsAConfigError() {
        let message = configError("processes:\n  web:\n    command: x\n    listen: no-such-host.invalid:5000\n")
        #expect(message?.hasPrefix("superwatch.yaml:4:13: error: `listen`: cannot resolve `no-such-host.invalid`: ") == true)
    }

    @Test func listenAddressesParse() throws {
        let config = try parse("""
            processes:
              web:
                command: x
                listen: ["127.0.0.1:5000", "[::1]:0", ":8080", "unix:run/web.sock"]
            """)
        #expect(config.processes[0].listen.map(\.address) == [
            .tcp(host: "127.0.0.1", port: 5000), .tcp(host: "::1", port: 0), .tcp(host: "", port: 8080),
            .unix(path: "/tmp/run/web.sock"),
        ])
    }

    @Test func werkzeugProcessesAreWatchedAndRunTheirInterpreter() throws {
        let config = try parse("processes:\n  api:\n    werkzeug: app:create_app('dev')\n    python: .venv/bin/python\n    debug: true\n")
        let api = config.processes[0]
        #expect(api.werkzeug == WerkzeugApp(target: "app:create_app('dev')", python: "/tmp/.venv/bin/python", debug: true))
        #expect(api.isWatched)
    }

    @Test func cwdIsRelativeToTheConfigFile() throws {
        let config = try parse("processes:\n  a:\n    command: x\n    cwd: .\n")
        #expect(config.processes[0].cwd == "/tmp")
    }

    @Test(arguments: [
        // (yaml, expected error)
        ("processes:\n  web:\n    comand: x\n",
         "superwatch.yaml:3:5: error: unknown key `comand` in process `web`; did you mean `command`?"),
        ("procesess:\n  web: {command: x}\n",
         "superwatch.yaml:1:1: error: unknown key `procesess` in the top level; did you mean `processes`?"),
        ("version: 2\nprocesses:\n  web: {command: x}\n",
         "superwatch.yaml:1:10: error: unsupported config version; this superwatch reads `version: 1`"),
        ("processes:\n  web:\n    command: x\n    max_restarts: five\n",
         "superwatch.yaml:4:19: error: `max_restarts` must be a whole number, found `five`"),
        ("processes:\n  web:\n    command: x\n    restart_codes: 3\n",
         "superwatch.yaml:4:20: error: `restart_codes` must be a list, found a scalar"),
        ("processes:\n  web:\n    command: x\n    restart_codes: [3, 300]\n",
         "superwatch.yaml:4:24: error: a restart code must be between 0 and 255, found 300"),
        ("processes:\n  web:\n    command: x\n    backoff: soon\n",
         "superwatch.yaml:4:14: error: `backoff`: `soon` is not a duration; write e.g. 250ms, 1.5s, 2m or a number of seconds"),
        ("processes:\n  web:\n    command: x\n    stop_timeout: -1s\n",
         "superwatch.yaml:4:19: error: `stop_timeout`: `-1s` is not a duration; write e.g. 250ms, 1.5s, 2m or a number of seconds"),
        ("processes:\n  web:\n    command: x\n    stop_signal: TREM\n",
         "superwatch.yaml:4:18: error: unknown signal `TREM`; use one of TERM, INT, HUP, QUIT, KILL, USR1, USR2"),
        ("processes:\n  web:\n    command: x\n    restart: sometimes\n",
         "superwatch.yaml:4:14: error: `restart` must be one of never, on-failure, always; found `sometimes`"),
        ("processes: {}\n",
         "superwatch.yaml:1:12: error: `processes` is empty; declare at least one process"),
        ("env: {A: 1}\n",
         "superwatch.yaml:1:1: error: missing `processes:`; declare at least one process"),
        ("processes:\n  web:\n    cwd: /tmp\n",
         "superwatch.yaml:2:3: error: process `web` has no `command` (or `werkzeug`)"),
        ("processes:\n  web:\n    command: []\n",
         "superwatch.yaml:3:14: error: `command` must not be an empty list"),
        ("processes:\n  web:\n    command: {a: b}\n",
         "superwatch.yaml:3:14: error: `command` must be a string, found a mapping"),
        ("processes:\n  web app:\n    command: x\n",
         "superwatch.yaml:2:3: error: process name `web app` may only contain letters, digits, `_` and `-`"),
        ("processes:\n  web:\n    command: x\n  web:\n    command: y\n",
         "superwatch.yaml:4:3: error: duplicate key `web` (first defined at line 2); remove one of them"),
        ("processes:\n  web:\n    command: x\n    command: y\n",
         "superwatch.yaml:4:5: error: duplicate key `command` (first defined at line 3); remove one of them"),
        ("processes:\n  web:\n    command: x\n    env: {1A: b}\n",
         "superwatch.yaml:4:11: error: `1A` is not a valid environment variable name (letters, digits, _; not starting with a digit)"),
        ("processes:\n  web:\n    command: x\n    cwd: no/such/dir\n",
         "superwatch.yaml:4:10: error: `cwd` /tmp/no/such/dir is not an existing directory"),
        ("processes:\n  web:\n    command: \"x\n",
         "superwatch.yaml:4:1: error: YAML syntax: found unexpected end of stream (while scanning a quoted scalar at line 3)"),
        ("processes:\n  web: {command: x\n",
         "superwatch.yaml:3:1: error: YAML syntax: did not find expected ',' or '}' (while parsing a flow mapping at line 2)"),
        ("", "superwatch.yaml:1:1: error: the file is empty; it needs a `processes:` mapping"),
        ("- a\n- b\n", "superwatch.yaml:1:1: error: the top level must be a mapping, found a list"),
        ("processes:\n  web:\n    command: x\n    listen: 5000\n",
         "superwatch.yaml:4:13: error: `listen`: `5000` has no port; write HOST:PORT (127.0.0.1:5000), :PORT for every interface, or unix:PATH"),
        ("processes:\n  web:\n    command: x\n    listen: [\"127.0.0.1:80000\"]\n",
         "superwatch.yaml:4:14: error: `listen`: `80000` is not a port number (0 to 65535; 0 picks a free one)"),
        ("processes:\n  web:\n    command: x\n    listen: \"::1:5000\"\n",
         "superwatch.yaml:4:13: error: `listen`: write an IPv6 address in brackets: [::1]:5000"),
        ("processes:\n  web:\n    command: x\n    werkzeug: app:app\n",
         "superwatch.yaml:4:5: error: `command` and `werkzeug` cannot both be given; `werkzeug` runs the app itself"),
        ("processes:\n  web:\n    werkzeug: app:app\n    command: x\n",
         "superwatch.yaml:4:5: error: `command` and `werkzeug` cannot both be given; `werkzeug` runs the app itself"),
        ("processes:\n  web:\n    command: x\n    python: python3.12\n",
         "superwatch.yaml:4:5: error: `python` and `debug` only apply to a `werkzeug:` process"),
        ("processes:\n  web:\n    werkzeug: app:app\n    debug: maybe\n",
         "superwatch.yaml:4:12: error: `debug` must be true or false"),
    ] as [(String, String)])
    func badConfigIsAPositionedError(yaml: String, expected: String) {
        #expect(configError(yaml) == expected)
    }

    @Test(arguments: [
        ("250ms", 250), ("1.5s", 1500), ("2m", 120_000), ("1", 1000), ("0.25", 250), ("1h", 3_600_000), (" 3s ", 3000),
    ] as [(String, Int64)])
    func durationsParse(text: String, milliseconds: Int64) {
        #expect(parseDuration(text)?.milliseconds == milliseconds)
    }

    @Test(arguments: ["", "s", "1x", "-1", "ms", "1.2.3s", "inf", "1e3"])
    func badDurationsAreRejected(text: String) {
        #expect(parseDuration(text) == nil)
    }

    @Test func signalsAcceptTheSIGPrefixAndAnyCase() {
        #expect(SignalName.number("SIGTERM") == 15)
        #expect(SignalName.number("hup") == 1)
        #expect(SignalName.number("USR2") == 12)
        #expect(SignalName.number("WINCH") == nil)
    }

    @Test(arguments: [
        ("python3 app.py --port 5000", true), ("FOO=1 python3 app.py", false), ("a && b", false), ("a; b", false),
        ("a | b", false), ("cd x", false), ("sleep 1 &", false), ("echo $(date)", false), ("npm run dev > log", true),
    ])
    func simpleShellCommandsAreExecuted(line: String, simple: Bool) {
        #expect(Command.isSimpleCommand(line) == simple)
        #expect(Command.shell(line).arguments == ["/bin/sh", "-c", simple ? "exec \(line)" : line])
    }

    @Test func suggestionsNeedToBeClose() {
        #expect(closestMatch(to: "restart_code", in: ConfigKeys.process) == "restart_codes")
        #expect(closestMatch(to: "zzzzzzzz", in: ConfigKeys.process) == nil)
    }
}

@Suite struct RestartTrackerTests {
    let spec = ProcessSpec(name: "p", command: .shell("x"), cwd: "/", restartCodes: [3], restart: .onFailure,
                           maxRestarts: 3, backoff: .seconds(1))

    @Test func restartCodeRestartsAtOnceWithoutCountingAFailure() {
        var tracker = RestartTracker()
        for _ in 0..<10 { #expect(tracker.decide(.exited(3), ranFor: .zero, spec: spec) == .restartNow) }
        #expect(tracker.consecutiveRestarts == 0)
    }

    @Test func onFailureBacksOffDoublingThenGivesUp() {
        var tracker = RestartTracker()
        #expect(tracker.decide(.exited(1), ranFor: .zero, spec: spec) == .restartAfter(.seconds(1), attempt: 1))
        #expect(tracker.decide(.signaled(9), ranFor: .zero, spec: spec) == .restartAfter(.seconds(2), attempt: 2))
        #expect(tracker.decide(.exited(2), ranFor: .zero, spec: spec) == .restartAfter(.seconds(4), attempt: 3))
        #expect(tracker.decide(.exited(1), ranFor: .zero, spec: spec) == .giveUp)
    }

    @Test func onFailureLeavesACleanExitDown() {
        var tracker = RestartTracker()
        #expect(tracker.decide(.exited(0), ranFor: .zero, spec: spec) == .stayDown)
    }

    @Test func alwaysRestartsCleanExitsAndNeverRestartsNothing() {
        var always = spec
        always.restart = .always
        var tracker = RestartTracker()
        #expect(tracker.decide(.exited(0), ranFor: .zero, spec: always) == .restartAfter(.seconds(1), attempt: 1))
        var never = spec
        never.restart = .never
        #expect(RestartTracker().decidingOnce(.exited(1), spec: never) == .stayDown)
        #expect(RestartTracker().decidingOnce(.exited(3), spec: never) == .restartNow)
    }

    @Test func aLongRunResetsTheBackoff() {
        var tracker = RestartTracker()
        _ = tracker.decide(.exited(1), ranFor: .zero, spec: spec)
        _ = tracker.decide(.exited(1), ranFor: .zero, spec: spec)
        #expect(tracker.decide(.exited(1), ranFor: .seconds(11), spec: spec) == .restartAfter(.seconds(1), attempt: 1))
    }

    @Test func backoffIsCappedAtThirtySeconds() {
        #expect(RestartTracker.delay(base: .seconds(1), attempt: 1) == .seconds(1))
        #expect(RestartTracker.delay(base: .seconds(1), attempt: 5) == .seconds(16))
        #expect(RestartTracker.delay(base: .seconds(1), attempt: 6) == .seconds(30))
        #expect(RestartTracker.delay(base: .seconds(1), attempt: 60) == .seconds(30))
        #expect(RestartTracker.delay(base: .seconds(45), attempt: 1) == .seconds(30))
    }

    @Test func aRestartCodeStormIsTreatedAsFailures() {
        var tracker = RestartTracker()
        for _ in 0..<RestartTracker.quickRestartLimit {
            #expect(tracker.decide(.exited(3), ranFor: .milliseconds(5), spec: spec) == .restartNow)
            #expect(!tracker.stormBegan)
        }
        #expect(tracker.decide(.exited(3), ranFor: .milliseconds(5), spec: spec) == .restartAfter(.seconds(1), attempt: 1))
        #expect(tracker.stormBegan, "said once, when it begins")
        #expect(tracker.decide(.exited(3), ranFor: .milliseconds(5), spec: spec) == .restartAfter(.seconds(2), attempt: 2))
        #expect(!tracker.stormBegan)
        #expect(tracker.decide(.exited(3), ranFor: .milliseconds(5), spec: spec) == .restartAfter(.seconds(4), attempt: 3))
        #expect(tracker.decide(.exited(3), ranFor: .milliseconds(5), spec: spec) == .giveUp)
    }

    @Test func aLongerRunEndsTheStorm() {
        var tracker = RestartTracker()
        for _ in 0...RestartTracker.quickRestartLimit { _ = tracker.decide(.exited(3), ranFor: .zero, spec: spec) }
        #expect(tracker.decide(.exited(3), ranFor: .milliseconds(150), spec: spec) == .restartNow)
        #expect(tracker.quickRestarts == 0)
        // Slow restarts never count, and another exit breaks the row.
        for _ in 0..<50 { #expect(tracker.decide(.exited(3), ranFor: .milliseconds(100), spec: spec) == .restartNow) }
        for _ in 0..<RestartTracker.quickRestartLimit { _ = tracker.decide(.exited(3), ranFor: .zero, spec: spec) }
        _ = tracker.decide(.exited(1), ranFor: .zero, spec: spec)
        #expect(tracker.decide(.exited(3), ranFor: .zero, spec: spec) == .restartNow)
    }

    @Test func aStormUnderRestartNeverStaysDownAndAChangeForgetsIt() {
        var never = spec
        never.restart = .never
        var tracker = RestartTracker()
        for _ in 0..<RestartTracker.quickRestartLimit { _ = tracker.decide(.exited(3), ranFor: .zero, spec: never) }
        #expect(tracker.decide(.exited(3), ranFor: .zero, spec: never) == .stayDown)
        tracker.reset()
        #expect(tracker.decide(.exited(3), ranFor: .zero, spec: never) == .restartNow)
    }

    @Test func maxRestartsZeroGivesUpAtOnce() {
        var none = spec
        none.maxRestarts = 0
        #expect(RestartTracker().decidingOnce(.exited(1), spec: none) == .giveUp)
    }
}

extension RestartTracker {
    func decidingOnce(_ status: Termination, spec: ProcessSpec) -> Decision {
        var copy = self
        return copy.decide(status, ranFor: .zero, spec: spec)
    }
}
