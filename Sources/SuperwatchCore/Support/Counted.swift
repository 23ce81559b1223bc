/// `1 restart`, `2 restarts`: a count with its noun, plural when the count is not one (`plural` for a noun
/// that takes more than an `s`). For messages only.
func counted(_ count: Int, _ noun: String, plural: String? = nil) -> String {
    "\(count) \(count == 1 ? noun : plural ?? noun + "s")"
}
