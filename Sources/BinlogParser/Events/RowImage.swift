/// One row image: a value per column in table order; columns the image does not carry are `.null`
/// and listed in `absent`.
public struct RowImage: Sendable, Hashable {
    public var values: [ColumnValue]
    /// 0-based indexes of columns missing from a partial (MINIMAL/NOBLOB) image.
    public var absent: [Int]
}
