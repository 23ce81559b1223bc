// Usage: watch-driver ROOT GLOB...
// Scans ROOT with a native FileWatcher, prints `scan_ms=… watches=… matches=…` and `ready`, then obeys
// commands on standard input (blocking there, so the process is idle but for the watcher thread):
//   latency N PATH  write file PATH (relative to ROOT; it must match a glob) N times and print the median and
//                   worst time from the end of the write to `burstStarted` (`latency_us_median=… latency_us_max=…`)
//   quit        stop and exit
import Foundation
import SuperwatchCore
import Synchronization

let arguments = CommandLine.arguments.dropFirst()
guard let root = arguments.first, arguments.count >= 2 else {
    FileHandle.standardError.write(Data("usage: watch-driver ROOT GLOB...\n".utf8))
    exit(2)
}
let globs = Array(arguments.dropFirst())

/// The time of the latest `burstStarted`, for the latency probe.
let lastBurst = Mutex<ContinuousClock.Instant?>(nil)
let clock = ContinuousClock()

let spec = WatchSpec(process: 0, root: root, globs: globs, kind: .native, debounce: .milliseconds(20))
let scanStart = clock.now
let watcher = try FileWatcher(specs: [spec]) { event in
    if case .burstStarted = event {
        let now = clock.now
        lastBurst.withLock { $0 = now }
    }
}
watcher.start()
let scanTime = clock.now - scanStart

/// inotify watches held by this process, from /proc (each watch is one `inotify wd:` line in fdinfo).
func watchCount() -> Int {
    let fdDirectory = "/proc/self/fdinfo"
    var total = 0
    for name in (try? FileManager.default.contentsOfDirectory(atPath: fdDirectory)) ?? [] {
        guard let text = try? String(contentsOfFile: fdDirectory + "/" + name, encoding: .utf8) else { continue }
        total += text.components(separatedBy: "\n").filter { $0.hasPrefix("inotify wd:") }.count
    }
    return total
}

/// One line on standard output, unbuffered (the benchmark script waits for it).
func say(_ line: String) { FileHandle.standardOutput.write(Data((line + "\n").utf8)) }

let matchStart = clock.now
let matches = FileWatcher.countMatches(spec)
let countTime = clock.now - matchStart
say("scan_ms=\(scanTime.milliseconds) watches=\(watchCount()) matches=\(matches) count_ms=\(countTime.milliseconds)")
say("ready")

func microseconds(_ duration: Duration) -> Int64 {
    let (seconds, attoseconds) = duration.components
    return seconds * 1_000_000 + attoseconds / 1_000_000_000_000
}

while let line = readLine() {
    let words = line.split(separator: " ")
    switch words.first {
    case "latency":
        let rounds = words.count > 1 ? Int(words[1]) ?? 20 : 20
        var samples: [Int64] = []
        let probe = root + "/" + (words.count > 2 ? String(words[2]) : "latency_probe.py")
        for round in 0..<rounds {
            lastBurst.withLock { $0 = nil }
            try Data("x = \(round)\n".utf8).write(to: URL(fileURLWithPath: probe))
            let written = clock.now
            var burst: ContinuousClock.Instant?
            while burst == nil && clock.now - written < .seconds(2) {
                burst = lastBurst.withLock { $0 }
                if burst == nil { usleep(50) }
            }
            if let burst { samples.append(microseconds(burst - written)) }
            usleep(100_000)  // let the burst settle (debounce 20 ms) before the next round
        }
        samples.sort()
        let median = samples.isEmpty ? -1 : samples[samples.count / 2]
        say("latency_us_median=\(median) latency_us_max=\(samples.last ?? -1) samples=\(samples.count)")
        try? FileManager.default.removeItem(atPath: probe)
    case "quit":
        watcher.stop()
        exit(0)
    default:
        break
    }
}
watcher.stop()
