import BinlogFold
import BinlogParser

/// Replays binlog files and keeps the final value of every key of one table (`analyze`).
///
/// Changes are buffered per transaction and applied at its commit (XID, COMMIT, or the end of a
/// standalone statement), so rolled-back and unfinished work is never applied.
public struct BinlogAnalyzer {
    public struct Options: Sendable {
        public var table: String
        public var keyColumns: [String]
        public var valueColumn: String
        /// Column names to use when the binlog has none (`--columns`).
        public var columnNames: [String]?
        public var stop: StopPoint?
        /// With a timeline key, every committed change of that key is reported.
        public var timelineKey: String?
        public var verifyChecksums = true
        /// Bounds on decompressed sizes and table-map memory (`--max-decompressed-bytes`).
        public var limits = DecodingLimits()

        public init(table: String, keyColumns: [String], valueColumn: String) {
            self.table = table
            self.keyColumns = keyColumns
            self.valueColumn = valueColumn
        }
    }

    public struct Entry: Sendable {
        public var value: ColumnValue
        public var fileIndex: Int
        public var pos: UInt64
    }

    /// One committed change of the timeline key.
    public struct TimelineChange: Sendable {
        public var file: String
        public var pos: UInt64
        public var gtid: String?
        public var timestamp: UInt32
        public var before: ColumnValue?
        public var after: ColumnValue?
    }

    public struct Summary: Sendable {
        public var events = 0
        public var transactions = 0
        /// Rows of the analysed table (rows of other tables are not decoded).
        public var rows = 0
        public var keysChanged = 0
        public var firstTimestamp: UInt32?
        public var lastTimestamp: UInt32?
        public var bytes: UInt64 = 0
        public var openTransactionAtEnd = false
        public var stoppedEarly = false
    }

    /// The one fold (`TransactionFold`, the live tail's too) and `analyze`'s storage under it.
    private var fold = TransactionFold()
    private var core: AnalyzerFold

    public init(options: Options) { core = AnalyzerFold(options: options) }

    public var options: Options { core.options }
    public var files: [String] { core.files }
    /// Keys that exist at the end.
    public var keyCount: Int { core.keyCount }
    public var summary: Summary { core.summary }
    public var timeline: [TimelineChange] { core.timeline }
    public var isStopped: Bool { core.isStopped }
    /// What the user should know about the result (an XA COMMIT whose prepare was not read, a
    /// table renamed onto the analysed one); printed on stderr by `analyze`.
    public var warnings: [String] { core.warnings }
    /// Prepared XA transactions still held at the end (their XA COMMIT is not in the files).
    public var preparedAtEnd: [String] { core.preparedAtEnd }

    /// Replays one file (call in order). `progress` is called now and then with bytes read.
    public mutating func replay(path: String, progress: ((UInt64, UInt64) -> Void)? = nil) throws(BinlogDecodingError) {
        try core.replay(path: path, fold: &fold, progress: progress)
    }

    /// Call after the last file.
    public mutating func finish() { core.finish(openTransaction: fold.inTransaction) }

    /// The text a user types for a key: `7`, `abc`, or `7,2` for a composite key.
    public func keyText(_ key: RowKey) -> String { core.keyText(key) }

    /// Every key that exists at the end with its value and where it was set, in key order.
    public func sortedState() -> [(RowKey, Entry)] { core.sortedState() }
}
