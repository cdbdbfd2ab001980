import Foundation
import Logging

extension ReconcilerDaemon {
    /// A fingerprint of the configured watches: a checkpoint taken for other watches is refused.
    var watchesFingerprint: String {
        CheckpointFingerprint.of(configuration.watches.flatMap { w in
            [w.name, w.qualifiedTable, w.keyColumns.joined(separator: ","), w.valueColumn, w.target.keyTemplate.source]
        })
    }

    /// The source's identity for checkpoints: the flavour detected from its version string (or set
    /// in the configuration), its `@@server_id` and, for MySQL, its `@@server_uuid`.
    static func identify(_ sql: SQLConnection) throws -> CheckpointSource {
        let flavour: CheckpointSource.Flavour = sql.flavor == .mysql ? .mysql : .mariadb
        let row = try sql.query(flavour == .mysql ? "SELECT @@server_id, @@server_uuid" : "SELECT @@server_id").first
        let serverID = row.flatMap { $0[0] }.flatMap { UInt32($0) } ?? 0
        let uuid = flavour == .mysql ? row.flatMap { $0.count > 1 ? $0[1] : nil } : nil
        return CheckpointSource(flavour: flavour, serverID: serverID, serverUUID: uuid)
    }

    /// How a MySQL checkpoint resumes on the current source.
    enum MySQLResumePlan: Equatable {
        /// COM_BINLOG_DUMP_GTID with the checkpoint's executed set; `reason` says why it is safe.
        case gtid(MySQLGTIDSet, reason: String)
        /// COM_BINLOG_DUMP at the checkpoint's file and position.
        case filePosition(reason: String)
    }

    /// Decides how a MySQL checkpoint resumes, from the checkpoint (`gtidState`, the source's
    /// `server_uuid` when it was taken) and the source now (`server_uuid`, `@@global.gtid_mode`,
    /// `gtid_purged`, `gtid_executed`). Throws a ``ConfigurationError`` naming --rebootstrap when
    /// resuming would skip or invent transactions.
    ///
    /// - gtid_mode=ON and an untagged, non-empty executed set: by GTID set — on the same server and
    ///   after a failover (another server_uuid) alike, since GTIDs name the same transactions on
    ///   every server of the topology. Refused if the source purged transactions the set lacks
    ///   (they are gone from every binlog it can send), or if the set holds transactions the source
    ///   never executed (the shadow state would be ahead of the source's data).
    /// - Otherwise by file and position, and only on the server the checkpoint was taken on: a
    ///   position in another server's binlog names other events.
    static func mysqlResumePlan(
        checkpointGTID: String, checkpointUUID: String?, sourceUUID: String?,
        gtidMode: String?, gtidPurged: String?, gtidExecuted: String?
    ) throws -> MySQLResumePlan {
        let sameServer = checkpointUUID == nil || sourceUUID == nil || checkpointUUID?.lowercased() == sourceUUID?.lowercased()
        let gtidOn = gtidMode?.uppercased() == "ON"
        let set = MySQLGTIDSet(checkpointGTID)
        let foreign = "the checkpoint was taken on server_uuid \(checkpointUUID ?? "?") but the source is \(sourceUUID ?? "?")"
        if gtidOn, let set, !set.isEmpty {
            guard let purged = MySQLGTIDSet(gtidPurged ?? "") else {
                throw ConfigurationError("cannot compare the source's gtid_purged '\(gtidPurged ?? "")' with the checkpoint's GTID set (tagged or malformed); start with --rebootstrap to discard the saved state and read the tables again")
            }
            let lost = purged.subtracting(set)
            guard lost.isEmpty else {
                throw ConfigurationError("the source has purged transactions the checkpoint never saw (\(lost)): their changes cannot be read any more, so resuming from GTID set \(set) would miss them\(sameServer ? "" : " (\(foreign))"); start with --rebootstrap to discard the saved state and read the tables again")
            }
            if let executedText = gtidExecuted, let executed = MySQLGTIDSet(executedText) {
                let extra = set.subtracting(executed)
                guard extra.isEmpty else {
                    throw ConfigurationError("the checkpoint holds transactions the source never executed (\(extra)): the saved state is ahead of the source's data (transactions lost in a failover?)\(sameServer ? "" : " (\(foreign))"); start with --rebootstrap to discard the saved state and read the tables again")
                }
            }
            let reason = sameServer
                ? "gtid_mode=ON: the source sends every transaction not in the checkpoint's executed set"
                : "failover: \(foreign); its gtid_purged (\(purged.isEmpty ? "empty" : "\(purged)")) is contained in the checkpoint's executed set, so every transaction after the checkpoint can still be sent"
            return .gtid(set, reason: reason)
        }
        let why: String
        if !gtidOn {
            why = "gtid_mode is \(gtidMode ?? "unknown") on the source"
        } else if set == nil {
            why = "the checkpoint's GTID set cannot be sent in COM_BINLOG_DUMP_GTID (tagged or malformed: '\(checkpointGTID)')"
        } else {
            why = "the checkpoint has no GTID set"
        }
        guard sameServer else {
            throw ConfigurationError("\(foreign), and resuming by GTID set is not possible (\(why)): a binlog position of another server names other events; start with --rebootstrap to discard the saved state and read the tables again")
        }
        return .filePosition(reason: why)
    }

