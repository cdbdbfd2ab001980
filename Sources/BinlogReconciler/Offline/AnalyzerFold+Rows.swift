import BinlogParser

/// `analyze`'s rows: the analysed table's columns resolved per table map, each row's key and
/// value appended to the transaction's pending changes.
extension AnalyzerFold {
    private mutating func resolve(_ table: TableMapEvent, _ selection: inout RowSelection) throws(BinlogDecodingError) {
        if let r = resolvedFor {
            if r === table { return }
            if r == table { resolvedFor = table; return }
        }
        func index(_ name: String) -> Int? {
            if let i = table.columns.firstIndex(where: { $0.name == name }) { return i }
            if let names = options.columnNames, let i = names.firstIndex(of: name) { return i }
            if name.hasPrefix("@"), let n = Int(name.dropFirst()), n >= 1, n <= table.columns.count { return n - 1 }
            return nil
        }
        var keys: [Int] = []
        for k in options.keyColumns {
            guard let i = index(k) else { throw unresolved(k, table) }
            keys.append(i)
        }
        guard let v = index(options.valueColumn) else { throw unresolved(options.valueColumn, table) }
        guard keys.allSatisfy({ $0 < table.columns.count }), v < table.columns.count else {
            throw BinlogDecodingError(.invalidValue("--columns names more columns than \(table.qualifiedName) has (\(table.columns.count))"), field: "analyze", byteOffset: 0)
        }
        guard let s = RowSelection(columns: keys + [v]) else {
            throw BinlogDecodingError(.invalidValue("at most 63 key columns, and columns before the 4097th, can be analysed"), field: "analyze", byteOffset: 0)
        }
        keyIndexes = keys
        valueIndex = v
        selection = s
        resolvedFor = table
    }

    private func unresolved(_ name: String, _ table: TableMapEvent) -> BinlogDecodingError {
        let hint = table.hasColumnNames
            ? "columns are: " + table.columns.compactMap(\.name).joined(separator: ",")
            : "the binlog has no column names (binlog_row_metadata is not FULL): pass --columns in table order, or use @N"
        return BinlogDecodingError(.invalidValue("column \(name) not found in \(table.qualifiedName); \(hint)"), field: "analyze", byteOffset: 0)
    }

    mutating func applyRows(_ r: RowsEvent, selection: inout RowSelection) throws(BinlogDecodingError) {
        let table = r.table
        if table !== matchingTable {
            if table === otherTable { return }
            guard table.table == tbl && (db.isEmpty || table.database == db) else {
                otherTable = table
                return
            }
            matchingTable = table
        }
        try resolve(table, &selection)
        let kind = r.kind
        try r.forEachRow(into: &selection) { (s: inout RowSelection) throws(BinlogDecodingError) in
            summary.rows += 1
            applyRow(kind: kind, s)
        }
    }

    private mutating func applyRow(kind: RowsEvent.Kind, _ s: borrowing RowSelection) {
        let v = keyColumnCount
        switch kind {
        case .write:
            if let k = intKey(s.after) {
                if let value = s.after.int64(v) { appendSet(intKey: k, intValue: value) } else { appendSet(intKey: k, value(s.after)) }
            } else if let k = key(from: s.after) {
                appendSet(k, value(s.after))
            }
        case .delete:
            if let k = intKey(s.before) {
                pending.append(Change(isDelete: true, intKey: k, keyRef: -1, intValue: 0, valueRef: -1))
            } else if let k = key(from: s.before) {
                appendDelete(k)
            }
        case .update:
            // The usual case: an integer key in both images and an integer value.
            if let bk = intKey(s.before), let ak = intKey(s.after), let value = s.after.int64(v) {
                if bk != ak { pending.append(Change(isDelete: true, intKey: bk, keyRef: -1, intValue: 0, valueRef: -1)) }
                appendSet(intKey: ak, intValue: value)
                return
            }
            let beforeKey = key(from: s.before)
            let afterKey = key(from: s.after) ?? beforeKey
            guard let newKey = afterKey else { return }
            var newValue: ColumnValue
            if s.after.isAbsent(v) {
                // MINIMAL image: the value did not change; carry it from the old key.
                newValue = currentValue(beforeKey ?? newKey) ?? .null
            } else {
                newValue = s.after[v]
            }
            if let bk = beforeKey, bk != newKey { appendDelete(bk) }
            if case .jsonDiff = newValue { newValue = currentValue(newKey) ?? .null }
            appendSet(newKey, newValue)
        }
    }

