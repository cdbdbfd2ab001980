import Foundation
import Testing
@testable import BinlogParser

/// The public binlogs in `../shared/fixtures/binlogs` (MySQL 5.0–9.6, Percona, Aurora, NDB,
/// MariaDB 10.5), read in place. Skipped, with a message, when that folder is absent.
@Suite struct SharedFixturesTests {
    static var available: Bool { FileManager.default.fileExists(atPath: Fixtures.shared.path) }

    static var files: [String] {
        guard available, let names = try? FileManager.default.contentsOfDirectory(atPath: Fixtures.shared.path) else { return [] }
        return names.filter { !$0.hasSuffix(".md") && !$0.hasSuffix(".json") && !$0.hasPrefix(".") }.sorted()
    }

    /// `inventory.json`: for each file, each event's offset and type code from an independent
    /// header walker. Read loosely: any object that maps a file name to a list of objects with an
    /// offset-like and a type-like key.
    static func inventory() -> [String: [(offset: UInt64, type: UInt8)]] {
        let url = Fixtures.shared.appendingPathComponent("inventory.json")
        guard let data = try? Data(contentsOf: url), let json = try? JSONSerialization.jsonObject(with: data) else { return [:] }
        var out: [String: [(UInt64, UInt8)]] = [:]
        func events(_ any: Any) -> [(UInt64, UInt8)]? {
            guard let list = any as? [Any] else {
                if let dict = any as? [String: Any] { for k in ["events", "inventory"] { if let v = dict[k], let e = events(v) { return e } } }
                return nil
            }
            var result: [(UInt64, UInt8)] = []
            for item in list {
                guard let d = item as? [String: Any] else { return nil }
                let off = ["offset", "pos", "position", "start"].compactMap { d[$0] as? NSNumber }.first
                let type = ["type_code", "code", "type"].compactMap { d[$0] as? NSNumber }.first
                guard let off, let type else { return nil }
                result.append((off.uint64Value, type.uint8Value))
            }
            return result
        }
        func walk(_ any: Any) {
            if let dict = any as? [String: Any] {
                for (k, v) in dict {
                    if let e = events(v) { out[(k as NSString).lastPathComponent] = e } else { walk(v) }
                }
            } else if let list = any as? [Any] {
                for item in list {
                    if let d = item as? [String: Any], let name = (d["file"] ?? d["name"] ?? d["path"]) as? String, let e = events(d) {
                        out[(name as NSString).lastPathComponent] = e
                    }
                }
            }
        }
        walk(json)
        return out
    }

    @Test func publicFixturesArePresent() throws {
        if !Self.available {
            print("SKIPPED: \(Fixtures.shared.path) is absent; the public-fixture tests did not run")
            return
        }
        #expect(!Self.files.isEmpty)
    }

    @Test func everyPublicFixtureIsFramedWhereTheInventorySays() throws {
        guard Self.available else {
            print("SKIPPED: \(Fixtures.shared.path) is absent")
            return
        }
        let inventory = Self.inventory()
        #expect(!inventory.isEmpty, "inventory.json could not be read")
        var decodedFiles = 0
        for name in Self.files {
            let path = Fixtures.shared.appendingPathComponent(name).path
            let bytes = [UInt8]((try? Data(contentsOf: URL(fileURLWithPath: path))) ?? Data())
            guard bytes.starts(with: BinlogFramer.magic) else { continue }
            var framer = BinlogFramer(startOffset: 0, expectMagic: true)
            framer.append(bytes)
            var raws: [RawEvent] = []
            var frameError: BinlogDecodingError?
            do {
                while let e = try framer.next() { raws.append(e) }
                try framer.finish()
            } catch { frameError = error }
            if let expected = inventory[name] {
                let got = raws.map { ($0.offset, $0.type.rawValue) }
                #expect(got.count == expected.count || frameError != nil, "\(name): \(got.count) events framed, inventory has \(expected.count)")
                for (a, b) in zip(got, expected) where a.0 != b.0 || a.1 != b.1 {
                    Issue.record("\(name): event at \(a.0) type \(a.1), inventory says \(b.0) type \(b.1)")
                    break
                }
            }
            // Decoding either succeeds or stops with a located error; it never traps.
            var decoder = BinlogEventDecoder()
            do {
                for raw in raws {
                    let e = try decoder.decode(raw)
                    if case .rows(let r) = e.body { _ = try r.rows() }
                    if case .transactionPayload(let p) = e.body {
                        var reader = try TransactionPayloadReader(p, eventStart: e.offset)
                        while let inner = try reader.next() {
                            let ie = try decoder.decode(inner, insidePayload: true)
                            if case .rows(let r) = ie.body { _ = try r.rows() }
                        }
                    }
                }
                decodedFiles += 1
            } catch {
                print("\(name): \(error)")
            }
        }
        #expect(decodedFiles > 0)
    }
}
