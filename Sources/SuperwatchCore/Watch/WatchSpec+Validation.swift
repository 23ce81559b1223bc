extension WatchSpec {
    /// Throws what the watcher would throw for this spec when it starts (a glob it cannot compile), so that a
    /// config can be checked before anything runs.
    public func validate() throws(SuperwatchError) {
        _ = try WatchRules(self)
    }
}
