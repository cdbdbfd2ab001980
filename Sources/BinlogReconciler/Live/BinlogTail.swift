import BinlogFold
import BinlogParser
import Foundation
import Logging

/// The binlog tail: opens the replication stream where ``TailPlan`` says, reads it through the
/// one event source, folds every event into the shadow maps (under the shared lock) and tells the
/// verdict engine what committed; reconnects, resumes and follows failovers as the plan decides.
/// Runs on its own thread (blocking libmariadb reads); a second thread polls the source's position
/// for the caught-up gate.
final class BinlogTail: Sendable {
    let configuration: ReconcilerConfiguration
    let source: SourceConfiguration
    /// `check`: stop at the current end of the binlog.
    let stopAtEnd: Bool
    /// A MySQL checkpoint resumed by executed GTID set: every (re)connection starts with
    /// COM_BINLOG_DUMP_GTID from the current set.
    let resumeByMySQLGTID: Bool
    let shared: LiveShared
    let logger: Logger
    let metrics: ReconcilerMetrics
    let health: HealthState
    let onApplied: (@Sendable (CommittedTransaction, Double) -> Void)?

    init(
        configuration: ReconcilerConfiguration, source: SourceConfiguration, stopAtEnd: Bool, resumeByMySQLGTID: Bool, shared: LiveShared,
        logger: Logger, metrics: ReconcilerMetrics, health: HealthState, onApplied: (@Sendable (CommittedTransaction, Double) -> Void)?
    ) {
        self.configuration = configuration
        self.source = source
        self.stopAtEnd = stopAtEnd
        self.resumeByMySQLGTID = resumeByMySQLGTID
        self.shared = shared
        self.logger = logger
        self.metrics = metrics
        self.health = health
        self.onApplied = onApplied
    }

    /// Tails until shutdown, the end of the binlog (`check`), or a stop the plan decides.
    func run() {
        let config = source
        var assembler = TransactionAssembler(watches: configuration.watches) { db, table in
            let conn = try SQLConnection(configuration: config)
            return try Bootstrap.schema(conn, database: db, table: table)?.names
        }
        let log = logger
        assembler.onWarning = { message, details in
            log.warning("\(message)", metadata: details.mapValues { Logger.MetadataValue.string($0) })
        }
        // Where to open, when to back off and when to stop: `TailPlan` decides; this loop opens,
        // reads, applies and logs.
        var plan = TailPlan(resumeByMySQLGTID: resumeByMySQLGTID)
        var lostSince: Double?
        /// Carries out a decision other than tailing; false ends the tail.
        func carryOut(_ d: TailPlan.Decision, error: (any Error)?, from start: BinlogCoordinates, gtid: GTIDState) -> Bool {
            switch d {
            case .proceed, .followNewServer:
                return true
            case .reopenByGTID(let reason, let serverID):
                assembler.abandonTransaction()
                var metadata: Logger.Metadata = ["position": "\(start)", "gtid": "\(gtid)"]
                if let serverID { metadata["server_id"] = "\(serverID)" }
                logger.warning("\(reason); resuming by GTID", metadata: metadata)
                return true
            case .backOff(let seconds, let attempt):
                assembler.abandonTransaction()
                if lostSince == nil { lostSince = monotonicSeconds() }
                let delay = seconds * Double.random(in: 0.5...1.0)
                logger.warning("binlog connection lost; reconnecting from the last commit", metadata: [
                    "error": "\(error.map { "\($0)" } ?? "?")", "retry_in": "\(Int(delay * 1000)) ms", "attempt": "\(attempt)",
                    "from": "\(start)",
                ])
                shared.withLock { $0.wasCaughtUp = false; $0.catchUpSweepNeeded = true }
                Thread.sleep(forTimeInterval: delay)
                return true
            case .finish:
                return false
            case .stop(let message):
                logger.critical("binlog tail stopped", metadata: ["error": "\(message)"])
                shared.withLock { $0.tailError = TailStopped(message: message, cause: error) }
                return false
            }
        }
        tail: while !shared.isStopping {
            let (start, gtid) = shared.withLock { ($0.shadow.position, $0.shadow.gtid) }
            var streamOptions = ReplicationStream.Options()
            streamOptions.stopAtEnd = stopAtEnd
            let point = plan.startPoint(position: start, gtid: gtid)
            let s: ReplicationStream
            do throws(ReplicationError) {
                s = try ReplicationStream(configuration: config, start: point, options: streamOptions, logger: logger)
            } catch {
                if carryOut(plan.openFailed(error, position: start, gtid: gtid, stopping: shared.isStopping), error: error, from: start, gtid: gtid) { continue }
                break
            }
            let known = shared.withLock { $0.sourceIdentity }
            let attempts = plan.attempt
            switch plan.opened(serverID: s.sourceServerID, knownServerID: known.serverID, flavor: s.flavor, position: start, gtid: gtid) {
            case .proceed:
                break
            case .followNewServer(let previous, let now):
                let identity = (try? SQLConnection(configuration: config)).flatMap { try? ReconcilerDaemon.identify($0) }
                    ?? CheckpointSource(flavour: known.flavour, serverID: now)
                shared.withLock { $0.sourceIdentity = identity }
                logger.notice("the source is another server now; following it by GTID", metadata: [
                    "server_id": "\(previous) → \(now)", "gtid": "\(gtid)",
                ])
            case let other:
                s.close()
                if carryOut(other, error: nil, from: start, gtid: gtid) { continue }
                break tail
            }
            let interrupt = s.interruptHandle
            if shared.withLock({ $0.streamInterrupt = interrupt; return $0.stopping }) { interrupt.interrupt() }
            logger.info("tailing the binlog", metadata: ["from": "\(point)", "source_server_id": "\(s.sourceServerID)"])
            if let since = lostSince {
                metrics.recordReconnect(.source)
                logger.notice("reconnected to the source", metadata: [
                    "from": "\(point)", "attempts": "\(attempts)", "down_ms": "\(Int((monotonicSeconds() - since) * 1000))",
                ])
                lostSince = nil
            }
            do {
                // One event source: each event decoded once and located (file, end); the events
                // inside a TRANSACTION_PAYLOAD (MySQL 8.0.20+ binlog_transaction_compression), XID
                // included, each at the payload's end, the last of them reaching it.
                var decoder = BinlogEventDecoder()
                decoder.checksumBeforeFormatDescription = s.checksumAlgorithm
                var events = BinlogEventSource(provider: StreamRawEvents(stream: s), decoder: decoder)
                // A decoding error keeps its type (`BinlogDecodingError`: file, offset, event) up to
                // the plan, and the stop carries it.
                while let e = try events.next() {
                    if e.inPayload == nil { health.recordBinlogEvent() }
                    try apply(e.event, end: BinlogCoordinates(file: e.file, position: e.end), inFile: e.reachesEnd, assembler: &assembler)
                    if shared.isStopping && !events.isInsidePayload { break }
                }
                shared.withLock { $0.streamInterrupt = nil }
                if stopAtEnd { break }
            } catch {
                shared.withLock { $0.streamInterrupt = nil }
                let now = shared.withLock { $0.shadow.position }
                if carryOut(plan.streamFailed(error, position: now, gtid: gtid, stopping: shared.isStopping), error: error, from: now, gtid: gtid) { continue }
                break
            }
        }
        shared.withLock {
            $0.tailFinished = true
            $0.streamInterrupt = nil
        }
    }

