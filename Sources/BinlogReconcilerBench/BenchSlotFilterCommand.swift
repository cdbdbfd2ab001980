import ArgumentParser
import BinlogReconciler

/// `binlog-reconciler-bench slot-filter`: the cost of narrowing a sweep to some slots (after a
/// Redis Cluster node's incident) on N integer keys: each key name rendered and its CRC16 slot
/// looked up in the set. No Redis.
struct BenchSlotFilterCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "slot-filter",
        abstract: "Time the narrowed sweep's slot filter over ids 1..N; print one JSON line.",
        discussion: """
            The template is product:{id}:stock (or --template); the set holds the slots
            0...(--slots - 1), a third of the slots by default (one master of three).

            Example:
              binlog-reconciler-bench slot-filter --keys 1000000 --runs 5
            """
    )

    @Option(help: "Number of integer keys (ids 1...N).")
    var keys = 1_000_000

    @Option(help: "Slots in the set (0 ..< slots).")
    var slots = 5461

    @Option(help: "Key template.")
    var template = "product:{id}:stock"

    @Option(help: "Timed runs (the best and the median are printed).")
    var runs = 5

    func validate() throws {
        guard keys > 0, runs > 0, (1...16384).contains(slots) else { throw ValidationError("--keys, --runs > 0; --slots in 1...16384") }
    }

    func run() throws {
        let t = try RedisKeyTemplate(template, keyColumns: ["id"])
        let filter = SweepSlotFilter(template: t, slots: RedisClusterSlotSet([0...(slots - 1)]))
        let ids = (1...keys).map { Int64($0) }
        let clock = ContinuousClock()
        var times: [Double] = []
        var kept = 0
        for _ in 0..<runs {
            let start = clock.now
            kept = filter.keep(ids).count
            let d = clock.now - start
            times.append(Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18)
        }
        times.sort()
        print(
            #"{"bench":"slot-filter","keys":\#(keys),"slots":\#(slots),"kept":\#(kept),"runs":\#(runs),"#
                + #""best_seconds":\#(fmt(times[0])),"median_seconds":\#(fmt(times[times.count / 2])),"keys_per_s":\#(Int(Double(keys) / times[0]))}"#
        )
    }

    private func fmt(_ x: Double) -> String { String(Double(Int((x * 1e6).rounded())) / 1e6) }
}
