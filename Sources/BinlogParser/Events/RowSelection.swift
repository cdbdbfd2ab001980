/// The columns to read from row images with ``RowsEvent/forEachRow(into:_:)``, with the space their
/// values are decoded into, reused from row to row and from event to event.
public struct RowSelection: Sendable {
    /// Column indexes in table order, in the order given (at most 64; repeats allowed).
    public var columns: [Int] { layout.columns }
    /// The before image of the last row read (UPDATE, DELETE).
    public internal(set) var before: SelectedValues
    /// The after image of the last row read (WRITE, UPDATE).
    public internal(set) var after: SelectedValues
    let layout: Layout

    /// Where each selected column goes; immutable, shared.
    final class Layout: Sendable {
        let columns: [Int]
        /// `slots[i]`: the first position of column `i` in `columns`, or -1.
        private let slots: [Int16]
        /// (position, earlier position of the same column).
        private let duplicates: [(position: Int, first: Int)]

        init(columns: [Int]) {
            self.columns = columns
            var slots = [Int16](repeating: -1, count: (columns.max() ?? -1) + 1)
            var duplicates: [(position: Int, first: Int)] = []
            for (p, i) in columns.enumerated() {
                if slots[i] < 0 { slots[i] = Int16(p) } else { duplicates.append((p, Int(slots[i]))) }
            }
            self.slots = slots
            self.duplicates = duplicates
        }

        /// The position of column `i` in `columns`, or -1.
        @inline(__always) func slot(_ i: Int) -> Int {
            i >= 0 && i < slots.count ? Int(slots[i]) : -1
        }

        /// Positions whose column is past the end of a rows event with `columnCount` columns.
        func beyond(_ columnCount: Int) -> UInt64 {
            var bits: UInt64 = 0
            for (p, i) in columns.enumerated() where i >= columnCount { bits |= 1 << UInt64(p) }
            return bits
        }

        func copyDuplicates(into v: inout SelectedValues) {
            for d in duplicates { v.copy(from: d.first, to: d.position) }
        }
    }

    /// An empty selection (no columns), to be replaced by a real one.
    public init() {
        layout = Layout(columns: [])
        before = SelectedValues(count: 0)
        after = SelectedValues(count: 0)
    }

    /// nil for more than 64 columns or an index outside 0..<4096.
    public init?(columns: [Int]) {
        guard columns.count <= 64, columns.allSatisfy({ $0 >= 0 && $0 < 4096 }) else { return nil }
        layout = Layout(columns: columns)
        before = SelectedValues(count: columns.count)
        after = SelectedValues(count: columns.count)
    }
}
