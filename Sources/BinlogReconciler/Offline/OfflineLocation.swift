/// Where an event of `analyze` is: its file (and index among the files given), the position a
/// reader resumes from after it, and its own offset (named in warnings).
struct OfflineLocation: CustomStringConvertible {
    var fileIndex: Int
    var file: String
    var end: UInt64
    var eventOffset: UInt64
    var description: String { "\(file):\(eventOffset)" }
}
