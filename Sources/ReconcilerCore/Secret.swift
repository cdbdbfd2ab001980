/// A secret read from the environment or a file, never from argv or the config text itself.
public struct Secret: Sendable, CustomStringConvertible {
    public let value: String?
    public let source: String
    public var description: String { value == nil ? "(none)" : "(from \(source))" }

    /// - Parameter source: where it came from, for messages (`$MYSQL_PWD`, a file name).
    public init(value: String?, source: String) {
        self.value = value
        self.source = source
    }
}
