import Foundation

/// `superwatch status` as a table, one row per process (replica), in the config's order:
///
///     NAME    STATE        PID   UPTIME  RESTARTS  LAST EXIT           ADDRESS
///     web     running      4242  3m12s   0         -                   http://127.0.0.1:5000
///     worker  backing-off  -     -       2         exited with code 1  -
public enum StatusTable {
    public static let columns = ["NAME", "STATE", "PID", "UPTIME", "RESTARTS", "LAST EXIT", "ADDRESS"]

    /// The table, each line ending in a newline; uptimes are counted to `now`.
    public static func render(_ processes: [ProcessStatus], now: Date) -> String {
        let rows =
            [columns]
            + processes.map { process in
                [
                    process.name,
                    state(process),
                    process.pid.map(String.init) ?? "-",
                    process.startedAt.map { uptime(now.timeIntervalSince($0)) } ?? "-",
                    String(process.restarts),
                    process.lastExit ?? "-",
                    process.addresses.isEmpty ? "-" : process.addresses.joined(separator: " "),
                ]
            }
        let widths = columns.indices.map { column in rows.map { $0[column].count }.max() ?? 0 }
        return rows.map { row in
            row.enumerated().map { column, cell in
                column == row.count - 1 ? cell : cell + String(repeating: " ", count: widths[column] - cell.count)
            }.joined(separator: "  ") + "\n"
        }.joined()
    }

    /// The state with why, when that needs saying: `gave-up (gave up after 5 restarts)`, `ready (after 1.2s)`;
    /// a process waiting for dependencies shows only what it waits for (`waiting for db (ready)`).
    static func state(_ process: ProcessStatus) -> String {
        if process.state == .waitingForDependencies, let detail = process.detail { return detail }
        return process.state.rawValue + (process.detail.map { " (\($0))" } ?? "")
    }

    /// `45s`, `3m12s`, `2h05m`, `3d04h`: two units at most, as `ps` and `docker ps` keep it short.
    public static func uptime(_ interval: TimeInterval) -> String {
        let seconds = max(0, Int(interval))
        func two(_ n: Int) -> String { n < 10 ? "0\(n)" : String(n) }
        switch seconds {
        case ..<60: return "\(seconds)s"
        case ..<3600: return "\(seconds / 60)m\(two(seconds % 60))s"
        case ..<86400: return "\(seconds / 3600)h\(two(seconds % 3600 / 60))m"
        default: return "\(seconds / 86400)d\(two(seconds % 86400 / 3600))h"
        }
    }
}