    @inline(__always)
    private mutating func appendSet(intKey k: Int64, intValue v: Int64) {
        pending.append(Change(isDelete: false, intKey: k, keyRef: -1, intValue: v, valueRef: -1))
    }

    private mutating func appendSet(intKey k: Int64, _ value: ColumnValue) {
        if case .int(let v) = value {
            pending.append(Change(isDelete: false, intKey: k, keyRef: -1, intValue: v, valueRef: -1))
        } else {
            pendingValues.append(value)
            pending.append(Change(isDelete: false, intKey: k, keyRef: -1, intValue: 0, valueRef: Int32(pendingValues.count - 1)))
        }
    }

    private mutating func appendSet(_ key: RowKey, _ value: ColumnValue) {
        if case .single(.int(let k)) = key {
            appendSet(intKey: k, value)
            return
        }
        pendingKeys.append(key)
        let keyRef = Int32(pendingKeys.count - 1)
        if case .int(let v) = value {
            pending.append(Change(isDelete: false, intKey: 0, keyRef: keyRef, intValue: v, valueRef: -1))
        } else {
            pendingValues.append(value)
            pending.append(Change(isDelete: false, intKey: 0, keyRef: keyRef, intValue: 0, valueRef: Int32(pendingValues.count - 1)))
        }
    }

    mutating func appendDelete(_ key: RowKey) {
        if case .single(.int(let k)) = key {
            pending.append(Change(isDelete: true, intKey: k, keyRef: -1, intValue: 0, valueRef: -1))
        } else {
            pendingKeys.append(key)
            pending.append(Change(isDelete: true, intKey: 0, keyRef: Int32(pendingKeys.count - 1), intValue: 0, valueRef: -1))
        }
    }

    func rowKey(_ change: Change) -> RowKey {
        change.keyRef < 0 ? .single(.int(change.intKey)) : pendingKeys[Int(change.keyRef)]
    }

    /// The value a key has, taking this transaction's pending changes into account. Asked only
    /// for MINIMAL images and JSON diffs; the index of the pending changes by key is built the
    /// first time and brought up to date on later calls, so a large transaction stays linear.
    private mutating func currentValue(_ key: RowKey) -> ColumnValue? {
        if pendingIndex == nil { pendingIndex = [:]; indexedCount = 0 }
        while indexedCount < pending.count {
            pendingIndex![rowKey(pending[indexedCount])] = indexedCount
            indexedCount += 1
        }
        if let i = pendingIndex![key] {
            let change = pending[i]
            if change.isDelete { return nil }
            return change.valueRef < 0 ? .int(change.intValue) : pendingValues[Int(change.valueRef)]
        }
        return state[key]?.value
    }

    /// The key when it is one signed integer present in the image.
    @inline(__always)
    private func intKey(_ image: SelectedValues) -> Int64? {
        keyColumnCount == 1 ? image.int64(0) : nil
    }

    private func key(from image: SelectedValues) -> RowKey? {
        if keyColumnCount == 1 {
            if image.isAbsent(0) { return nil }
            return .single(image[0])
        }
        for k in 0..<keyColumnCount where image.isAbsent(k) { return nil }
        return .composite((0..<keyColumnCount).map { image[$0] })
    }

    private func value(_ image: SelectedValues) -> ColumnValue {
        image.isAbsent(keyColumnCount) ? .null : image[keyColumnCount]
    }
}
