/// One changed row: a before image (UPDATE, DELETE) and/or an after image (INSERT, UPDATE).
public struct RowChange: Sendable, Hashable {
    public var before: RowImage?
    public var after: RowImage?
}
