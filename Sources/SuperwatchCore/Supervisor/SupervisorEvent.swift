/// One of superwatch's own events, printed in the multiplexed stream: a human message plus, for
/// `--log-format json`, a kind and typed fields.
public struct SupervisorEvent: Sendable {
    public enum Value: Sendable {
        case int(Int)
        case string(String)
    }

    public var kind: String
    public var message: String
    public var fields: [(String, Value)]

    public init(_ kind: String, _ message: String, _ fields: [(String, Value)] = []) {
        self.kind = kind
        self.message = message
        self.fields = fields
    }
}