    /// One decoded event through the fold, under the lock; the engine hears of committed changes
    /// and of the values XA transactions hold while prepared.
    func apply(_ event: BinlogEvent, end: BinlogCoordinates, inFile: Bool, assembler: inout TransactionAssembler) throws {
        let now = monotonicSeconds()
        let committed = try shared.withLock { s throws -> CommittedTransaction? in
            if inFile { s.lastEventEnd = end }
            let tx = try assembler.consume(event, end: end, state: &s.shadow)
            if let tx {
                if !tx.changes.isEmpty { s.engine.noteCommit(tx, at: now) }
                switch tx.xa {
                case .prepared(let xid, let changes)?: s.engine.noteHeld(xid: xid, changes: changes)
                case .committed(let xid)?: s.engine.releaseHeld(xid: xid, at: now)
                case .rolledBack(let xid)?: s.engine.releaseHeld(xid: xid, at: now, rolledBack: true)
                case nil: break
                }
                if tx.timestamp > 0 { s.lastCommitTimestamp = tx.timestamp }
            }
            s.inTransaction = assembler.isInTransaction
            return tx
        }
        if let tx = committed {
            onApplied?(tx, monotonicSeconds())
            let lag = tx.timestamp > 0 ? max(0, Date().timeIntervalSince1970 - Double(tx.timestamp)) : nil
            metrics.recordTransactionApplied(events: 1, rows: tx.changes.count, applyLag: lag)
            metrics.setBinlogPosition(tx.end)
        }
    }

    /// Polls the source's binlog position every 200 ms: the caught-up gate compares it with what
    /// was applied.
    func pollSource() {
        var conn: SQLConnection?
        while !shared.isStopping {
            do {
                if conn == nil { conn = try SQLConnection(configuration: source) }
                if let c = conn, let row = try c.query(c.flavor.binlogStatusStatement(version: c.serverVersion)).first, let f = row[0] ?? nil, let p = row[1] ?? nil, let pos = UInt64(p) {
                    let now = monotonicSeconds()
                    shared.withLock {
                        $0.sourcePosition = BinlogCoordinates(file: f, position: pos)
                        $0.sourcePolledAt = now
                    }
                }
            } catch {
                conn = nil
            }
            Thread.sleep(forTimeInterval: 0.2)
        }
    }
}
