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
        let config = try parse(
            """
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
        #expect(web.stopSignal == .interrupt)
        #expect(web.stopTimeout == .milliseconds(1500))
        let worker = config.processes[1]
        #expect(worker.command == .argv(["python3", "worker.py"]))
        #expect(worker.restartCodes == [3])
        #expect(worker.restart == .onFailure)
        #expect(worker.maxRestarts == 5)
        #expect(worker.backoff == .seconds(1))
        #expect(worker.stopSignal == .terminate)
        #expect(worker.stopTimeout == .seconds(5))
    }

    @Test func processesKeepTheirWrittenOrder() throws {
        let config = try parse("processes:\n  zeta: {command: a}\n  alpha: {command: b}\n  mid: {command: c}\n")
        #expect(config.processes.map(\.name) == ["zeta", "alpha", "mid"])
    }

    @Test func anUnresolvableListenHostIsAConfigError() {
        let message = configError("processes:\n  web:\n    command: x\n    listen: no-such-host.invalid:5000\n")
        #expect(
            message?.hasPrefix("superwatch.yaml:4:13: error: `listen`: cannot resolve `no-such-host.invalid`: ") == true
        )
    }

    @Test func listenAddressesParse() throws {
        let config = try parse(
            """
            processes:
              web:
                command: x
                listen: ["127.0.0.1:5000", "[::1]:0", ":8080", "unix:run/web.sock"]
            """)
        #expect(
            config.processes[0].listen.map(\.address) == [
                .tcp(host: "127.0.0.1", port: 5000), .tcp(host: "::1", port: 0), .tcp(host: "", port: 8080),
                .unix(path: "/tmp/run/web.sock"),
            ])
    }

    @Test func werkzeugProcessesAreWatchedAndRunTheirInterpreter() throws {
        let config = try parse(
            "processes:\n  api:\n    werkzeug: app:create_app('dev')\n    python: .venv/bin/python\n    debug: true\n")
        let api = config.processes[0]
        #expect(
            api.werkzeug == WerkzeugApp(target: "app:create_app('dev')", python: "/tmp/.venv/bin/python", debug: true))
        #expect(api.isWatched)
    }

    @Test func cwdIsRelativeToTheConfigFile() throws {
        let config = try parse("processes:\n  a:\n    command: x\n    cwd: .\n")
        #expect(config.processes[0].cwd == "/tmp")
    }

    @Test(
        arguments: [
            // (yaml, expected error)
            (
                "processes:\n  web:\n    comand: x\n",
                "superwatch.yaml:3:5: error: unknown key `comand` in process `web`; did you mean `command`?"
            ),
            (
                "procesess:\n  web: {command: x}\n",
                "superwatch.yaml:1:1: error: unknown key `procesess` in the top level; did you mean `processes`?"
            ),
            (
                "version: 2\nprocesses:\n  web: {command: x}\n",
                "superwatch.yaml:1:10: error: unsupported config version; this superwatch reads `version: 1`"
            ),
            (
                "processes:\n  web:\n    command: x\n    max_restarts: five\n",
                "superwatch.yaml:4:19: error: `max_restarts` must be a whole number, found the string `five`"
            ),
            (
                "processes:\n  web:\n    command: x\n    restart_codes: 3\n",
                "superwatch.yaml:4:20: error: `restart_codes` must be a list, found the number `3`"
            ),
            (
                "processes:\n  web:\n    command: x\n    restart_codes: [3, 300]\n",
                "superwatch.yaml:4:24: error: a restart code must be between 0 and 255, found 300"
            ),
            (
                "processes:\n  web:\n    command: x\n    backoff: soon\n",
                "superwatch.yaml:4:14: error: `backoff`: `soon` is not a duration; write e.g. 250ms, 1.5s, 2m or a number of seconds"
            ),
            (
                "processes:\n  web:\n    command: x\n    stop_timeout: -1s\n",
                "superwatch.yaml:4:19: error: `stop_timeout`: `-1s` is not a duration; write e.g. 250ms, 1.5s, 2m or a number of seconds"
            ),
            (
                "processes:\n  web:\n    command: x\n    stop_signal: TREM\n",
                "superwatch.yaml:4:18: error: unknown signal `TREM`; use one of TERM, INT, HUP, QUIT, KILL, USR1, USR2"
            ),
            (
                "processes:\n  web:\n    command: x\n    restart: sometimes\n",
                "superwatch.yaml:4:14: error: `restart` must be one of never, on-failure, always; found `sometimes`"
            ),
            (
                "processes: {}\n",
                "superwatch.yaml:1:12: error: `processes` is empty; declare at least one process"
            ),
            (
                "env: {A: 1}\n",
                "superwatch.yaml:1:1: error: missing `processes:`; declare at least one process"
            ),
            (
                "processes:\n  web:\n    cwd: /tmp\n",
                "superwatch.yaml:2:3: error: process `web` has no `command` (or `werkzeug`)"
            ),
            (
                "processes:\n  web:\n    command: []\n",
                "superwatch.yaml:3:14: error: `command` must not be an empty list"
            ),
            (
                "processes:\n  web:\n    command: {a: b}\n",
                "superwatch.yaml:3:14: error: `command` must be a string, found a mapping"
            ),
            (
                "processes:\n  web app:\n    command: x\n",
                "superwatch.yaml:2:3: error: process name `web app` may only contain letters, digits, `_` and `-`"
            ),
            (
                "processes:\n  web:\n    command: x\n  web:\n    command: y\n",
                "superwatch.yaml:4:3: error: duplicate key `web` (first defined at line 2); remove one of them"
            ),
            (
                "processes:\n  web:\n    command: x\n    command: y\n",
                "superwatch.yaml:4:5: error: duplicate key `command` (first defined at line 3); remove one of them"
            ),
            (
                "processes:\n  web:\n    command: x\n    env: {1A: b}\n",
                "superwatch.yaml:4:11: error: `1A` is not a valid environment variable name (letters, digits, _; not starting with a digit)"
            ),
            (
                "processes:\n  web:\n    command: x\n    cwd: no/such/dir\n",
                "superwatch.yaml:4:10: error: `cwd` /tmp/no/such/dir is not an existing directory"
            ),
            (
                "processes:\n  web:\n    command: \"x\n",
                "superwatch.yaml:4:1: error: YAML syntax: found unexpected end of stream (while scanning a quoted scalar at line 3)"
            ),
            (
                "processes:\n  web: {command: x\n",
                "superwatch.yaml:3:1: error: YAML syntax: did not find expected ',' or '}' (while parsing a flow mapping at line 2)"
            ),
            ("", "superwatch.yaml:1:1: error: the file is empty; it needs a `processes:` mapping"),
            ("- a\n- b\n", "superwatch.yaml:1:1: error: the top level must be a mapping, found a list"),
            (
                "processes:\n  web:\n    command: x\n    listen: 5000\n",
                "superwatch.yaml:4:13: error: `listen`: `5000` has no port; write HOST:PORT (127.0.0.1:5000), :PORT for every interface, or unix:PATH"
            ),
            (
                "processes:\n  web:\n    command: x\n    listen: [\"127.0.0.1:80000\"]\n",
                "superwatch.yaml:4:14: error: `listen`: `80000` is not a port number (0 to 65535; 0 picks a free one)"
            ),
            (
                "processes:\n  web:\n    command: x\n    listen: \"::1:5000\"\n",
                "superwatch.yaml:4:13: error: `listen`: write an IPv6 address in brackets: [::1]:5000"
            ),
            (
                "processes:\n  web:\n    command: x\n    werkzeug: app:app\n",
                "superwatch.yaml:4:5: error: `command` and `werkzeug` cannot both be given; `werkzeug` runs the app itself"
            ),
            (
                "processes:\n  web:\n    werkzeug: app:app\n    command: x\n",
                "superwatch.yaml:4:5: error: `command` and `werkzeug` cannot both be given; `werkzeug` runs the app itself"
            ),
            (
                "processes:\n  web:\n    command: x\n    python: python3.12\n",
                "superwatch.yaml:4:5: error: `python` and `debug` only apply to a `werkzeug:` process"
            ),
            (
                "processes:\n  web:\n    werkzeug: app:app\n    debug: maybe\n",
                "superwatch.yaml:4:12: error: `debug` must be true or false, found the string `maybe`"
            ),
        ] as [(String, String)])
    func badConfigIsAPositionedError(yaml: String, expected: String) {
        #expect(configError(yaml) == expected)
    }

    @Test(
        arguments: [
            ("250ms", 250), ("1.5s", 1500), ("2m", 120_000), ("1", 1000), ("0.25", 250), ("1h", 3_600_000),
            (" 3s ", 3000),
        ] as [(String, Int64)])
    func durationsParse(text: String, milliseconds: Int64) {
        #expect(parseDuration(text)?.milliseconds == milliseconds)
    }

    @Test(arguments: ["", "s", "1x", "-1", "ms", "1.2.3s", "inf", "1e3"])
    func badDurationsAreRejected(text: String) {
        #expect(parseDuration(text) == nil)
    }

    @Test func signalsAcceptTheSIGPrefixAndAnyCase() {
        #expect(UnixSignal(name: "SIGTERM") == .terminate)
        #expect(UnixSignal(name: "hup") == .hangup)
        #expect(UnixSignal(name: "USR2") == .user2)
        #expect(UnixSignal(name: "WINCH") == nil)
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
    let spec = ProcessSpec(
        name: "p", command: .shell("x"), cwd: "/", restartCodes: [3], restart: .onFailure,
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
        #expect(
            tracker.decide(.exited(3), ranFor: .milliseconds(5), spec: spec) == .restartAfter(.seconds(1), attempt: 1))
        #expect(tracker.stormBegan, "said once, when it begins")
        #expect(
            tracker.decide(.exited(3), ranFor: .milliseconds(5), spec: spec) == .restartAfter(.seconds(2), attempt: 2))
        #expect(!tracker.stormBegan)
        #expect(
            tracker.decide(.exited(3), ranFor: .milliseconds(5), spec: spec) == .restartAfter(.seconds(4), attempt: 3))
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

/// What the fuzzer and a hostile config found: no value `check` accepts can crash `up` later, no string is
/// cut short at a NUL, and every rejection points at its line and column.
@Suite struct ConfigLimitTests {
    static let process = "processes:\n  web:\n    command: x\n"

    @Test(
        arguments: [
            // (yaml after `command: x`, expected error); each was a crash (SIGILL) or passed `check` and trapped in `up`.
            (
                "    backoff: 99999999999999999999h\n",
                "superwatch.yaml:4:14: error: `backoff` must be at most 30s, found `99999999999999999999h`"
            ),
            (
                "    watcher: poll\n    interval: 2562048h\n",
                "superwatch.yaml:5:15: error: `interval` must be at most 1h, found `2562048h`"
            ),
            (
                "    stop_timeout: 9223372036854775807\n",
                "superwatch.yaml:4:19: error: `stop_timeout` must be at most 1h, found `9223372036854775807`"
            ),
            (
                "    stop_timeout: 99999999999999999999999999\n",
                "superwatch.yaml:4:19: error: `stop_timeout` must be at most 1h, found `99999999999999999999999999`"
            ),
            ("    debounce: 1e300\n", "superwatch.yaml:4:15: error: `debounce` must be at most 1m, found `1e300`"),
            ("    debounce: .inf\n", "superwatch.yaml:4:15: error: `debounce` must be at most 1m, found `.inf`"),
            (
                "    debounce: .nan\n",
                "superwatch.yaml:4:15: error: `debounce`: `.nan` is not a duration; write e.g. 250ms, 1.5s, 2m or a number of seconds"
            ),
            ("    backoff: 30.0001s\n", "superwatch.yaml:4:14: error: `backoff` must be at most 30s, found `30.0001s`"),
            (
                "    backoff: 0.0083334h\n",
                "superwatch.yaml:4:14: error: `backoff` must be at most 30s, found `0.0083334h`"
            ),
            ("    interval: 0.0\n", "superwatch.yaml:4:15: error: `interval` must be more than 0"),
            (
                "    max_restarts: 1:0:0:0:0:0:0:0:0:0:0:0\n",
                "superwatch.yaml:4:19: error: `max_restarts` must be between 0 and 1000000, found 1:0:0:0:0:0:0:0:0:0:0:0"
            ),
            (
                "    replicas: 0x7FFFFFFFFFFFFFFFFFFF\n",
                "superwatch.yaml:4:15: error: `replicas` must be between 1 and 1000, found 0x7FFFFFFFFFFFFFFFFFFF"
            ),
            (
                "    replicas: 1e400\n",
                "superwatch.yaml:4:15: error: `replicas` must be between 1 and 1000, found 1e400"
            ),
        ] as [(String, String)])
    func largeNumbersAreRefusedWhereTheyAreWritten(yaml: String, expected: String) {
        #expect(configError(Self.process + yaml) == expected)
    }

    @Test func everyDurationMayBeItsMaximumAndNoMore() throws {
        let spec = try parse(
            Self.process + "    backoff: 30s\n    stop_timeout: 1h\n    interval: 3600\n    debounce: 60000ms\n"
                + "    ready_timeout: 60m\n    ready_period: 3600s\n"
        ).processes[0]
        #expect(
            [spec.backoff, spec.stopTimeout, spec.interval, spec.debounce, spec.readyTimeout, spec.readyPeriod]
                == DurationKey.allCases.map(\.maximum))
        // What `up` does with them cannot overflow: deadlines, the keeper's Int32 milliseconds, the doubling.
        #expect(Int32(exactly: spec.stopTimeout.milliseconds) != nil)
        #expect(RestartTracker.delay(base: spec.backoff, attempt: 1_000_000) == .seconds(30))
        for key in DurationKey.allCases {
            #expect(
                configError(Self.process + "    \(key.rawValue): \(key.maximum.milliseconds + 1)ms\n")?.contains(
                    "must be at most") == true)
        }
    }

    @Test(
        arguments: [
            ("30s", 30_000), ("0.5m", 30_000), ("0.0083h", 29_880), ("0.0001s", 1), ("29.9996s", 30_000), ("1.", 1000),
            (".5", 500), ("  2s\t", 2000), ("007ms", 7),
        ] as [(String, Int64)])
    func durationsAreComparedExactlyThenRounded(text: String, milliseconds: Int64) throws {
        #expect(try parseDuration(text, maximum: .seconds(30)).get().milliseconds == milliseconds)
    }

    @Test func durationsFromNumbersRefuseWhatIsNoDuration() {
        #expect(durationFromSeconds(.nan, maximum: .seconds(30)) == .failure(.notADuration))
        #expect(durationFromSeconds(-0.5, maximum: .seconds(30)) == .failure(.notADuration))
        #expect(durationFromSeconds(.infinity, maximum: .seconds(30)) == .failure(.tooLong))
        #expect(durationFromSeconds(1e-9, maximum: .seconds(30)) == .success(.milliseconds(1)))
        #expect(parseDuration("99999999999999999999999999999999", maximum: .seconds(30)) == .failure(.tooLong))
    }

    @Test(
        arguments: [
            (
                "    command: \"echo a\\0b\"\n",
                "superwatch.yaml:3:14: error: `command` contains a NUL character (\\0), which no command, path or variable can hold; remove it"
            ),
            (
                "    command: [echo, \"a\\0b\"]\n",
                "superwatch.yaml:3:21: error: an item of `command` contains a NUL character (\\0), which no command, path or variable can hold; remove it"
            ),
            (
                "    command: x\n    env: {X: \"a\\0b\"}\n",
                "superwatch.yaml:4:14: error: the value of X contains a NUL character, which cannot be passed to a process; remove it"
            ),
            (
                "    command: x\n    cwd: \"a\\0b\"\n",
                "superwatch.yaml:4:10: error: `cwd` contains a NUL character (\\0), which no command, path or variable can hold; remove it"
            ),
            (
                "    werkzeug: \"app\\0\"\n",
                "superwatch.yaml:3:15: error: `werkzeug` contains a NUL character (\\0), which no command, path or variable can hold; remove it"
            ),
        ] as [(String, String)])
    func aNULIsRefusedNotTruncated(yaml: String, expected: String) {
        #expect(configError("processes:\n  web:\n" + yaml) == expected)
    }

    @Test(
        arguments: [
            (
                "processes:\n  a: {command: \"x\u{1}\"}\n",
                "superwatch.yaml:2:18: error: character U+0001 is not allowed in YAML (no control characters); remove it, or write it as an escape in a double-quoted string"
            ),
            (
                "processes:\r\n  a: {command: x}\r\n\u{7F}\n",
                "superwatch.yaml:3:1: error: character U+007F is not allowed in YAML (no control characters); remove it, or write it as an escape in a double-quoted string"
            ),
            ("a: 1\u{85}b: \u{0}\n", "superwatch.yaml:2:4: error: a NUL character is not allowed in YAML; remove it"),
            (
                "a: \u{FFFE}\n",
                "superwatch.yaml:1:4: error: character U+FFFE is not allowed in YAML (no control characters); remove it, or write it as an escape in a double-quoted string"
            ),
        ] as [(String, String)])
    func aControlCharacterIsAnErrorAtItsPosition(yaml: String, expected: String) {
        #expect(configError(yaml) == expected)
    }

    @Test func invalidUTF8IsAnErrorAtItsPosition() {
        let bytes = Array("processes:\n  web: {command: é".utf8) + [0xC3, 0x28] + Array("}\n".utf8)
        #expect(
            throws: SuperwatchError(
                .invalidConfig, "invalid UTF-8 (byte 0xC3); save the file as UTF-8",
                at: SourceLocation(file: "/tmp/superwatch.yaml", line: 2, column: 19))
        ) {
            try ConfigLoader.parse(bytes: bytes, path: "/tmp/superwatch.yaml")
        }
    }

    @Test(
        arguments: [
            (
                "    command: !!binary aGVsbG8=\n",
                "superwatch.yaml:3:14: error: the YAML tag `!!binary` is not supported; superwatch reads plain strings, numbers, booleans, lists and mappings (tags !!str !!int !!float !!bool !!null !!map !!seq): remove the tag"
            ),
            (
                "    !!python/object {command: x}\n",
                "superwatch.yaml:3:5: error: the YAML tag `!!python/object` is not supported; superwatch reads plain strings, numbers, booleans, lists and mappings (tags !!str !!int !!float !!bool !!null !!map !!seq): remove the tag"
            ),
            (
                "    command: !shell x\n",
                "superwatch.yaml:3:14: error: the YAML tag `!shell` is not supported; superwatch reads plain strings, numbers, booleans, lists and mappings (tags !!str !!int !!float !!bool !!null !!map !!seq): remove the tag"
            ),
            (
                "    command: x\n    restart_codes: !!set {3}\n",
                "superwatch.yaml:4:20: error: the YAML tag `!!set` is not supported; superwatch reads plain strings, numbers, booleans, lists and mappings (tags !!str !!int !!float !!bool !!null !!map !!seq): remove the tag"
            ),
            ("    command: !!map x\n", "superwatch.yaml:3:14: error: the YAML tag `!!map` does not fit a single value"),
            (
                "    command: !!int x\n",
                "superwatch.yaml:3:14: error: `x` is not a valid !!int value; fix it or remove the tag"
            ),
            (
                "    command: true\n",
                "superwatch.yaml:3:14: error: `command` must be a string, found the boolean `true`; put it in quotes to mean the text"
            ),
            (
                "    command: 42\n",
                "superwatch.yaml:3:14: error: `command` must be a string, found the number `42`; put it in quotes to mean the text"
            ),
            (
                "    werkzeug: host:-1\n",
                "superwatch.yaml:3:15: error: `werkzeug` takes module:attribute or module:factory(), as flask --app does"
            ),
            (
                "    command: x\n    listen: []\n",
                "superwatch.yaml:4:13: error: `listen` must not be an empty list; name an address such as 127.0.0.1:5000, or remove it"
            ),
            (
                "    command: x\n    replicas: \"2\"\n",
                "superwatch.yaml:4:15: error: `replicas` must be a whole number, found the string `2`"
            ),
            (
                "    command: x\n    listen: \":+5000\"\n",
                "superwatch.yaml:4:13: error: `listen`: `+5000` is not a port number (0 to 65535; 0 picks a free one)"
            ),
            (
                "    command: x\n    listen: \"[foo]:80\"\n",
                "superwatch.yaml:4:13: error: `listen`: `[foo]` is not an IPv6 address; write it as [::1]:5000"
            ),
            (
                "    command: x\n    stop_signal: \"\u{17F}igterm\"\n",
                "superwatch.yaml:4:18: error: unknown signal `\u{17F}igterm`; use one of TERM, INT, HUP, QUIT, KILL, USR1, USR2"
            ),
            (
                "    command: x\n    watch: [\"src/[abc\"]\n",
                "superwatch.yaml:4:13: error: `watch`: unclosed '[' in glob pattern 'src/[abc'; write '\\[' for a literal bracket"
            ),
            (
                "    command: x\n    ignore: [\"./\"]\n",
                "superwatch.yaml:4:14: error: `ignore`: empty ignore pattern './'"
            ),
        ] as [(String, String)])
    func whatTheSchemaRefusesTheLoaderRefuses(yaml: String, expected: String) {
        #expect(configError("processes:\n  web:\n" + yaml) == expected)
    }

    @Test func versionMustBeTheNumberOne() throws {
        #expect(
            configError("version: '1'\n" + Self.process)
                == "superwatch.yaml:1:10: error: `version` must be the number 1, found the string `1`; write `version: 1`"
        )
        _ = try parse("version: 1.0\n" + Self.process)
    }

    @Test func coreTagsAndYAMLNumbersAreReadAsTheSchemaReadsThem() throws {
        let spec = try parse(
            """
            processes:
              web:
                command: !!str 42
                replicas: 0x10
                max_restarts: 1:30
                restart_codes: [0o7, 1_0, 2.0]
                env: {A: 0x10, B: yes, C: 2001-12-14}
            """
        ).processes[0]
        #expect(spec.command == .shell("42"))
        #expect(spec.replicas == 16)
        #expect(spec.maxRestarts == 90)
        #expect(spec.restartCodes == [7, 10, 2])
        #expect(spec.env == ["A": "0x10", "B": "yes", "C": "2001-12-14"], "values are passed as written")
    }

    @Test func mergeKeysApplyWithTheWrittenKeysWinning() throws {
        let config = try parse(
            """
            processes:
              a: &defaults {command: x, backoff: 2s, restart: always}
              b:
                <<: [*defaults, {max_restarts: 1, restart: never}]
                restart: on-failure
            """)
        let b = config.processes[1]
        #expect(b.command == .shell("x"))
        #expect(b.backoff == .seconds(2))
        #expect(b.restart == .onFailure, "the key written in the mapping wins")
        #expect(b.maxRestarts == 1)
        #expect(
            configError("processes:\n  a: &d {command: x, comand: y}\n  b: {<<: *d}\n")
                == "superwatch.yaml:2:22: error: unknown key `comand` in process `a`; did you mean `command`?")
        #expect(
            configError("processes:\n  b: {<<: 3, command: x}\n")
                == "superwatch.yaml:2:11: error: `<<` merges a mapping or a list of mappings (such as *defaults), found the number `3`"
        )
    }

    @Test func whatAMessageQuotesStaysOnOneLine() {
        #expect(
            configError("processes:\n  web:\n    command: x\n    \"comm\\nand\\u001B\": y\n")
                == "superwatch.yaml:4:5: error: unknown key `comm\\nand\\u{1B}` in process `web`; did you mean `command`?"
        )
        // Found by the fuzzer: the glob compiler quotes the whole pattern, line break included.
        #expect(
            configError(Self.process + "    ignore: [\"**/t[a\\nb\"]\n")
                == "superwatch.yaml:4:14: error: `ignore`: unclosed '[' in glob pattern '**/t[a\\nb'; write '\\[' for a literal bracket"
        )
        #expect(
            configError(Self.process + "    restart: \(String(repeating: "x", count: 200))\n")
                == "superwatch.yaml:4:14: error: `restart` must be one of never, on-failure, always; found `\(String(repeating: "x", count: 80))…`"
        )
    }

    @Test func keysThatDifferOnlyInTheirYAMLTypeAreDuplicates() {
        #expect(
            configError("processes:\n  1: {command: x}\n  '1': {command: y}\n")
                == "superwatch.yaml:3:3: error: duplicate key `1` in `processes`; remove one of them")
    }

    @Test func aliasesCannotMakeTheLoaderReadBillionsOfValues() {
        var yaml = "processes:\n  p0: {command: x, env: &e0 {A: x, B: x, C: x, D: x, E: x, F: x, G: x, H: x}}\n"
        for level in 1...8 {
            yaml +=
                "  p\(level): {command: x, env: &e\(level) {<<: ["
                + Array(repeating: "*e\(level - 1)", count: 8).joined(separator: ", ") + "]}}\n"
        }
        #expect(
            configError(yaml)?.contains("error: the config expands to more than 100000 values through its aliases")
                == true)
    }

    @Test func aValueTooLongForTheKernelIsRefusedNamingIt() {
        let fits = String(repeating: "v", count: ExecLimits.maximumStringLength - 2)
        #expect(configError(Self.process + "    env: {X: \(fits)}\n") == nil)
        #expect(
            configError(Self.process + "    env: {X: \(fits)v}\n")
                == "superwatch.yaml:4:14: error: X=VALUE is 131072 bytes; the kernel passes at most 131071 bytes per environment variable (MAX_ARG_STRLEN), so no process could be started with it"
        )
        // A simple command runs as `exec COMMAND`: those five bytes count too.
        let command = String(repeating: "a", count: ExecLimits.maximumStringLength - 4)
        #expect(
            configError("processes:\n  web:\n    command: \(command)\n")
                == "superwatch.yaml:3:14: error: `command` is too long: it is 131072 bytes; the kernel passes at most 131071 bytes per argument (MAX_ARG_STRLEN)"
        )
    }

    @Test func aWerkzeugPortFromTheEnvMustBeAPort() {
        // A global PORT is the base of the numbering, checked (at its position) when the stack is planned.
        #expect(configError("env: {PORT: \"70000\"}\nprocesses:\n  api: {werkzeug: app}\n") == nil)
        #expect(
            configError("processes:\n  api: {werkzeug: app, env: {PORT: \"-1\"}}\n")?.hasPrefix(
                "superwatch.yaml:2:36: error: PORT=-1") == true)
        #expect(configError("processes:\n  api: {werkzeug: app, env: {PORT: \"0\"}}\n") == nil)
    }
}
