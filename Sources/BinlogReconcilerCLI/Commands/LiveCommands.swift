import ArgumentParser
import BinlogParser
import BinlogReconciler
import Dispatch
import Foundation
import Logging

/// Options shared by the commands that talk to the servers.
struct ConfigOptions: ParsableArguments {
    @Option(name: .long, help: "The TOML configuration file (docs/configuration.md).")
    var config: String

    @Option(name: .long, help: "Log level: trace, debug, info, notice, warning, error (default: the file's [log] level).")
    var logLevel: String?

    func load() throws -> ReconcilerConfiguration {
        do {
            return try ReconcilerConfiguration.load(path: config, environment: ProcessInfo.processInfo.environment)
        } catch {
            printError("binlog-reconciler: \(error.description)")
            throw ExitCode(2)
        }
    }

    func logger(_ c: ReconcilerConfiguration) -> Logger { standardErrorLogger(label: "binlog-reconciler", level: logLevel ?? c.logLevel) }
}

/// Bootstraps swift-log to stderr at `level` (a name; unknown names mean info) and returns a logger.
func standardErrorLogger(label: String, level name: String) -> Logger {
    let level = Logger.Level(rawValue: name) ?? .info
    LoggingSystem.bootstrap { label in
        var h = StreamLogHandler.standardError(label: label)
        h.logLevel = level
        return h
    }
    var l = Logger(label: label)
    l.logLevel = level
    return l
}

struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run the sidecar: bootstrap, tail the binlog, and reconcile Redis continuously.",
        discussion: """
            Report records (JSON lines) go to stdout or [reconcile] report; logs to stderr.
            Stops cleanly on SIGTERM/SIGINT.

            Example:
              BR_MYSQL_PASSWORD=... binlog-reconciler run --config /etc/binlog-reconciler.toml
            """)

    @OptionGroup var options: ConfigOptions
    @Flag(help: "Discard saved state and bootstrap again.") var rebootstrap = false
    @Flag(help: "Repair confirmed divergences with compare-and-set (overrides the file).") var repair = false
    @Flag(name: .customLong("dry-run"), help: "With --repair: log what would be repaired, write nothing.") var dryRun = false
    @Option(help: .hidden) var appliedLog: String?
    @Flag(help: "Use keyspace notifications and turn them on in Redis (CONFIG SET notify-keyspace-events) when they are off, at start and after every reconnect.")
    var enableKeyspaceEvents = false

    func run() throws {
        var config = try options.load()
        if repair { config.reconcile.repair = true }
        if dryRun { config.reconcile.repairDryRun = true }
        if enableKeyspaceEvents {
            config.redis.notifications = .keyspace
            config.redis.enableKeyspaceEvents = true
        }
        let logger = options.logger(config)
        try Preflight.require(config, logger: logger)
        var o = ReconcilerDaemon.Options()
        o.rebootstrap = rebootstrap
        let daemon = ReconcilerDaemon(configuration: config, options: o, sink: try ReportSink(path: config.reconcile.report), logger: logger)
        // Benchmarking aid (scripts/flash-sale): "GTID wall-clock-seconds" of every applied
        // transaction, to join with the writer's commit times for the apply lag.
        var appliedSink: SharedOutputSink?
        if let appliedLog {
            let fd = open(appliedLog, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
            guard fd >= 0 else { throw ValidationError("--applied-log \(appliedLog): cannot open it") }
            let sink = SharedOutputSink(fd: fd)
            appliedSink = sink
            daemon.onApplied = { tx, _ in
                let line = "\(tx.gtid ?? "-") \(String(format: "%.6f", Date().timeIntervalSince1970))"
                sink.writeLine(Array(line.utf8))
            }
        }
        defer { appliedSink?.flush() }
        let signals = Signals.install { logger.notice("shutting down"); daemon.requestShutdown() }
        defer { _ = signals }
        do {
            _ = try daemon.run()
            logger.notice("stopped")
        } catch {
            logger.critical("stopped: \(error)")
            throw ExitCode(2)
        }
    }
}

