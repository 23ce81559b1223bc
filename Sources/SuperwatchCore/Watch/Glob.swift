/// A compiled glob pattern, matched against `/`-separated paths relative to a root.
///
/// Syntax: `*` (any characters but `/`), `?` (one character), `[abc]`, `[a-z]`, `[!a]` (or `[^a]`), `{a,b}`
/// (alternatives, which may nest and contain `/`), `**` as a whole path segment (any number of directories,
/// zero included), `\` escaping the next character. A trailing `/` means the whole tree: `dir/` is `dir/**`,
/// and a trailing `**` matches everything inside the directory before it (not the directory itself).
/// A leading `./` or `/` is dropped: patterns are always relative to the root.
///
/// Besides whole-path matching, a glob can be run one path component at a time (`GlobSet`), which is what the
/// directory walker and the inotify watcher do: they keep the state reached at each directory and never
/// re-match its path, and they can tell when no file below a directory can match (so it is not watched).
public struct Glob: Sendable {
    /// The pattern as written.
    public let pattern: String
    let set: GlobSet

    public init(_ pattern: String) throws(SuperwatchError) {
        self.pattern = pattern
        set = try GlobSet([pattern])
    }

    /// Whether `relativePath` (`/`-separated, relative to the root) matches the whole pattern.
    public func matches(_ relativePath: String) -> Bool { set.matches(relativePath) }
}

/// Several globs compiled into one nondeterministic automaton over path components: matching a path means
/// matching any of them. `State` is the set of positions reached after some directories.
struct GlobSet: Sendable {
    /// One path segment of a pattern.
    enum Segment: Sendable, Equatable {
        /// `**`: any number of components.
        case anyDirectories
        /// A segment without wildcards, compared byte for byte.
        case literal([UInt8])
        /// A segment with `*`, `?` or `[...]`.
        case wildcard(SegmentPattern)
    }

    /// The positions of all alternatives laid end to end: alternative `k` occupies `starts[k] ..< ends[k]`, and
    /// position `ends[k]` is its accepting position.
    private var segments: [Segment?] = []
    private var starts: [Int] = []
    /// Whether position `i` is a `**` that ends its alternative (it then matches one or more components).
    private var isFinalAnyDirectories: [Bool] = []
    private var isAccepting: [Bool] = []
    let initial: State

    /// Positions reached, always closed under "a `**` may match zero components".
    struct State: Sendable, Equatable {
        fileprivate var words: [UInt64]
        var isEmpty: Bool { words.allSatisfy { $0 == 0 } }
        fileprivate func contains(_ i: Int) -> Bool { words[i >> 6] & (1 << UInt64(i & 63)) != 0 }
        fileprivate mutating func insert(_ i: Int) { words[i >> 6] |= 1 << UInt64(i & 63) }
    }

    /// The most alternatives brace expansion may produce, so that a pattern cannot blow up memory.
    static let maximumAlternatives = 4096

    init(_ patterns: [String]) throws(SuperwatchError) {
        var alternatives: [[Segment]] = []
        for pattern in patterns {
            alternatives += try GlobSet.compile(pattern)
        }
        for alternative in alternatives {
            starts.append(segments.count)
            for (index, segment) in alternative.enumerated() {
                segments.append(segment)
                isFinalAnyDirectories.append(segment == .anyDirectories && index == alternative.count - 1)
                isAccepting.append(false)
            }
            segments.append(nil)
            isFinalAnyDirectories.append(false)
            isAccepting.append(true)
        }
        var state = State(words: [UInt64](repeating: 0, count: (segments.count + 63) / 64))
        for start in starts { state.insert(start) }
        initial = GlobSet.closed(state, segments: segments, isFinalAnyDirectories: isFinalAnyDirectories)
    }

    /// Whether there are no patterns at all.
    var isEmpty: Bool { starts.isEmpty }

    private static func closed(_ state: State, segments: [Segment?], isFinalAnyDirectories: [Bool]) -> State {
        var state = state
        // Positions only move forward, so one ascending pass reaches the fixed point.
        for i in 0..<segments.count where state.contains(i) {
            if segments[i] == .anyDirectories && !isFinalAnyDirectories[i] { state.insert(i + 1) }
        }
        return state
    }

