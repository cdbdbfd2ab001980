import Foundation

/// A Redis Cluster topology change during the sale (`reshard` or `failover` in the ground truth),
/// or a Sentinel failover (`sentinel_failover`), shown by the scoreboard and the HTML report. It
/// is no fault: it changes no value, so a
/// divergence reported for it is a false alarm like any other.
public struct SaleClusterEvent: Sendable {
    public var kind: String
    public var at: Double
    public var endedAt: Double?
    public var nodes: [String]
    public var detail: String?

    static let kinds: Set<String> = ["reshard", "failover", "sentinel_failover"]

    /// The cluster events of a ground truth, in time order.
    static func all(in truth: [GroundTruthRecord]) -> [SaleClusterEvent] {
        truth.compactMap { r -> SaleClusterEvent? in
            guard kinds.contains(r.record), let at = r.at.flatMap(SaleTime.parse) else { return nil }
            return SaleClusterEvent(kind: r.record, at: at, endedAt: r.endedAt.flatMap(SaleTime.parse), nodes: r.nodes ?? [], detail: r.detail)
        }.sorted { $0.at < $1.at }
    }

    /// One line of the scoreboard's table.
    var tableLine: String {
        let clock = { (t: Double) in String(SaleTime.format(t).dropFirst(11).dropLast()) }
        let span = endedAt.map { " to \(clock($0)) (\(String(format: "%.1f", $0 - at)) s)" } ?? ""
        let name = kind == "sentinel_failover" ? "Sentinel failover" : "cluster \(kind)"
        return "\(name) at \(clock(at))\(span)" + (nodes.isEmpty ? "" : ": " + nodes.joined(separator: " "))
    }
}