    /// How a checkpoint was resumed.
    struct Resumed {
        /// A MySQL checkpoint resumed by executed GTID set (COM_BINLOG_DUMP_GTID on every connection).
        var byMySQLGTID = false
    }

    /// Resumes from the newest valid checkpoint, or returns nil (then the caller bootstraps).
    func resumeFromCheckpoint(_ store: CheckpointStore, sql: SQLConnection, source sourceIdentity: CheckpointSource) throws -> Resumed? {
        guard let loaded = try store.loadNewestValid() else {
            logger.info("no checkpoint yet: bootstrapping", metadata: ["directory": "\(store.directory)"])
            return nil
        }
        var resumed = Resumed()
        for s in loaded.skipped { logger.warning("skipped a checkpoint that is not valid", metadata: ["file": "\(s.path)", "error": "\(s.error)"]) }
        let c = loaded.checkpoint
        guard c.header.watchesFingerprint == watchesFingerprint else {
            throw ConfigurationError("checkpoint \(loaded.path) was taken for other watches; start with --rebootstrap to discard it and read the tables again")
        }
        guard c.header.source.flavour == sourceIdentity.flavour else {
            throw ConfigurationError("checkpoint \(loaded.path) was taken from a \(c.header.source.flavour.rawValue) source but the source is \(sourceIdentity.flavour.rawValue); start with --rebootstrap to discard it and read the tables again")
        }
        var restored = ShadowState(watchCount: configuration.watches.count, position: BinlogCoordinates(file: c.header.position.file, position: c.header.position.position))
        for (i, w) in configuration.watches.enumerated() {
            guard let cw = c.watch(named: w.name) else {
                throw ConfigurationError("checkpoint \(loaded.path) has no watch \(w.name); start with --rebootstrap")
            }
            restored.maps[i] = ShadowMap(cw.map)
        }
        if c.header.source.flavour == .mysql {
            guard let executed = GTIDState(mysqlSet: c.header.gtidState) else {
                throw ConfigurationError("checkpoint \(loaded.path) has a GTID set that cannot be parsed ('\(c.header.gtidState)'); start with --rebootstrap")
            }
            restored.gtid = executed
            // MySQL before 5.6 has no GTIDs (the query fails): resume by file and position.
            let row = (try? sql.query("SELECT @@global.gtid_mode, @@global.gtid_purged, @@global.gtid_executed"))?.first
            let plan = try Self.mysqlResumePlan(
                checkpointGTID: c.header.gtidState, checkpointUUID: c.header.source.serverUUID, sourceUUID: sourceIdentity.serverUUID,
                gtidMode: row?[0] ?? nil, gtidPurged: row.flatMap { $0.count > 1 ? $0[1] : nil }, gtidExecuted: row.flatMap { $0.count > 2 ? $0[2] : nil })
            switch plan {
            case .gtid(let set, let reason):
                resumed.byMySQLGTID = true
                logger.notice("resuming by MySQL GTID set (COM_BINLOG_DUMP_GTID)", metadata: [
                    "gtid_set": "\(set)", "why": "\(reason)", "checkpoint_position": "\(c.header.position)",
                    "checkpoint_server_uuid": "\(c.header.source.serverUUID ?? "?")", "source_server_uuid": "\(sourceIdentity.serverUUID ?? "?")",
                ])
            case .filePosition(let reason):
                resumed.byMySQLGTID = false
                logger.notice("resuming by binlog file and position", metadata: ["position": "\(c.header.position)", "why": "\(reason)"])
            }
        } else {
            restored.gtid = GTIDState(mariadbList: c.header.gtidState)
        }
        // Prepared XA transactions: held again (their XA COMMIT applies them), and their values
        // legitimate for the verdict rule as before the stop.
        var heldNotes: [(String, [CommittedChange])] = []
        let watchIndex = Dictionary(configuration.watches.enumerated().map { ($1.name, $0) }, uniquingKeysWith: { first, _ in first })
        for h in c.heldXA {
            var changes: [PendingChange] = []
            for ch in h.changes {
                guard let w = watchIndex[ch.watch] else {
                    throw ConfigurationError("checkpoint \(loaded.path): held XA transaction \(h.xid) changes watch \(ch.watch), which is not configured; start with --rebootstrap")
                }
                changes.append((w, ch.key, ch.new))
            }
            guard restored.heldXA.hold(h.xid, changes: changes, count: changes.count, at: h.preparedAt, timestamp: h.timestamp) else {
                throw ConfigurationError("checkpoint \(loaded.path) holds more XA row changes than the bound of \(restored.heldXA.maxChanges); start with --rebootstrap")
            }
            heldNotes.append((h.xid, changes.map { CommittedChange(watch: $0.watch, key: $0.key, old: restored.maps[$0.watch][$0.key], new: $0.new) }))
        }
        let watches = configuration.watches
        let restoredState = restored
        shared.withLock { s in
            s.shadow = restoredState
            for (xid, changes) in heldNotes { s.engine.noteHeld(xid: xid, changes: changes) }
            for d in c.divergences {
                guard let w = watches.firstIndex(where: { $0.name == d.watch }) else { continue }
                let first = Double(d.firstSeenMillis) / 1000
                let record = ReportRecord(
                    event: .divergence, id: "\(d.watch)|\(d.key)|\(VerdictEngine.rfc3339(first))", watch: d.watch, key: d.key.description,
                    redisKey: d.redisKey, expected: d.expected, redis: d.redisValue, kind: DivergenceKind(rawValue: d.kind) ?? .mismatch,
                    firstSeen: first, detectedAt: first, lastAgreedAt: d.lastAgreedMillis.map { Double($0) / 1000 }, lastAgreedGTID: d.lastAgreedGTID,
                    binlog: restored.position, binlogGTID: c.header.gtidState)
                s.engine.restore(open: record, watch: w, key: d.key)
            }
        }
        logger.notice("resuming from checkpoint", metadata: [
            "file": "\(loaded.path)", "position": "\(restored.position)", "gtid": "\(c.header.gtidState)",
            "keys": "\(restored.maps.map(\.count).reduce(0, +))", "open_divergences": "\(c.divergences.count)",
            "xa_prepared": "\(c.heldXA.count)",
        ])
        return resumed
    }

