import Foundation
import Testing
@testable import BinlogParser

/// Every row value of every fixture, compared with what `mariadb-binlog -vv
/// --base64-output=decode-rows` prints for it (an independent decoder).
@Suite struct MariaDBBinlogOracleTests {
    struct OracleValue {
        var column: Int  // 0-based
        var text: [UInt8]
        var comment: String
    }

    /// One row image as mariadb-binlog prints it.
    struct OracleImage {
        var statement: String
        var values: [OracleValue]
    }

    static func parseOracle(_ out: [UInt8]) -> [OracleImage] {
        var images: [OracleImage] = []
        var statement = ""
        var current: OracleImage? = nil
        for lineSlice in out.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            let line = Array(lineSlice)
            guard line.starts(with: Array("###".utf8)) else { continue }
            let text = String(decoding: line, as: UTF8.self)
            if text.hasPrefix("### INSERT INTO") || text.hasPrefix("### UPDATE") || text.hasPrefix("### DELETE FROM") {
                if let c = current { images.append(c) }
                current = nil
                statement = text
                continue
            }
            if text == "### SET" || text == "### WHERE" {
                if let c = current { images.append(c) }
                current = OracleImage(statement: statement, values: [])
                continue
            }
            // "###   @N=value /* TYPE meta=... nullable=... is_null=... */"
            guard line.starts(with: Array("###   @".utf8)) else { continue }
            let body = Array(line.dropFirst(7))
            guard let eq = body.firstIndex(of: UInt8(ascii: "=")), let n = Int(String(decoding: body[..<eq], as: UTF8.self)) else { continue }
            var value = Array(body[(eq + 1)...])
            var comment = ""
            if let r = lastRange(of: Array(" /* ".utf8), in: value) {
                comment = String(decoding: value[r.upperBound...], as: UTF8.self)
                value = Array(value[..<r.lowerBound])
            }
            while value.last == UInt8(ascii: " ") { value.removeLast() }
            current?.values.append(OracleValue(column: n - 1, text: value, comment: comment))
        }
        if let c = current { images.append(c) }
        return images
    }

    static func lastRange(of needle: [UInt8], in hay: [UInt8]) -> Range<Int>? {
        guard hay.count >= needle.count else { return nil }
        var i = hay.count - needle.count
        while i >= 0 {
            if Array(hay[i..<(i + needle.count)]) == needle { return i..<(i + needle.count) }
            i -= 1
        }
        return nil
    }

    /// Undoes mariadb-binlog's quoting: `'...'` with `\xHH` for control bytes, quote and backslash.
    static func unquote(_ v: [UInt8]) -> [UInt8]? {
        guard v.count >= 2, v.first == UInt8(ascii: "'"), v.last == UInt8(ascii: "'") else { return nil }
        let inner = Array(v[1..<(v.count - 1)])
        var out: [UInt8] = []
        var i = 0
        while i < inner.count {
            if inner[i] == UInt8(ascii: "\\"), i + 3 < inner.count + 0, inner[i + 1] == UInt8(ascii: "x"),
                let b = UInt8(String(decoding: inner[(i + 2)..<(i + 4)], as: UTF8.self), radix: 16)
            {
                out.append(b)
                i += 4
            } else {
                out.append(inner[i])
                i += 1
            }
        }
        return out
    }

    static func matches(_ ours: ColumnValue, _ col: ColumnInfo, _ oracle: OracleValue) -> Bool {
        let text = String(decoding: oracle.text, as: UTF8.self)
        if text == "NULL" { return ours == .null }
        switch ours {
        case .null:
            return false
        case .int(let i):
            return Int64(text.split(separator: " ").first ?? "") == i
        case .uint(let u):
            if let open = text.firstIndex(of: "("), let close = text.firstIndex(of: ")") {
                return UInt64(text[text.index(after: open)..<close]) == u
            }
            return UInt64(text) == u
        case .float(let f):
            guard let d = Double(text) else { return false }
            return abs(d - Double(f)) <= abs(Double(f)) * 1e-5
        case .double(let x):
            guard let d = Double(text) else { return false }
            return abs(d - x) <= abs(x) * 1e-12
        case .decimal(let s):
            return s == text
        case .year(let y):
            // YEAR 0 is '0000'; mariadb-binlog prints every stored byte plus 1900, so 0 shows as 1900.
            return Int(text) == y || (y == 0 && text == "1900")
        case .date(let d):
            return unquote(oracle.text).map { String(decoding: $0, as: UTF8.self).replacingOccurrences(of: ":", with: "-") } == d.description
        case .time(let t):
            return unquote(oracle.text).map { String(decoding: $0, as: UTF8.self) } == t.description
        case .datetime(let d):
            return unquote(oracle.text).map { String(decoding: $0, as: UTF8.self) } == d.description
        case .timestamp(let seconds, let micros, let precision):
            var expected = String(seconds)
            if precision > 0 { expected += "." + String(String(format: "%06d", micros).prefix(precision)) }
            return text == expected
        case .string(let s):
            guard let raw = unquote(oracle.text) else { return false }
            return raw.withUnsafeBytes { (col.charset ?? .utf8).decode($0) } == s
        case .bytes(let b), .geometry(let b):
            return unquote(oracle.text) == b
        case .bit(let v):
            return bits(text) == v
        case .enumValue(let index, _):
            return Int(text) == index
        case .setValue(let mask, _):
            // A SET is stored little-endian; mariadb-binlog prints its bytes in storage order.
            guard text.hasPrefix("b'"), text.hasSuffix("'") else { return false }
            let digits = Array(text.dropFirst(2).dropLast())
            guard digits.count % 8 == 0 else { return false }
            var value: UInt64 = 0
            for k in 0..<(digits.count / 8) {
                guard let byte = UInt64(String(digits[(k * 8)..<(k * 8 + 8)]), radix: 2) else { return false }
                value |= byte << UInt64(8 * k)
            }
            return value == mask
        case .json, .jsonDiff, .vector:
            return false  // MySQL-only; not in MariaDB fixtures
        }
    }

    /// `b'0101'` to its value.
    static func bits(_ text: String) -> UInt64? {
        guard text.hasPrefix("b'"), text.hasSuffix("'") else { return nil }
        return UInt64(text.dropFirst(2).dropLast(), radix: 2)
    }

    @Test(arguments: Fixtures.ourBinlogNames)
    func rowValuesMatchMariaDBBinlog(_ name: String) throws {
        try #require(Fixtures.hasMariaDBBinlog, "mariadb-binlog is needed (apt-get install mariadb-client)")
        let path = Fixtures.url(name).path
        let result = try Fixtures.run("mariadb-binlog", ["-vv", "--base64-output=decode-rows", path])
        #expect(result.status == 0, "mariadb-binlog failed: \(result.stderr)")
        let oracle = Self.parseOracle(result.stdout)

        var ours: [(RowImage, TableMapEvent)] = []
        for e in try Fixtures.events(path) {
            guard case .rows(let r) = e.event.body else { continue }
            for row in try r.rows() {
                if let b = row.before { ours.append((b, r.table)) }
                if let a = row.after { ours.append((a, r.table)) }
            }
        }
        #expect(ours.count == oracle.count, "\(name): we decoded \(ours.count) row images, mariadb-binlog printed \(oracle.count)")
        var compared = 0
        var failures = 0
        for (index, ((image, table), expected)) in zip(ours, oracle).enumerated() {
            let present = (0..<image.values.count).filter { !image.absent.contains($0) }
            if present != expected.values.map(\.column) {
                Issue.record("\(name): image #\(index) (\(expected.statement)): columns \(present) vs mariadb-binlog \(expected.values.map(\.column))")
                failures += 1
                continue
            }
            for v in expected.values {
                compared += 1
                if !Self.matches(image.values[v.column], table.columns[v.column], v) {
                    failures += 1
                    if failures <= 10 {
                        Issue.record("\(name): image #\(index) @\(v.column + 1) (\(v.comment.prefix(40))): ours \(String(describing: image.values[v.column]).prefix(200)) vs mariadb-binlog \(String(decoding: v.text.prefix(200), as: UTF8.self))")
                    }
                }
            }
        }
        #expect(failures == 0, "\(name): \(failures) of \(compared) values differ")
        #expect(compared > 0 || oracle.isEmpty)
    }
}
