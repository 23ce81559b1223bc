extension Command {
    /// Whether the command line names `$PORT` (or `${PORT}`, `${PORT:-…}`): then the start banner shows the
    /// address the process presumably serves on. A program that reads PORT from its environment without the
    /// command naming it is not recognised; with `listen:` its address is shown anyway.
    var usesPort: Bool {
        let words: [String]
        switch self {
        case .shell(let line): words = [line]
        case .argv(let argv): words = argv
        // Served on its held socket, whose address the banner shows anyway.
        case .werkzeug: return false
        }
        return words.contains { word in
            var rest = word[...]
            while let dollar = rest.firstIndex(of: "$") {
                rest = rest[rest.index(after: dollar)...]
                let name = rest.hasPrefix("{") ? rest.dropFirst() : rest
                if name.hasPrefix("PORT"), !(name.dropFirst(4).first.map(Self.continuesName) ?? false) { return true }
            }
            return false
        }
    }

    /// Whether `character` can continue a shell variable name (`$PORTS` is not `$PORT`).
    private static func continuesName(_ character: Character) -> Bool {
        character == "_" || (character.isASCII && (character.isLetter || character.isNumber))
    }
}
