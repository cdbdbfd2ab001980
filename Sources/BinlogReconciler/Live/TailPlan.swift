import BinlogParser

/// The binlog tail's reconnect, resume and GTID-fallback decisions, as a pure state machine: its
/// inputs are what opening or reading the stream gave (an error and its kind, the server now
/// serving the dump), the applied position and GTID state; its outputs say where to open, how
/// long to back off, or why to stop. The daemon's tail loop only carries them out (and logs), so
/// every rule is tested without servers (`TailPlanTests`).
struct TailPlan: Sendable {
    /// MySQL: the checkpoint resumes by executed GTID set (COM_BINLOG_DUMP_GTID).
    let resumeByMySQLGTID: Bool
    /// MariaDB: resume by GTID state rather than file and position (the position was purged, or
    /// the source is another server after a failover).
    private(set) var byMariaDBGTID = false
    /// Reconnect attempts since the stream last opened.
    private(set) var attempt = 0

    /// Longest back-off between reconnect attempts, seconds.
    static let maxBackOff = 30.0

    init(resumeByMySQLGTID: Bool) { self.resumeByMySQLGTID = resumeByMySQLGTID }

    enum Decision: Sendable, Equatable {
        /// Tail the opened stream.
        case proceed
        /// Tail it: the source is another server, followed by GTID (refresh its identity).
        case followNewServer(previous: UInt32, now: UInt32)
        /// Open again now, by GTID (the plan changed; `reason` is for the log, `serverID` the new
        /// server's, after a failover).
        case reopenByGTID(reason: String, serverID: String? = nil)
        /// Reconnect after at most `seconds` (the caller adds jitter), from the last commit.
        case backOff(seconds: Double, attempt: Int)
        /// Shutdown was requested: end quietly.
        case finish
        /// Stop the tail with this message (nothing the sidecar can do by itself).
        case stop(String)
    }

    /// Where to open the stream from the applied position and GTID state.
    func startPoint(position: BinlogCoordinates, gtid: GTIDState) -> ReplicationStartPoint {
        if resumeByMySQLGTID, let set = gtid.mysqlSet { return .mysqlGTID(set) }
        return byMariaDBGTID ? .mariadbGTID(gtid.description) : .filePosition(file: position.file, position: position.position)
    }

    /// Whether the current plan follows the source by GTID (a failover keeps it valid).
    func followsByGTID(gtid: GTIDState) -> Bool { byMariaDBGTID || (resumeByMySQLGTID && gtid.mysqlSet != nil) }

    /// Opening the stream failed.
    mutating func openFailed(_ e: ReplicationError, position: BinlogCoordinates, gtid: GTIDState, stopping: Bool) -> Decision {
        // The server is down or restarting: retry with backoff like a lost stream.
        if e.kind == .connect, e.sqlError?.isConnectionError == true {
            return lost(position: position, stopping: stopping)
        }
        guard e.kind == .binlogUnavailable else { return stopping ? .finish : .stop(Self.message(for: e)) }
        // The position is gone (purged, or another server after a failover): the same GTID
        // domain can still serve the transactions after our GTID state.
        guard !byMariaDBGTID, !gtid.mariadb.isEmpty else {
            return .stop("the source cannot serve position \(position)\(gtid.isEmpty ? "" : " nor GTID \(gtid)"): \(e.message). Start with --rebootstrap to discard the saved state and read the tables again")
        }
        byMariaDBGTID = true
        return .reopenByGTID(reason: "position not available on the source")
    }

    /// The stream opened on the server `serverID`; `knownServerID` is the source the state was
    /// read from.
    mutating func opened(serverID: UInt32, knownServerID: UInt32, flavor: ServerFlavor, position: BinlogCoordinates, gtid: GTIDState) -> Decision {
        guard serverID != knownServerID else {
            attempt = 0
            return .proceed
        }
        // A reconnect can reach another server (a failover behind the same address): a binlog
        // position names other events there, only a GTID resume is valid.
        if followsByGTID(gtid: gtid) {
            attempt = 0
            return .followNewServer(previous: knownServerID, now: serverID)
        }
        guard flavor == .mariadb, !gtid.mariadb.isEmpty else {
            return .stop(
                "the source is another server now (server_id \(knownServerID) → \(serverID)) and position \(position) names other events there; "
                    + "following it needs a GTID state (MariaDB) or gtid_mode=ON (MySQL). Start with --rebootstrap to discard the saved state and read the tables again")
        }
        byMariaDBGTID = true
        return .reopenByGTID(reason: "the source is another server now", serverID: "\(knownServerID) → \(serverID)")
    }

    /// Reading the stream failed (`error` is what the read, decode or apply threw).
    mutating func streamFailed(_ error: any Error, position: BinlogCoordinates, gtid: GTIDState, stopping: Bool) -> Decision {
        if stopping { return .finish }
        guard let e = error as? ReplicationError else { return .stop("\(error)") }
        if e.kind == .binlogUnavailable, !byMariaDBGTID, !gtid.mariadb.isEmpty {
            byMariaDBGTID = true
            return .reopenByGTID(reason: "position not available on the source")
        }
        if e.isRecoverable { return lost(position: position, stopping: stopping) }
        return .stop(Self.message(for: e))
    }

    /// The connection was lost: back off, then reconnect from the last commit. A GTID resume is
    /// kept only while no transaction has given a file position yet.
    private mutating func lost(position: BinlogCoordinates, stopping: Bool) -> Decision {
        if stopping { return .finish }
        byMariaDBGTID = byMariaDBGTID && position.file.isEmpty
        attempt += 1
        let delay = min(Self.maxBackOff, 0.2 * Double(1 << min(attempt, 8)))
        return .backOff(seconds: delay, attempt: attempt)
    }

    static func message(for e: ReplicationError) -> String {
        var message = "\(e)"
        if e.kind == .binlogUnavailable {
            message += " — start with --rebootstrap to discard the saved state and read the tables again"
        }
        return message
    }
}
