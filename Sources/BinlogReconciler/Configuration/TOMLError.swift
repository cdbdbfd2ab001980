/// A syntax error of a TOML text, with its line.
public struct TOMLError: Error, CustomStringConvertible, Sendable {
    public var line: Int
    public var message: String
    public var description: String { "line \(line): \(message)" }
}
