import ReconcilerCore
import RedisClient
import BinlogParser

extension ReportRecord {
    /// One report line, as documented in docs/reconcile.md.
    public func writeJSON(into w: inout JSONWriter) {
        w.beginObject()
        if event == .summary {
            if !id.isEmpty { w.field("id", id) }
            w.field("event", event.rawValue)
            w.field("reason", reason ?? "")
            w.field("watch", watch)
            w.field("keys", keys ?? 0)
            if let s = summary {
                w.field("keys_checked", s.keysChecked)
                w.field("noticed_at", VerdictEngine.rfc3339(s.noticedAt))
                w.key("redis_run_id")
                if let v = s.runID { w.string(v) } else { w.null() }
                w.key("previous_redis_run_id")
                if let v = s.previousRunID { w.string(v) } else { w.null() }
                w.key("redis_keys_before")
                if let v = s.redisKeysBefore { w.int(v) } else { w.null() }
                w.key("redis_keys_after")
                if let v = s.redisKeysAfter { w.int(v) } else { w.null() }
                // Redis Cluster only: the node and its slots.
                if let v = s.node { w.field("redis_node", v) }
                if let v = s.nodeID { w.field("redis_node_id", v) }
                if let v = s.slots { w.field("slots", v) }
            }
            w.field("detected_at", VerdictEngine.rfc3339(detectedAt))
            w.key("binlog")
            writeBinlog(into: &w)
            w.endObject()
            return
        }
        w.field("id", id)
        w.field("event", event.rawValue)
        w.field("watch", watch)
        w.field("key", key)
        w.field("redis_key", redisKey)
        w.key("expected")
        if let e = expected { w.string(e) } else { w.null() }
        w.key("redis")
        if let r = redis { w.string(r) } else { w.null() }
        w.field("kind", kind.rawValue)
        w.field("first_seen", VerdictEngine.rfc3339(firstSeen))
        w.field("detected_at", VerdictEngine.rfc3339(detectedAt))
        w.key("last_agreed")
        if let at = lastAgreedAt {
            w.beginObject()
            w.field("at", VerdictEngine.rfc3339(at))
            w.key("gtid")
            if let g = lastAgreedGTID { w.string(g) } else { w.null() }
            w.endObject()
        } else {
            w.null()
        }
        w.key("binlog")
        writeBinlog(into: &w)
        w.endObject()
    }

    private func writeBinlog(into w: inout JSONWriter) {
        w.beginObject()
        w.field("file", binlog.file)
        w.field("pos", binlog.position)
        w.field("gtid", binlogGTID)
        w.endObject()
    }
}