    /// The state after one more component (a directory name, or a file name before `isAccepting`).
    func advance(_ state: State, _ component: UnsafeBufferPointer<UInt8>) -> State {
        var next = State(words: [UInt64](repeating: 0, count: state.words.count))
        for i in 0..<segments.count where state.contains(i) {
            switch segments[i] {
            case .anyDirectories:
                next.insert(i)
                if isFinalAnyDirectories[i] { next.insert(i + 1) }
            case .literal(let bytes):
                if bytes.elementsEqual(component) { next.insert(i + 1) }
            case .wildcard(let pattern):
                if pattern.matches(component) { next.insert(i + 1) }
            case nil:
                break
            }
        }
        return GlobSet.closed(next, segments: segments, isFinalAnyDirectories: isFinalAnyDirectories)
    }

    func advance(_ state: State, _ component: String) -> State {
        var component = component
        return component.withUTF8 { advance(state, $0) }
    }

    /// Whether `component`, taken from `state`, completes a match (`advance` + `accepts` without building the
    /// next state: this is the per-file test, so it allocates nothing).
    func acceptsAfter(_ state: State, _ component: UnsafeBufferPointer<UInt8>) -> Bool {
        for i in 0..<segments.count where state.contains(i) {
            switch segments[i] {
            case .anyDirectories:
                if isFinalAnyDirectories[i] { return true }
            // A non-final `**` matching this component leaves the rest of the pattern to match nothing.
            case .literal(let bytes):
                if isAccepting[i + 1] && bytes.elementsEqual(component) { return true }
            case .wildcard(let pattern):
                if isAccepting[i + 1] && pattern.matches(component) { return true }
            case nil:
                break
            }
        }
        return false
    }

    func acceptsAfter(_ state: State, _ component: String) -> Bool {
        var component = component
        return component.withUTF8 { acceptsAfter(state, $0) }
    }

    /// Whether the components consumed so far form a whole match.
    func accepts(_ state: State) -> Bool {
        for i in 0..<segments.count where state.contains(i) && isAccepting[i] { return true }
        return false
    }

    /// Whether some path below the directory that led to `state` could still match.
    func canMatchBelow(_ state: State) -> Bool {
        for i in 0..<segments.count where state.contains(i) && !isAccepting[i] { return true }
        return false
    }

    /// Whether every path below the directory that led to `state` matches (a pattern ending in `**` has
    /// reached that `**`): an ignore in this state excludes the whole directory.
    func matchesEverythingBelow(_ state: State) -> Bool {
        for i in 0..<segments.count where state.contains(i) && isFinalAnyDirectories[i] { return true }
        return false
    }

    /// Whether a whole relative path matches.
    func matches(_ relativePath: String) -> Bool {
        var components = relativePath.split(separator: "/", omittingEmptySubsequences: true)
        if components.first == "." { components.removeFirst() }
        guard let last = components.popLast() else { return false }
        var state = initial
        for component in components {
            state = advance(state, String(component))
            if state.isEmpty { return false }
        }
        return acceptsAfter(state, String(last))
    }

    /// Whether a single name (no `/`) matches: for basename patterns.
    func matchesName(_ name: UnsafeBufferPointer<UInt8>) -> Bool { acceptsAfter(initial, name) }
}

// MARK: - Compiling

extension GlobSet {
    /// Normalizes, brace-expands and splits one pattern into its alternatives' segments.
    static func compile(_ pattern: String) throws(SuperwatchError) -> [[Segment]] {
        var scalars = Array(pattern.unicodeScalars)
        while scalars.starts(with: ["." as Unicode.Scalar, "/"]) { scalars.removeFirst(2) }
        while scalars.first == "/" { scalars.removeFirst() }
        if scalars.last == "/" { scalars += ["*", "*"] }
        if scalars.isEmpty || scalars == ["."] {
            throw SuperwatchError(.invalidConfig, "empty glob pattern '\(pattern)'; use '**' to match every file")
        }
        var expanded: [[Unicode.Scalar]] = []
        try expandBraces(scalars[...], pattern: pattern, into: &expanded, prefix: [])
        var result: [[Segment]] = []
        for alternative in expanded {
            var segments: [Segment] = []
            for part in alternative.split(separator: "/", omittingEmptySubsequences: true) where part != ["."] {
                let segment = try parseSegment(Array(part), pattern: pattern)
                // `**/**` is the same as `**`, and keeping one keeps the automaton small.
                if segment == .anyDirectories && segments.last == .anyDirectories { continue }
                segments.append(segment)
            }
            if !segments.isEmpty { result.append(segments) }
        }
        if result.isEmpty {
            throw SuperwatchError(.invalidConfig, "glob pattern '\(pattern)' matches nothing")
        }
        return result
    }

