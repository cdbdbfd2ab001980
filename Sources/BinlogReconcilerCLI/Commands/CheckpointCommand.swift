import ArgumentParser
import BinlogParser
import BinlogReconciler

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `binlog-reconciler checkpoint …`: tools for checkpoint files.
struct CheckpointCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "checkpoint",
        abstract: "Inspect checkpoint files (the reconciler's saved shadow maps and binlog position).",
        subcommands: [CheckpointInspectCommand.self]
    )
}

struct CheckpointInspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Verify a checkpoint file and print its header as one JSON line.",
        discussion: """
            The whole file is verified first (header, both CRC-32s, every section); then one JSON
            object on one line: magic, version, created, source, position, gtid, fingerprints,
            watches (schema and key counts), open_divergences, xa_prepared (the XA transactions
            prepared at the checkpoint's position: xid, where and when prepared, how many row
            changes they hold; version 2). With --values, one line per key follows, per watch in
            key order: {"watch":…,"key":…,"value":…} (integers as JSON numbers, text as strings,
            composite keys as arrays of strings, NULL as null); then one line per held change:
            {"xa_held":XID,"watch":…,"key":…,"value":…,"deleted":BOOL} (applied at its XA COMMIT).
            The format is described in docs/checkpoint-format.md.

            Exit status: 0 when the file is valid; 2 when it cannot be read or is not a valid
            checkpoint (the reason, naming the file, on stderr).

            Examples:
              binlog-reconciler checkpoint inspect state/checkpoint-0000000000000042.ckpt | jq .
              binlog-reconciler checkpoint inspect --values c.ckpt | jq -c 'select(.watch=="products" and .value==0)'
            """
    )

    @Argument(help: "The checkpoint file.")
    var file: String

    @Flag(help: "Also print every key and value, one JSON line each.")
    var values = false

    func run() throws {
        let summary: CheckpointSummary
        do throws(CheckpointError) {
            summary = try CheckpointFile.summary(path: file)
        } catch {
            printError("binlog-reconciler: checkpoint inspect: " + error.description)
            throw ExitCode(2)
        }
        let out = OutputSink.standardOutput()
        defer { out.flush() }
        var w = JSONWriter(capacity: 4096)
        Self.writeSummary(summary, file: file, into: &w)
        out.writeLine(&w)
        guard values, !out.failed else { return }
        do throws(CheckpointError) {
            try CheckpointFile.forEachEntry(path: file) { watch, key, value in
                w.beginObject()
                w.field("watch", watch)
                w.key("key")
                Self.writeKey(key, into: &w)
                w.key("value")
                Self.writeValue(value, into: &w)
                w.endObject()
                out.writeLine(&w)
                return !out.failed
            }
        } catch {
            out.flush()
            printError("binlog-reconciler: checkpoint inspect: " + error.description)
            throw ExitCode(2)
        }
        for h in summary.heldXA {
            for c in h.changes where !out.failed {
                w.beginObject()
                w.field("xa_held", h.xid)
                w.field("watch", c.watch)
                w.key("key")
                Self.writeKey(c.key, into: &w)
                w.key("value")
                Self.writeValue(c.new, into: &w)
                w.key("deleted")
                w.bool(c.new == nil)
                w.endObject()
                out.writeLine(&w)
            }
        }
    }

    static func writeValue(_ value: ShadowValue?, into w: inout JSONWriter) {
        switch value {
        case nil, .null?: w.null()
        case .int(let i)?: w.int(i)
        case .text(let s)?: w.string(s)
        }
    }

    static func writeKey(_ key: ShadowKey, into w: inout JSONWriter) {
        switch key {
        case .int(let i): w.int(i)
        case .text(let s): w.string(s)
        case .composite(let parts):
            w.beginArray()
            for p in parts { w.string(p) }
            w.endArray()
        }
    }

    /// `"KEY": {"file": …, "pos": …}`.
    static func writePosition(_ p: CheckpointPosition, key: String, into w: inout JSONWriter) {
        w.key(key)
        w.beginObject()
        w.field("file", p.file)
        w.field("pos", p.position)
        w.endObject()
    }

    /// `{"name": …, "type": …}`.
    static func writeColumn(_ c: CheckpointColumn, into w: inout JSONWriter) {
        w.beginObject()
        w.field("name", c.name)
        w.field("type", c.type)
        w.endObject()
    }

    static func writeSummary(_ s: CheckpointSummary, file: String, into w: inout JSONWriter) {
        let h = s.header
        w.beginObject()
        w.field("file", file)
        w.field("magic", "894252434b50540a")
        w.field("version", s.formatVersion)
        w.field("created", isoTime(millis: h.createdMillis))
        w.field("created_ms", h.createdMillis)
        w.key("source")
        w.beginObject()
        w.field("flavour", h.source.flavour.rawValue)
        w.field("server_id", h.source.serverID)
        w.key("server_uuid")
        if let u = h.source.serverUUID { w.string(u) } else { w.null() }
        w.key("gtid_domains")
        w.beginArray()
        for d in h.source.gtidDomains { w.int(d) }
        w.endArray()
        w.endObject()
        writePosition(h.position, key: "position", into: &w)
        w.field("gtid", h.gtidState)
        w.key("fingerprints")
        w.beginObject()
        w.field("watches", h.watchesFingerprint)
        w.field("schema", h.schemaFingerprint)
        w.endObject()
        w.key("watches")
        w.beginArray()
        for watch in s.watches {
            let sc = watch.schema
            w.beginObject()
            w.field("name", sc.name)
            w.field("table", sc.table)
            w.key("key_columns")
            w.beginArray()
            for c in sc.keyColumns { writeColumn(c, into: &w) }
            w.endArray()
            w.key("value_column")
            writeColumn(sc.valueColumn, into: &w)
            writePosition(sc.schemaSince, key: "schema_since", into: &w)
            w.field("keys", watch.keyCount)
            w.field("integer_keys", watch.integerKeyCount)
            w.field("other_keys", watch.otherKeyCount)
            w.endObject()
        }
        w.endArray()
        w.field("open_divergences", s.divergenceCount)
        w.key("xa_prepared")
        w.beginArray()
        for h in s.heldXA {
            w.beginObject()
            w.field("xid", h.xid)
            w.field("prepared_at", h.preparedAt)
            w.field("prepared_time", isoTime(millis: Int64(h.timestamp) * 1000))
            w.field("changes", h.changes.count)
            w.endObject()
        }
        w.endArray()
        w.field("file_bytes", s.fileBytes)
        w.field("content_bytes", s.contentBytes)
        w.endObject()
    }

    /// `2026-01-01T00:00:00.123Z`.
    static func isoTime(millis: Int64) -> String {
        var seconds = time_t(millis.dividingFloor(by: 1000))
        let ms = Int(millis - Int64(seconds) * 1000)
        var t = tm()
        guard gmtime_r(&seconds, &t) != nil else { return String(millis) }
        func pad(_ v: Int32, _ n: Int) -> String {
            let s = String(v)
            return String(repeating: "0", count: max(0, n - s.count)) + s
        }
        return "\(pad(t.tm_year + 1900, 4))-\(pad(t.tm_mon + 1, 2))-\(pad(t.tm_mday, 2))T"
            + "\(pad(t.tm_hour, 2)):\(pad(t.tm_min, 2)):\(pad(t.tm_sec, 2)).\(pad(Int32(ms), 3))Z"
    }
}

extension Int64 {
    fileprivate func dividingFloor(by d: Int64) -> Int64 {
        let q = self / d
        return (self % d != 0 && (self < 0) != (d < 0)) ? q - 1 : q
    }
}
