/// A table with the line each key was defined on.
public struct TOMLTable: Equatable, Sendable {
    public var values: [String: TOMLValue] = [:]
    /// The line of each key's definition (`key = …`, or the first header that made the key a table).
    public var lines: [String: Int] = [:]
    /// The line of the table's header (`[a]`, `[[a]]`), of the key that made it (`a = {…}`,
    /// `a.b = 1`) or of the first header that implied it (`[a.b]` implies `a`); 0 for the root.
    public var line: Int

    public init(line: Int, values: [String: TOMLValue] = [:], lines: [String: Int] = [:]) {
        self.line = line
        self.values = values
        self.lines = lines
    }

    public subscript(key: String) -> TOMLValue? { values[key] }
    public var keys: Dictionary<String, TOMLValue>.Keys { values.keys }
}
