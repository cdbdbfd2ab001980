/// Changes to a ``ShadowMap`` made while its base is frozen by a snapshot. Integer keys with
/// integer values (nearly every change) go to `ints`; anything else, deletions included, to
/// `others`. A key is in at most one of them.
package struct ShadowMapOverlay: Sendable {
    enum Entry: Sendable { case value(ShadowValue), removed }

    /// Shared with the snapshot (and its copies): unique again once they are all released.
    var token: ShadowMapSnapshotToken
    var snapshotOpen = true
    var ints: [Int64: Int64] = [:]
    /// Pending changes; `.removed` hides a base entry.
    var others: [ShadowKey: Entry] = [:]
    /// Keys in the order they entered the overlay, for merging in slices; the cursors are the next.
    var intOrder: [Int64] = []
    var otherOrder: [ShadowKey] = []
    var intCursor = 0
    var otherCursor = 0
    /// Visible count minus base count.
    var countDelta = 0
    /// `removeAll()` during the snapshot: the base is hidden entirely.
    var baseCleared = false

    init(token: ShadowMapSnapshotToken) { self.token = token }

    mutating func removeAll(baseCount: Int) {
        ints = [:]
        others = [:]
        intOrder = []
        otherOrder = []
        intCursor = 0
        otherCursor = 0
        baseCleared = true
        countDelta = -baseCount
    }
}
