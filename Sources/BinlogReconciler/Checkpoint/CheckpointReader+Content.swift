import BinlogParser

/// The content's sections: header, watches (integer and text/composite blocks), divergences,
/// held XA transactions.
extension CheckpointReader {

    /// Parses the whole content for `visitor`, then verifies the end of the file and the CRCs.
    func read<V: CheckpointVisitor>(into visitor: inout V) throws(CheckpointError) {
        do {
            try parse(&visitor)
            try finish()
        } catch {
            if visitor.isStopped { throw error }
            throw diagnose(error)
        }
    }

    private func parse<V: CheckpointVisitor>(_ v: inout V) throws(CheckpointError) {
        try tag(CheckpointFormat.tagHeader, "header section")
        let created = try zvarint("created")
        let flavour: CheckpointSource.Flavour
        switch try u8("source.flavour") {
        case CheckpointFormat.flavourMySQL: flavour = .mysql
        case CheckpointFormat.flavourMariaDB: flavour = .mariadb
        case let f: throw corrupt("source.flavour is \(f)")
        }
        let serverIDRaw = try varint("source.serverID")
        guard let serverID = UInt32(exactly: serverIDRaw) else {
            throw corrupt("source.serverID \(serverIDRaw) is over 2^32")
        }
        let uuid = try optionalString("source.serverUUID")
        let domainCount = try count("source.gtidDomains.count", 0...CheckpointFormat.maxDomains)
        var domains: [UInt32] = []
        for _ in 0..<domainCount {
            let d = try varint("source.gtidDomain")
            guard let d32 = UInt32(exactly: d) else { throw corrupt("GTID domain \(d) is over 2^32") }
            domains.append(d32)
        }
        let file = try string("position.file")
        let position = try varint("position.pos")
        let gtid = try string("gtidState")
        let wfp = try string("watchesFingerprint")
        let sfp = try string("schemaFingerprint")
        let watchCount = try count("watchCount", 0...CheckpointFormat.maxWatches)
        let divergenceCount = try count("divergenceCount", 0...Int(Int32.max))
        let header = CheckpointHeader(
            createdMillis: created,
            source: CheckpointSource(flavour: flavour, serverID: serverID, serverUUID: uuid, gtidDomains: domains),
            position: CheckpointPosition(file: file, position: position),
            gtidState: gtid,
            watchesFingerprint: wfp,
            schemaFingerprint: sfp
        )
        try v.header(header, watchCount: watchCount, divergenceCount: divergenceCount)

        for _ in 0..<watchCount { try parseWatch(&v) }

        try tag(CheckpointFormat.tagDivergences, "divergence section")
        let n = try count("divergences.count", 0...Int(Int32.max))
        guard n == divergenceCount else { throw corrupt("\(n) divergences, the header says \(divergenceCount)") }
        for _ in 0..<n {
            let id = try varint("divergence.id")
            let watch = try string("divergence.watch")
            let key = try fullKey("divergence.key")
            let redisKey = try string("divergence.redisKey")
            let kind = try string("divergence.kind")
            let firstSeen = try zvarint("divergence.firstSeen")
            let expected = try optionalString("divergence.expected")
            let redisValue = try optionalString("divergence.redisValue")
            let gtid = try optionalString("divergence.lastAgreedGTID")
            let agreedAt = try optional("divergence.lastAgreedTime") { () throws(CheckpointError) in
                try zvarint("divergence.lastAgreedTime")
            }
            try v.divergence(
                CheckpointDivergence(
                    id: id,
                    watch: watch,
                    key: key,
                    redisKey: redisKey,
                    kind: kind,
                    firstSeenMillis: firstSeen,
                    expected: expected,
                    redisValue: redisValue,
                    lastAgreedGTID: gtid,
                    lastAgreedMillis: agreedAt
                )
            )
        }
        if preamble.version >= 2 { try parseHeldXA(&v) }
        try tag(CheckpointFormat.tagEnd, "end marker")
    }

    /// `'X', varint count, count × (string xid, string prepared_at, varint timestamp,
    /// varint change_count, change_count × (varint watch_index, full_key, u8 0 | u8 1 value))`.
    private func parseHeldXA<V: CheckpointVisitor>(_ v: inout V) throws(CheckpointError) {
        try tag(CheckpointFormat.tagHeldXA, "held XA section")
        let n = try count("heldXA.count", 0...CheckpointFormat.maxHeldChanges)
        var total = 0
        var xids = Set<String>()
        for _ in 0..<n {
            let xid = try string("heldXA.xid")
            guard xids.insert(xid).inserted else { throw corrupt("held XA transaction \(xid) appears twice") }
            let at = try string("heldXA.preparedAt")
            let ts = try varint("heldXA.timestamp")
            guard let ts32 = UInt32(exactly: ts) else { throw corrupt("heldXA.timestamp \(ts) is over 2^32") }
            let m = try count("heldXA.changes.count", 0...(CheckpointFormat.maxHeldChanges - total))
            total += m
            var changes: [CheckpointHeldChange] = []
            changes.reserveCapacity(min(m, 65_536))
            for _ in 0..<m {
                let w = try varint("heldXA.change.watch")
                guard w < UInt64(watchNames.count) else { throw corrupt("heldXA.change.watch is \(w); the file has \(watchNames.count) watches") }
                let key = try fullKey("heldXA.change.key")
                let new = try optional("heldXA.change") { () throws(CheckpointError) in try value("heldXA.change.value") }
                changes.append(CheckpointHeldChange(watch: watchNames[Int(w)], key: key, new: new))
            }
            try v.heldXA(CheckpointHeldXA(xid: xid, preparedAt: at, timestamp: ts32, changes: changes))
        }
    }

