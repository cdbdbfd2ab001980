// libFuzzer entry point for the binlog parser: the input is a binlog file (magic optional).
// Built and run by scripts/fuzz (swiftc -sanitize=fuzzer,address); any trap is a finding.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    var bytes = Array(UnsafeBufferPointer(start: data, count: size))
    if bytes.count < 4 || Array(bytes.prefix(4)) != BinlogFramer.magic { bytes = BinlogFramer.magic + bytes }
    var framer = BinlogFramer(startOffset: 0, expectMagic: true)
    framer.maxEventSize = 1 << 20
    framer.append(bytes)
    var decoder = BinlogEventDecoder()
    decoder.verifyChecksums = size & 1 == 0
    decoder.maxUncompressedSize = 1 << 20
    do {
        while let raw = try framer.next() {
            let e = try decoder.decode(raw)
            if case .rows(let r) = e.body {
                // The selected-columns reader first (its errors must not stop the full decode).
                if var selection = RowSelection(columns: [0, r.columnCount / 2, max(0, r.columnCount - 1), r.columnCount + 1]) {
                    var n = 0
                    try? r.forEachRow(into: &selection) { (s: inout RowSelection) throws(BinlogDecodingError) in n += s.after.isAbsent(0) ? 1 : 0 }
                }
                var w = JSONWriter()
                let rows = try r.rows()
                EventJSON.write(e, file: "fuzz", rows: rows, into: &w)
            }
            if case .transactionPayload(let p) = e.body {
                var reader = try TransactionPayloadReader(p, eventStart: e.offset, maxEventSize: 1 << 20)
                var n = 0
                while let inner = try reader.next(), n < 1000 {
                    _ = try decoder.decode(inner, insidePayload: true)
                    n += 1
                }
            }
        }
        try framer.finish()
    } catch {
        _ = error.description
    }
    return 0
}
