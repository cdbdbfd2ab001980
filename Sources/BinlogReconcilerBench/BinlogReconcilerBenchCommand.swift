import ArgumentParser
import BinlogReconciler

/// The benchmarks of scripts/bench-* and docs/benchmarks.md, a separate executable so that they
/// do not ship in `binlog-reconciler`.
@main
struct BinlogReconcilerBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "binlog-reconciler-bench",
        abstract: "Benchmarks of binlog-reconciler's hot paths (for scripts/bench-* and docs/benchmarks.md).",
        version: BinlogReconcilerVersion.string,
        subcommands: [
            BenchReplicationCommand.self, BenchCheckpointCommand.self, BenchApplyLagCommand.self,
            BenchApplyCheck.self, BenchRedisSweepCommand.self, BenchSlotFilterCommand.self,
        ]
    )
}
