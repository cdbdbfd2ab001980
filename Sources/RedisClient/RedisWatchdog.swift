import ReconcilerCore
import ConcurrencyKit
import Logging
import Synchronization

/// What a `RedisWatchdog` noticed.
public enum RedisWatchdogEvent: Sendable, Equatable {
    /// The first successful poll: the server's `run_id` and the key count of the database.
    case connected(runID: String, keys: Int)
    /// A poll failed (connection refused, lost or timed out). Repeats are not reported until the
    /// watchdog has reconnected.
    case connectionLost(String)
    /// A poll succeeded again after `.connectionLost`. `previousRunID` differs from `runID` when
    /// the server restarted (a new process).
    case reconnected(runID: String, previousRunID: String, keys: Int, keysBefore: Int)
    /// The same server (same `run_id`) answered with less than half the keys of the previous poll
    /// (a `FLUSHALL`/`FLUSHDB`, or a mass eviction).
    case keysDropped(from: Int, to: Int)
}

/// Polls `INFO server` and `INFO keyspace` on a connection of its own, every `interval`
/// (250 ms by default), so that a Redis restart (connection loss, a changed `run_id`) or a flush
/// (the key count of the configured database falling by more than half between two polls) is
/// noticed within a second whatever the notification mode. Events are delivered on the
/// watchdog's thread.
public final class RedisWatchdog: Sendable {
    public let configuration: RedisConfiguration
    public let interval: Double
    private let handler: @Sendable (RedisWatchdogEvent) -> Void
    /// Called on the watchdog's thread after every (re)connection, before the first poll's event,
    /// with the watchdog's connection (e.g. to check `notify-keyspace-events`), and once every
    /// `maintenanceInterval` seconds while connected.
    private let onConnect: @Sendable (RedisConnection, _ reconnected: Bool) -> Void
    public let maintenanceInterval: Double
    private let stopSignal = StopSignal()
    private let thread = Mutex<JoinableThread?>(nil)

    public init(
        configuration: RedisConfiguration, interval: Double = 0.25, maintenanceInterval: Double = 5,
        onConnect: @escaping @Sendable (RedisConnection, Bool) -> Void = { _, _ in },
        handler: @escaping @Sendable (RedisWatchdogEvent) -> Void
    ) {
        var c = configuration
        // A hung server must be noticed within a second too.
        c.commandTimeout = .milliseconds(Int64(min(1000, max(100, interval * 4000))))
        c.connectTimeout = min(c.connectTimeout, .seconds(1))
        self.configuration = c
        self.interval = interval
        self.maintenanceInterval = maintenanceInterval
        self.onConnect = onConnect
        self.handler = handler
    }

    /// Starts polling on a thread of its own; false when the system refused the thread (the
    /// watchdog then does not run).
    @discardableResult
    public func start() -> Bool {
        do {
            let t = try JoinableThread(name: "redis-watchdog") { [self] in loop() }
            thread.withLock { $0 = t }
            return true
        } catch {
            return false
        }
    }

    /// Stops the loop and waits for it (at most one poll: the wait between polls ends at once).
    public func stop() {
        stopSignal.stop()
        thread.withLock { $0 }?.join()
    }

    /// `run_id` and `db<N>:keys=` of an INFO text.
    package static func parse(server: String, keyspace: String, database: Int) -> (runID: String, keys: Int)? {
        var runID: String?
        for line in server.split(whereSeparator: \.isNewline) where line.hasPrefix("run_id:") {
            runID = String(line.dropFirst(7))
        }
        guard let runID else { return nil }
        var keys = 0
        let prefix = "db\(database):"
        for line in keyspace.split(whereSeparator: \.isNewline) where line.hasPrefix(prefix) {
            for part in line.dropFirst(prefix.count).split(separator: ",") where part.hasPrefix("keys=") {
                keys = Int(part.dropFirst(5)) ?? 0
            }
        }
        return (runID, keys)
    }

    private func loop() {
        var conn: RedisConnection?
        var runID: String?
        var keys = 0
        var lost = false
        var lastMaintenance = monotonicSeconds()
        while !stopSignal.isStopped {
            let started = monotonicSeconds()
            do {
                var reconnected = false
                if conn == nil || conn?.isConnected == false {
                    conn = try RedisConnection(configuration: configuration)
                    reconnected = true
                }
                guard let c = conn else { continue }
                if reconnected {
                    onConnect(c, runID != nil)
                    lastMaintenance = monotonicSeconds()
                } else if monotonicSeconds() - lastMaintenance >= maintenanceInterval {
                    onConnect(c, false)
                    lastMaintenance = monotonicSeconds()
                }
                let replies = try c.pipeline([["INFO", "server"], ["INFO", "keyspace"]])
                guard replies.count == 2, let server = replies[0].string, let keyspace = replies[1].string,
                    let info = Self.parse(server: server, keyspace: keyspace, database: configuration.database)
                else { throw RedisError(.protocol, "INFO at \(configuration.endpoint): no run_id in the reply") }
                if let previous = runID {
                    if lost {
                        handler(.reconnected(runID: info.runID, previousRunID: previous, keys: info.keys, keysBefore: keys))
                    } else if previous != info.runID {
                        // Restarted between two polls without us seeing the socket close.
                        handler(.reconnected(runID: info.runID, previousRunID: previous, keys: info.keys, keysBefore: keys))
                    } else if keys >= 2 && info.keys * 2 < keys {
                        handler(.keysDropped(from: keys, to: info.keys))
                    }
                } else {
                    handler(.connected(runID: info.runID, keys: info.keys))
                }
                lost = false
                runID = info.runID
                keys = info.keys
            } catch {
                conn?.close()
                conn = nil
                if !lost && runID != nil && !stopSignal.isStopped {
                    lost = true
                    handler(.connectionLost("\(error)"))
                }
            }
            let wait = interval - (monotonicSeconds() - started)
            if wait > 0 { stopSignal.sleep(.nanoseconds(Int64(wait * 1e9))) }
        }
    }
}
