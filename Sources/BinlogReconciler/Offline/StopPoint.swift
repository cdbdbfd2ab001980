/// Where to stop replaying.
public enum StopPoint: Sendable, Equatable {
    /// After the last transaction that ends at or before this position of this file.
    case position(file: String, pos: UInt64)
    /// After the transaction with this GTID.
    case gtid(String)
    /// After the last transaction that started at or before this Unix time.
    case time(UInt32)
}
