import Foundation
import SuperwatchCore
import SuperwatchTestSupport
import Testing

/// The fuzz target's properties on the committed seed corpus (fuzz/corpus), so that `swift test` checks them
/// on every input that ever mattered — the regressions among them — without running libFuzzer.
@Suite struct FuzzCorpusTests {
    @Test(arguments: ConfigFuzzTarget.allCases)
    func everySeedPassesEveryProperty(target: ConfigFuzzTarget) throws {
        let seeds = ConfigFuzzer.corpus(target)
        #expect(seeds.count >= 3)
        let fuzzer = ConfigFuzzer(target: target)
        for seed in seeds {
            let input = try Data(contentsOf: seed)
            #expect(fuzzer.violation(for: Array(input)) == nil, "\(seed.lastPathComponent)")
        }
    }

    @Test func theSeedsReachBothAcceptanceAndRejection() throws {
        let fixture = ConfigFuzzer(target: .config).fixture
        var accepted = 0
        var rejected = 0
        for seed in ConfigFuzzer.corpus(.config) {
            do {
                _ = try ConfigLoader.parse(
                    bytes: Array(try Data(contentsOf: seed)), path: "\(fixture)/superwatch.yaml",
                    hostLookup: .numericOnly)
                accepted += 1
            } catch {
                rejected += 1
            }
        }
        #expect(accepted >= 5 && rejected >= 3, "accepted \(accepted), rejected \(rejected)")
    }

    /// The properties can fail: a plan the loader would never make is caught.
    @Test func aConfigUpCouldNotStartIsAViolation() {
        let fuzzer = ConfigFuzzer(target: .config)
        let bad = Config(
            file: "superwatch.yaml", directory: "/",
            processes: [
                ProcessSpec(name: "web", command: .argv(["echo", "a\u{0}b"]), cwd: "/")
            ])
        #expect(fuzzer.problemStarting(bad)?.contains("NUL") == true)
        var slow = ProcessSpec(name: "web", command: .shell("x"), cwd: "/")
        slow.interval = .seconds(7200)
        #expect(
            fuzzer.problemStarting(Config(file: "superwatch.yaml", directory: "/", processes: [slow]))?.contains(
                "interval") == true)
        #expect(fuzzer.unpositioned(SuperwatchError(.invalidConfig, "x", at: SourceLocation(file: "f"))) != nil)
    }
}
