/// A configuration mistake, named so the user can fix it (with the file and line when it comes
/// from a configuration file).
public struct ConfigurationError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}