struct CheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Bootstrap, tail to the current end of the binlog, sweep, decide every key, print the report and exit.",
        discussion: "Exit status: 0 consistent, 1 divergences found, 2 operational error.")

    @OptionGroup var options: ConfigOptions
    @Option(help: "Give up after this many seconds.") var timeout: Double = 120
    @Flag(help: "Also repair confirmed divergences with compare-and-set. `check` never repairs without this flag, whatever the file's [reconcile] repair says.")
    var repair = false
    @Flag(name: .customLong("dry-run"), help: "With --repair: log what would be repaired, write nothing.") var dryRun = false

    func run() throws {
        var config = try options.load()
        if config.reconcile.repair && !repair {
            printError("binlog-reconciler: check does not repair without --repair ([reconcile] repair = true applies to run only)")
        }
        config.reconcile.repair = repair
        config.reconcile.repairDryRun = dryRun || (repair && config.reconcile.repairDryRun)
        if dryRun && !repair { throw ValidationError("--dry-run needs --repair") }
        let logger = options.logger(config)
        try Preflight.require(config, logger: logger)
        var o = ReconcilerDaemon.Options()
        o.checkOnce = true
        o.checkTimeoutSeconds = timeout
        // The sweep's progress on a terminal; never in a pipe or a log.
        o.showProgress = isatty(2) == 1
        let daemon = ReconcilerDaemon(configuration: config, options: o, sink: try ReportSink(path: config.reconcile.report), logger: logger)
        let outcome: ReconcilerDaemon.Outcome
        do { outcome = try daemon.run() } catch {
            logger.critical("check failed: \(error)")
            throw ExitCode(2)
        }
        logger.notice("check done", metadata: ["keys_read": "\(outcome.keysChecked)", "divergences": "\(outcome.divergencesReported)", "open": "\(outcome.divergencesOpen)"])
        if outcome.divergencesOpen > 0 { throw ExitCode(1) }
    }
}

struct DoctorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "doctor",
        abstract: "Check what the source and Redis must provide; print each problem with the statement that fixes it.",
        discussion: "Exit status: 0 when nothing is an error (warnings allowed), 1 otherwise.")

    @OptionGroup var options: ConfigOptions
    @Flag(help: "Print JSON lines instead of text.") var json = false

    func run() throws {
        let config = try options.load()
        let findings = Doctor(configuration: config).run()
        if json {
            let out = OutputSink.standardOutput()
            for f in findings {
                var w = JSONWriter()
                w.beginObject()
                w.field("check", f.check)
                w.field("severity", f.severity.rawValue)
                w.field("detail", f.detail)
                w.key("fix")
                if let fix = f.fix { w.string(fix) } else { w.null() }
                w.endObject()
                out.writeLine(&w)
            }
            out.flush()
        } else {
            for f in findings {
                let mark = f.severity == .ok ? "ok  " : f.severity == .warning ? "WARN" : "FAIL"
                print("\(mark) \(f.check): \(f.detail)")
                if let fix = f.fix, f.severity != .ok { print("     fix: \(fix)") }
            }
            let errors = findings.filter { $0.severity == .error }.count
            let warnings = findings.filter { $0.severity == .warning }.count
            print(errors == 0 ? "\nready (\(warnings) warning\(warnings == 1 ? "" : "s"))" : "\n\(errors) problem\(errors == 1 ? "" : "s") to fix before `run`")
        }
        if !Doctor.passes(findings) { throw ExitCode(1) }
    }
}

enum Preflight {
    /// The doctor's checks at start: errors refuse to run, warnings are logged.
    static func require(_ config: ReconcilerConfiguration, logger: Logger) throws {
        let findings = Doctor(configuration: config).run()
        for f in findings where f.severity == .warning { logger.warning("\(f.check): \(f.detail)", metadata: f.fix.map { ["fix": "\($0)"] } ?? [:]) }
        let errors = findings.filter { $0.severity == .error }
        for f in errors { logger.error("\(f.check): \(f.detail)", metadata: f.fix.map { ["fix": "\($0)"] } ?? [:]) }
        if !errors.isEmpty {
            logger.critical("refusing to start: run `binlog-reconciler doctor --config ...` for the fixes")
            throw ExitCode(2)
        }
    }
}

/// SIGTERM/SIGINT handling through Dispatch.
enum Signals {
    static func install(_ handler: @escaping @Sendable () -> Void) -> [any DispatchSourceSignal] {
        var sources: [any DispatchSourceSignal] = []
        for sig in [SIGTERM, SIGINT] {
            signal(sig, SIG_IGN)
            let s = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            s.setEventHandler(handler: handler)
            s.resume()
            sources.append(s)
        }
        return sources
    }
}
