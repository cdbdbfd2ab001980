/// Why the sale cannot be set up or run.
public struct FlashSaleError: Error, CustomStringConvertible {
    public var description: String
    init(_ d: String) { description = d }
}