    /// Expands `{a,b}` groups, left to right, appending each full alternative to `output`.
    private static func expandBraces(
        _ text: ArraySlice<Unicode.Scalar>, pattern: String, into output: inout [[Unicode.Scalar]],
        prefix: [Unicode.Scalar]
    ) throws(SuperwatchError) {
        var index = text.startIndex
        while index < text.endIndex {
            switch text[index] {
            case "\\":
                index = min(index + 2, text.endIndex)
            case "[":
                index = try bracketEnd(text, from: index, pattern: pattern) + 1
            case "{":
                let (close, commas) = try braceEnd(text, from: index, pattern: pattern)
                let head = prefix + text[text.startIndex..<index]
                let bounds = [index] + commas + [close]
                for k in 0..<(bounds.count - 1) {
                    let option = text[(bounds[k] + 1)..<bounds[k + 1]]
                    // Expand the option, then whatever follows the group, for each of its results.
                    var options: [[Unicode.Scalar]] = []
                    try expandBraces(option, pattern: pattern, into: &options, prefix: head)
                    for expandedOption in options {
                        try expandBraces(text[(close + 1)...], pattern: pattern, into: &output, prefix: expandedOption)
                        if output.count > maximumAlternatives {
                            throw SuperwatchError(
                                .invalidConfig,
                                "glob pattern '\(pattern)' has more than \(maximumAlternatives) {…} alternatives")
                        }
                    }
                }
                return
            default:
                index += 1
            }
        }
        output.append(prefix + text)
    }

    /// The index of the `]` closing the bracket expression that starts at `open`.
    private static func bracketEnd(
        _ text: ArraySlice<Unicode.Scalar>, from open: Int, pattern: String
    ) throws(SuperwatchError) -> Int {
        var index = open + 1
        if index < text.endIndex && (text[index] == "!" || text[index] == "^") { index += 1 }
        if index < text.endIndex && text[index] == "]" { index += 1 }  // a leading `]` is a member
        while index < text.endIndex {
            switch text[index] {
            case "]": return index
            case "/": index = text.endIndex
            case "\\": index += 2
            default: index += 1
            }
        }
        throw SuperwatchError(
            .invalidConfig, "unclosed '[' in glob pattern '\(pattern)'; write '\\[' for a literal bracket")
    }

    /// The index of the `}` closing the group that starts at `open`, and its top-level commas.
    private static func braceEnd(
        _ text: ArraySlice<Unicode.Scalar>, from open: Int, pattern: String
    ) throws(SuperwatchError) -> (Int, [Int]) {
        var depth = 0
        var commas: [Int] = []
        var index = open + 1
        while index < text.endIndex {
            switch text[index] {
            case "\\":
                index += 2
                continue
            case "[": index = try bracketEnd(text, from: index, pattern: pattern)
            case "{": depth += 1
            case "}":
                if depth == 0 { return (index, commas) }
                depth -= 1
            case "," where depth == 0: commas.append(index)
            default: break
            }
            index += 1
        }
        throw SuperwatchError(
            .invalidConfig, "unclosed '{' in glob pattern '\(pattern)'; write '\\{' for a literal brace")
    }

    /// Parses one segment (no `/`, no braces left).
    private static func parseSegment(_ text: [Unicode.Scalar], pattern: String) throws(SuperwatchError) -> Segment {
        if text == ["*", "*"] { return .anyDirectories }
        var tokens: [SegmentPattern.Token] = []
        var literal: [UInt8] = []
        func flush() {
            if !literal.isEmpty {
                tokens.append(.literal(literal))
                literal = []
            }
        }
        var index = 0
        while index < text.count {
            let scalar = text[index]
            switch scalar {
            case "\\":
                if index + 1 < text.count { literal += Array(String(text[index + 1]).utf8) }
                index += 2
            case "*":
                flush()
                if tokens.last != .star { tokens.append(.star) }
                index += 1
            case "?":
                flush()
                tokens.append(.one)
                index += 1
            case "[":
                flush()
                let (set, next) = try parseBracket(text, from: index, pattern: pattern)
                tokens.append(set)
                index = next
            default:
                literal += Array(String(scalar).utf8)
                index += 1
            }
        }
        flush()
        if tokens.isEmpty { return .literal([]) }
        if tokens.count == 1, case .literal(let bytes) = tokens[0] { return .literal(bytes) }
        return .wildcard(SegmentPattern(tokens: tokens))
    }