    /// Takes a snapshot under the lock (cheap: later writes go to an overlay), writes it off the
    /// apply path, then lets the maps merge their overlays back. The changes held by prepared XA
    /// transactions are part of the snapshot (format version 2), so their XA COMMIT after a resume
    /// applies them.
    func writeCheckpoint(_ store: CheckpointStore) {
        let started = monotonicSeconds()
        let watchConfigurations = configuration.watches
        let fingerprint = watchesFingerprint
        let (checkpoint, txCount) = shared.withLock { s -> (Checkpoint, Int) in
            let heldXA = s.shadow.heldXA.byXID.sorted { $0.key < $1.key }.map { xid, h in
                CheckpointHeldXA(
                    xid: xid, preparedAt: h.preparedAt, timestamp: h.timestamp,
                    changes: h.changes.map { CheckpointHeldChange(watch: watchConfigurations[$0.watch].name, key: $0.key, new: $0.new) })
            }
            var watches: [CheckpointWatch] = []
            for (i, w) in watchConfigurations.enumerated() {
                let snap = s.shadow.maps[i].beginSnapshot()
                let schema = CheckpointWatchSchema(
                    name: w.name, table: w.qualifiedTable,
                    keyColumns: w.keyColumns.map { CheckpointColumn(name: $0, type: "") },
                    valueColumn: CheckpointColumn(name: w.valueColumn, type: ""),
                    schemaSince: CheckpointPosition(file: s.shadow.schemas[i]?.since?.file ?? s.shadow.position.file, position: s.shadow.schemas[i]?.since?.position ?? s.shadow.position.position))
                watches.append(CheckpointWatch(schema: schema, map: snap))
            }
            let divergences = s.engine.openDivergences.compactMap { r -> CheckpointDivergence? in
                guard let w = watchConfigurations.firstIndex(where: { $0.name == r.watch }) else { return nil }
                guard let key = r.rowKey else { return nil }
                return CheckpointDivergence(
                    id: UInt64(truncatingIfNeeded: r.id.hashValue), watch: r.watch, key: key, redisKey: r.redisKey, kind: r.kind.rawValue,
                    firstSeenMillis: Int64(r.firstSeen * 1000), expected: r.expected, redisValue: r.redis,
                    lastAgreedGTID: r.lastAgreedGTID, lastAgreedMillis: r.lastAgreedAt.map { Int64($0 * 1000) })
            }
            let header = CheckpointHeader(
                createdMillis: Int64(Date().timeIntervalSince1970 * 1000),
                source: CheckpointSource(
                    flavour: s.sourceIdentity.flavour, serverID: s.sourceIdentity.serverID, serverUUID: s.sourceIdentity.serverUUID,
                    gtidDomains: s.sourceIdentity.flavour == .mariadb ? Array(s.shadow.gtid.mariadb.keys).sorted() : []),
                position: CheckpointPosition(file: s.shadow.position.file, position: s.shadow.position.position),
                gtidState: s.shadow.gtid.description, watchesFingerprint: fingerprint,
                schemaFingerprint: CheckpointFingerprint.schema(watches.map(\.schema)))
            return (Checkpoint(header: header, watches: watches, divergences: divergences, heldXA: heldXA), s.shadow.transactionsApplied)
        }
        let stall = monotonicSeconds() - started
        do {
            let result = try store.write(checkpoint)
            metrics.recordCheckpointWritten()
            health.setCheckpointFailing(false)
            logger.debug("checkpoint written", metadata: [
                "file": "\(result.file.path)", "position": "\(checkpoint.header.position)", "transactions": "\(txCount)",
                "xa_prepared": "\(checkpoint.heldXA.count)",
                "snapshot_ms": "\(Int(stall * 1000))", "ms": "\(Int((monotonicSeconds() - started) * 1000))",
            ])
        } catch {
            metrics.recordCheckpointFailure()
            health.setCheckpointFailing(true)
            logger.error("checkpoint failed; the previous one stays valid, retrying next interval", metadata: ["error": "\(error)"])
        }
        shared.withLock { s in
            for i in s.shadow.maps.indices { s.shadow.maps[i].endSnapshot() }
        }
    }

    /// Writes checkpoints every interval or every N transactions until shutdown, then once more.
    func checkpointLoop(_ store: CheckpointStore) {
        var lastAt = monotonicSeconds()
        var lastTx = shared.withLock { $0.shadow.transactionsApplied }
        while !shared.isStopping {
            Thread.sleep(forTimeInterval: 0.1)
            // Merge what was written during the last snapshot back, a slice at a time.
            let tx = shared.withLock { s -> Int in
                for i in s.shadow.maps.indices where s.shadow.maps[i].pendingOverlayCount > 0 { s.shadow.maps[i].mergeOverlay() }
                return s.shadow.transactionsApplied
            }
            let now = monotonicSeconds()
            if now - lastAt >= configuration.checkpoint.intervalSeconds || tx - lastTx >= configuration.checkpoint.everyTransactions {
                writeCheckpoint(store)
                lastAt = monotonicSeconds()
                lastTx = tx
            }
        }
    }
}
