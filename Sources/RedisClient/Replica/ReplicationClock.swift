import ReconcilerCore

// MARK: - ReplicationClock

/// A master's replication offset over time: samples of `ROLE` (the offset its replication stream
/// had reached), each stamped with when the request was sent. From a replica's offset it tells
/// since when the replica has every write its master had made (``safeSince(replicaOffset:)``),
/// which bounds how stale a read on that replica can be.
///
/// A write that the master acknowledged has been added to its replication stream before the
/// reply, so a sample (t, m) says: every write the master made before t is below offset m. A
/// replica whose applied offset is r ≥ m has them all, whatever happened on the wire.
package struct ReplicationClock: Sendable {
    /// Samples, oldest first; offsets never decrease (a decrease starts the clock again).
    private var samples: [(at: Double, offset: Int64)] = []
    private var head = 0
    /// How long samples are kept: longer than any staleness a read may be allowed.
    package var horizon: Double

    package init(horizon: Double = 30) {
        self.horizon = horizon
    }

    /// The master answered `offset` to a request sent at `sentAt`. An offset lower than the last
    /// one (a new master after a failover, a restart) drops the older samples.
    package mutating func record(offset: Int64, sentAt: Double) {
        if head < samples.count, offset < samples[samples.count - 1].offset {
            samples.removeAll(keepingCapacity: true)
            head = 0
        }
        samples.append((sentAt, offset))
        while head < samples.count - 1, samples[head].at < sentAt - horizon { head += 1 }
        if head > 1024 && head * 2 > samples.count {
            samples.removeFirst(head)
            head = 0
        }
    }

    /// The latest sample time at which the master's offset was at most `replicaOffset`: a replica
    /// that has applied `replicaOffset` holds every write its master made before then. nil when
    /// even the oldest sample kept is beyond it (the replica is more than `horizon` behind, or
    /// nothing was sampled yet).
    package func safeSince(replicaOffset: Int64) -> Double? {
        var lo = head
        var hi = samples.count
        // The first sample with an offset above replicaOffset.
        while lo < hi {
            let mid = (lo + hi) / 2
            if samples[mid].offset <= replicaOffset { lo = mid + 1 } else { hi = mid }
        }
        return lo == head ? nil : samples[lo - 1].at
    }
}
