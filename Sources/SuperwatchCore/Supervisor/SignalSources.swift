import Dispatch

#if canImport(Glibc)
    import Glibc
#endif

/// Delivers SIGINT, SIGTERM and SIGHUP as events instead of letting them kill superwatch.
///
/// Signal dispositions are process-wide state that the OS forces on us: this is the one place superwatch
/// changes them (to SIG_IGN, so that Dispatch's signal sources see them). SIGPIPE is ignored too, so a
/// closed stdout is an error on write (EPIPE), on which the output sink has the stack stopped, and not a silent
/// death. Children get every disposition reset to
/// the default by the spawn shim.
final class SignalSources {
    private let sources: [any DispatchSourceSignal]

    private init(sources: [any DispatchSourceSignal]) { self.sources = sources }

    static func install(_ signals: [Int32], handler: @escaping @Sendable (Int32) -> Void) -> SignalSources {
        // ignored: signal(2) and pthread_sigmask fail only for an invalid signal number or `how`, and these are
        // constants.
        signal(SIGPIPE, SIG_IGN)
        // A blocked signal mask survives exec: a parent that ran us with these blocked would make Ctrl-C
        // do nothing.
        var unblock = sigset_t()
        sigemptyset(&unblock)
        for number in signals { sigaddset(&unblock, number) }
        pthread_sigmask(SIG_UNBLOCK, &unblock, nil)
        let queue = DispatchQueue(label: "superwatch.signals")
        let sources = signals.map { number in
            // ignored: fails only for an invalid signal number; `signals` are SIGINT, SIGTERM and SIGHUP.
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: queue)
            source.setEventHandler { handler(number) }
            source.resume()
            return source
        }
        return SignalSources(sources: sources)
    }

    func cancel() { sources.forEach { $0.cancel() } }
}