    private func parseWatch<V: CheckpointVisitor>(_ v: inout V) throws(CheckpointError) {
        try tag(CheckpointFormat.tagWatch, "watch section")
        let name = try string("watch.name")
        watchNames.append(name)
        let table = try string("watch.table")
        let keyCount = try count("watch.keyColumns.count", 1...CheckpointFormat.maxKeyColumns)
        var keyColumns: [CheckpointColumn] = []
        for _ in 0..<keyCount {
            let n = try string("watch.keyColumn.name")
            let t = try string("watch.keyColumn.type")
            keyColumns.append(CheckpointColumn(name: n, type: t))
        }
        let valueName = try string("watch.valueColumn.name")
        let valueType = try string("watch.valueColumn.type")
        let sinceFile = try string("watch.schemaSince.file")
        let sincePos = try varint("watch.schemaSince.pos")
        let intCount = try varint("watch.integerKeyCount")
        let otherCount = try varint("watch.otherKeyCount")
        let schema = CheckpointWatchSchema(
            name: name,
            table: table,
            keyColumns: keyColumns,
            valueColumn: CheckpointColumn(name: valueName, type: valueType),
            schemaSince: CheckpointPosition(file: sinceFile, position: sincePos)
        )
        try v.beginWatch(schema, integerKeys: intCount, otherKeys: otherCount)

        var seen: UInt64 = 0
        var last: Int64? = nil
        var exceptions: [(Int, ShadowValue)] = []
        while seen < intCount {
            try tag(CheckpointFormat.tagIntBlock, "integer block of watch \(name)")
            let n = try count("intBlock.count", 1...Int(min(UInt64(CheckpointFormat.maxBlockEntries), intCount - seen)))
            let length = try count("intBlock.columnsLength", (2 * n)...(20 * n))
            try ensure(length)
            try decodeColumns(n: n, length: length, after: last)
            last = blockKeys[n - 1]
            exceptions.removeAll(keepingCapacity: true)
            let exceptionCount = try count("intBlock.exceptions", 0...n)
            var previousIndex = -1
            for _ in 0..<exceptionCount {
                let index = try count("intBlock.exception.index", 0...(n - 1))
                guard index > previousIndex else { throw corrupt("exception indices out of order") }
                previousIndex = index
                guard blockValues[index] == 0 else {
                    throw corrupt("exception at index \(index) over a non-zero value")
                }
                let value = try self.value("intBlock.exception.value")
                if case .int = value { throw corrupt("an integer value as an exception") }
                exceptions.append((index, value))
            }
            try v.intBlock(
                keys: UnsafeBufferPointer(start: blockKeys, count: n),
                values: UnsafeBufferPointer(start: blockValues, count: n),
                exceptions: exceptions
            )
            seen += UInt64(n)
        }

        var others: UInt64 = 0
        var previous: ShadowKey? = nil
        while others < otherCount {
            try tag(CheckpointFormat.tagOtherBlock, "text/composite block of watch \(name)")
            let n = try count(
                "otherBlock.count",
                1...Int(min(UInt64(CheckpointFormat.maxBlockEntries), otherCount - others))
            )
            var previousText: [UInt8] = []
            for _ in 0..<n {
                let key: ShadowKey
                switch try u8("otherBlock.key.kind") {
                case CheckpointFormat.keyText:
                    let shared = try count("otherBlock.key.shared", 0...previousText.count)
                    let suffixLength = try count("otherBlock.key.suffixLength", 0...CheckpointFormat.maxStringBytes)
                    var b = Array(previousText[0..<shared])
                    b += try bytes(suffixLength, "otherBlock.key")
                    key = .text(try utf8(b, "otherBlock.key"))
                    previousText = b
                case CheckpointFormat.keyComposite:
                    let parts = try count("otherBlock.key.parts", 0...CheckpointFormat.maxCompositeParts)
                    var list: [String] = []
                    for _ in 0..<parts { list.append(try string("otherBlock.key.part")) }
                    key = .composite(list)
                case let k:
                    throw corrupt("otherBlock.key.kind is \(k) (1 text or 2 composite)")
                }
                if let p = previous, !(p < key) { throw corrupt("keys of watch \(name) out of order at \(key)") }
                previous = key
                try v.otherEntry(key, try value("otherBlock.value"))
            }
            others += UInt64(n)
        }
        try v.endWatch()
    }

    /// Decodes the key and value columns of an integer block from the window (all `length` bytes present).
    private func decodeColumns(n: Int, length: Int, after last: Int64?) throws(CheckpointError) {
        let p = UnsafePointer(windowBase + pos)
        var i = 0
        guard let first = decodeVarint(p, &i, length) else { throw corrupt("bad key varint in integer block") }
        var key = unzigzag(first)
        if let last, key <= last { throw corrupt("integer keys out of order: \(key) after \(last)") }
        blockKeys[0] = key
        for j in 1..<max(1, n) {
            guard let d = decodeVarint(p, &i, length) else { throw corrupt("bad key varint in integer block") }
            let room = UInt64(bitPattern: Int64.max &- key)
            guard d < room else { throw corrupt("integer key past Int64.max") }
            key = key &+ Int64(bitPattern: d &+ 1)
            blockKeys[j] = key
        }
        for j in 0..<n {
            guard let u = decodeVarint(p, &i, length) else { throw corrupt("bad value varint in integer block") }
            blockValues[j] = unzigzag(u)
        }
        guard i == length else { throw corrupt("integer block columns are \(i) bytes, the block says \(length)") }
        pos += length
    }
}
