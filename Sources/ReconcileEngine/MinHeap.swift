import ReconcilerCore
import RedisClient
/// A binary min-heap (the engine's read schedule and decision queue).
struct MinHeap<Element: Comparable> {
    private(set) var items: [Element] = []
    var count: Int { items.count }
    var isEmpty: Bool { items.isEmpty }
    var min: Element? { items.first }
    /// Elements the storage has room for (what it holds on to).
    var capacity: Int { items.capacity }

    mutating func insert(_ e: Element) {
        items.append(e)
        var i = items.count - 1
        while i > 0 {
            let p = (i - 1) / 2
            guard items[i] < items[p] else { break }
            items.swapAt(i, p)
            i = p
        }
    }

    mutating func removeMin() {
        guard !items.isEmpty else { return }
        items.swapAt(0, items.count - 1)
        items.removeLast()
        var i = 0
        while true {
            let l = 2 * i + 1, r = l + 1
            var m = i
            if l < items.count && items[l] < items[m] { m = l }
            if r < items.count && items[r] < items[m] { m = r }
            if m == i { break }
            items.swapAt(i, m)
            i = m
        }
    }

    /// Gives the storage back when at most an eighth of it is used (an array keeps its capacity
    /// when elements are removed).
    mutating func releaseUnusedCapacity() {
        guard items.capacity > StorageRelease.minimumCapacity, items.count <= items.capacity / 8 else { return }
        if items.isEmpty {
            items = []
            return
        }
        var fresh: [Element] = []
        fresh.reserveCapacity(items.count * 2)
        fresh.append(contentsOf: items)
        items = fresh
    }
}

extension MinHeap: Sendable where Element: Sendable {}

/// When the engine's containers give their storage back.
enum StorageRelease {
    /// Storage up to this many elements is kept (not worth reallocating).
    static let minimumCapacity = 1024
}

extension Dictionary {
    /// Gives the storage back when at most an eighth of it is used: a Dictionary keeps its
    /// capacity when entries are removed, so one that once held every swept key would hold that
    /// memory for good.
    mutating func releaseUnusedCapacity() {
        guard capacity > StorageRelease.minimumCapacity, count <= capacity / 8 else { return }
        if isEmpty {
            self = [:]
            return
        }
        var fresh = Dictionary(minimumCapacity: count * 2)
        for (k, v) in self { fresh[k] = v }
        self = fresh
    }
}
