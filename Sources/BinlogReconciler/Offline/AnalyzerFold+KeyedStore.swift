import BinlogParser

extension AnalyzerFold {
    /// The analyzer's map: signed integer keys (the usual primary key) in their own table, so the
    /// hot path neither hashes an enum nor counts references.
    struct KeyedStore {
        var ints = IntKeyedEntries()
        var others: [RowKey: Entry] = [:]

        var count: Int { ints.count + others.count }

        subscript(key: RowKey) -> Entry? {
            get {
                if case .single(.int(let i)) = key { return ints[i] }
                return others[key]
            }
            set {
                if case .single(.int(let i)) = key {
                    if let newValue { ints.set(i, newValue) } else { _ = ints.remove(i) }
                } else {
                    others[key] = newValue
                }
            }
        }

        mutating func removeValue(forKey key: RowKey) -> Entry? {
            if case .single(.int(let i)) = key { return ints.remove(i) }
            return others.removeValue(forKey: key)
        }

        func sorted() -> [(RowKey, Entry)] {
            var out = ints.all().map { (RowKey.single(.int($0.key)), $0.entry) }
            out += others.map { ($0.key, $0.value) }
            out.sort { $0.0 < $1.0 }
            return out
        }
    }
}
