/// The table maps in force (usually one or two per statement): a short list searched from the
/// end, with a dictionary once there are many. Clearing it at each statement end keeps the
/// references (only `count` drops), so the next statement's usually identical map is put back
/// without reference counting.
struct TableMaps: Sendable {
    private var ids: [UInt64] = []
    private var maps: [TableMapEvent] = []
    private var count = 0
    private var index: [UInt64: Int] = [:]
    private static let listLimit = 16
    /// Estimated bytes of the maps in force, as charged by ``setCharging(_:cost:)``.
    private var charged = 0

    /// Puts a map in force and adds `cost` to the maps' estimated bytes; returns the new total
    /// when it is above 1 MiB (for the caller to compare with its limit), nil otherwise. The same
    /// map already in force under its id is not charged again.
    @inline(__always)
    mutating func setCharging(_ map: TableMapEvent, cost: Int) -> Int? {
        if let i = position(map.tableID) {
            if maps[i] === map { return nil }
            maps[i] = map
        } else {
            self[map.tableID] = map
        }
        charged += cost
        return charged > 1 << 20 ? charged : nil
    }

    subscript(id: UInt64) -> TableMapEvent? {
        get { position(id).map { maps[$0] } }
        set {
            guard let newValue else { return }
            if let i = position(id) {
                if maps[i] !== newValue { maps[i] = newValue }
                return
            }
            if count < ids.count {
                if ids[count] != id { ids[count] = id }
                if maps[count] !== newValue { maps[count] = newValue }
            } else {
                ids.append(id)
                maps.append(newValue)
            }
            count += 1
            if count > Self.listLimit {
                if index.isEmpty { for i in 0..<count { index[ids[i]] = i } } else { index[id] = count - 1 }
            }
        }
    }

    private func position(_ id: UInt64) -> Int? {
        if count > Self.listLimit { return index[id] }
        var i = count - 1
        while i >= 0 {
            if ids[i] == id { return i }
            i -= 1
        }
        return nil
    }

    /// Forgets every map; with `keepingReferences`, the list keeps them for reuse.
    mutating func removeAll(keepingReferences: Bool = false) {
        count = 0
        charged = 0
        if !index.isEmpty { index.removeAll() }
        if !keepingReferences {
            ids.removeAll()
            maps.removeAll()
        }
    }
}
