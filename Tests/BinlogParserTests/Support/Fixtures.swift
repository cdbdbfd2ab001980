import Foundation
import Testing
@testable import BinlogParser

/// Where the fixtures are: found from this file's own path, since they live outside any target.
enum Fixtures {
    static let repoRoot: URL = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<4 { url.deleteLastPathComponent() }  // Support, BinlogParserTests, Tests, root
        return url
    }()

    static let ours = repoRoot.appendingPathComponent("Tests/Fixtures/binlogs")

    /// `../shared/fixtures/binlogs` beside the checkout (public binlogs from other projects).
    static let shared = repoRoot.deletingLastPathComponent().appendingPathComponent("shared/fixtures/binlogs")

    static var ourBinlogs: [URL] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: ours.path)) ?? []
        return names.filter { $0.hasSuffix(".binlog") }.sorted().map { ours.appendingPathComponent($0) }
    }

    static var ourBinlogNames: [String] { ourBinlogs.map { $0.lastPathComponent } }

    static func url(_ name: String) -> URL { ours.appendingPathComponent(name) }

    static func bytes(_ name: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: url(name)))
    }

    /// All events of a file, decoded, with TRANSACTION_PAYLOAD contents expanded.
    static func events(_ path: String, verify: Bool = true) throws -> [LocatedEvent] {
        let reader = try BinlogFileEvents(path: path, verifyChecksums: verify)
        var out: [LocatedEvent] = []
        while let e = try reader.next() { out.append(e) }
        return out
    }

    /// Raw events of a file (framing only).
    static func rawEvents(_ bytes: [UInt8]) throws -> [RawEvent] {
        var framer = BinlogFramer(startOffset: 0, expectMagic: true)
        framer.append(bytes)
        var out: [RawEvent] = []
        while let e = try framer.next() { out.append(e) }
        try framer.finish()
        return out
    }

    /// Runs a command and returns its standard output as bytes.
    static func run(_ tool: String, _ args: [String]) throws -> (status: Int32, stdout: [UInt8], stderr: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = [tool] + args
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        let errData = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, [UInt8](data), String(decoding: errData, as: UTF8.self))
    }

    static var hasMariaDBBinlog: Bool {
        (try? run("mariadb-binlog", ["--version"]).status) == 0
    }
}

/// Renders events the way the `events` command does.
func renderEvents(_ path: String, name: String) throws -> [String] {
    var lines: [String] = []
    var w = JSONWriter()
    for located in try Fixtures.events(path) {
        var rows: [RowChange]? = nil
        if case .rows(let r) = located.event.body { rows = try r.rows() }
        EventJSON.write(located.event, file: name, inPayload: located.inPayload, rows: rows, into: &w)
        lines.append(String(decoding: w.bytes, as: UTF8.self))
        w.reset()
    }
    return lines
}