    private static func parseBracket(
        _ text: [Unicode.Scalar], from open: Int, pattern: String
    ) throws(SuperwatchError) -> (SegmentPattern.Token, Int) {
        var index = open + 1
        var negated = false
        if index < text.count && (text[index] == "!" || text[index] == "^") {
            negated = true
            index += 1
        }
        var ranges: [ClosedRange<UInt32>] = []
        var first = true
        while index < text.count {
            var scalar = text[index]
            if scalar == "]" && !first {
                return (.set(negated: negated, ranges: ranges), index + 1)
            }
            first = false
            if scalar == "\\" && index + 1 < text.count {
                index += 1
                scalar = text[index]
            }
            var upper = scalar
            if index + 2 < text.count && text[index + 1] == "-" && text[index + 2] != "]" {
                upper = text[index + 2]
                if upper == "\\" && index + 3 < text.count {
                    index += 1
                    upper = text[index + 2]
                }
                index += 2
            }
            if upper.value < scalar.value {
                throw SuperwatchError(
                    .invalidConfig, "reversed range '\(scalar)-\(upper)' in glob pattern '\(pattern)'")
            }
            ranges.append(scalar.value...upper.value)
            index += 1
        }
        throw SuperwatchError(
            .invalidConfig, "unclosed '[' in glob pattern '\(pattern)'; write '\\[' for a literal bracket")
    }
}

/// The wildcards of one path segment, matched against one component's UTF-8 bytes.
struct SegmentPattern: Sendable, Equatable {
    enum Token: Sendable, Equatable {
        case literal([UInt8])
        /// `?`: one character.
        case one
        /// `*`: any run of characters.
        case star
        /// `[...]`: one character in (or, negated, not in) the ranges of scalar values.
        case set(negated: Bool, ranges: [ClosedRange<UInt32>])
    }

    var tokens: [Token]

    /// Greedy matching with one backtracking point: the most recent `*`, which on failure swallows one more
    /// character. That is enough because every other token has a fixed length in characters.
    func matches(_ text: UnsafeBufferPointer<UInt8>) -> Bool {
        var token = 0
        var position = 0
        var starToken = -1
        var starPosition = 0
        while true {
            if token < tokens.count {
                switch tokens[token] {
                case .star:
                    starToken = token
                    starPosition = position
                    token += 1
                    continue
                case .literal(let bytes):
                    if position + bytes.count <= text.count
                        && bytes.withUnsafeBufferPointer({ memoryEqual($0, text, at: position) })
                    {
                        position += bytes.count
                        token += 1
                        continue
                    }
                case .one:
                    if position < text.count {
                        position += SegmentPattern.scalarLength(text, at: position)
                        token += 1
                        continue
                    }
                case .set(let negated, let ranges):
                    if position < text.count {
                        let (scalar, length) = SegmentPattern.decode(text, at: position)
                        if ranges.contains(where: { $0.contains(scalar) }) != negated {
                            position += length
                            token += 1
                            continue
                        }
                    }
                }
            } else if position == text.count {
                return true
            }
            // Mismatch: let the last `*` take one more character, or fail.
            guard starToken >= 0, starPosition < text.count else { return false }
            starPosition += SegmentPattern.scalarLength(text, at: starPosition)
            position = starPosition
            token = starToken + 1
        }
    }

    private func memoryEqual(_ bytes: UnsafeBufferPointer<UInt8>, _ text: UnsafeBufferPointer<UInt8>, at offset: Int)
        -> Bool
    {
        for i in 0..<bytes.count where bytes[i] != text[offset + i] { return false }
        return true
    }

    /// The length of the UTF-8 sequence starting at `index` (1 for stray bytes, so matching always advances).
    static func scalarLength(_ text: UnsafeBufferPointer<UInt8>, at index: Int) -> Int {
        let lead = text[index]
        let length = lead < 0xC0 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4
        return min(length, text.count - index)
    }

    static func decode(_ text: UnsafeBufferPointer<UInt8>, at index: Int) -> (UInt32, Int) {
        let length = scalarLength(text, at: index)
        let lead = UInt32(text[index])
        if length == 1 { return (lead, 1) }
        var value = lead & (0xFF >> UInt32(length + 1))
        for k in 1..<length { value = value << 6 | UInt32(text[index + k] & 0x3F) }
        return (value, length)
    }
}
