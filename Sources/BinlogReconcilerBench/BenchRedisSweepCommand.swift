import ArgumentParser
import BinlogReconciler

/// `binlog-reconciler-bench redis-sweep`, used by `scripts/bench-redis-sweep`.
struct BenchRedisSweepCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "redis-sweep",
        abstract: "Time the pipelined MGET sweep over product:1..N:stock; print one JSON line.",
        discussion: """
            The key names are built before the clock starts (the C baseline does the same), and
            timed separately as key_build_seconds. --mode strings times mget(keys:) -> [String?];
            --mode visit times the allocation-free visitor form. found/sum (count of present keys,
            sum of their integer values) let the result be checked against the C baseline.

            Example:
              binlog-reconciler-bench redis-sweep --port 26381 --keys 1000000 --batch 1000
            """
    )

    @Option(help: "Redis host.")
    var host = "127.0.0.1"

    @Option(help: "Redis port.")
    var port = 6379

    @Option(help: "Number of keys: product:1:stock ... product:N:stock.")
    var keys = 1_000_000

    @Option(help: "Keys per MGET.")
    var batch = 1000

    @Option(help: "MGETs in flight.")
    var depth = 8

    @Option(help: "strings (mget -> [String?]) or visit (mget visitor, no per-key String).")
    var mode = "strings"

    func validate() throws {
        guard keys > 0, batch > 0, depth > 0 else {
            throw ValidationError("--keys, --batch and --depth must be positive")
        }
        guard mode == "strings" || mode == "visit" else { throw ValidationError("--mode is strings or visit") }
    }

    func run() throws {
        let clock = ContinuousClock()
        let buildStart = clock.now
        var names: [String] = []
        names.reserveCapacity(keys)
        for i in 1...keys { names.append("product:\(i):stock") }
        let buildTime = clock.now - buildStart

        let connection = try RedisConnection(configuration: RedisConfiguration(host: host, port: port))
        var found = 0
        var sum = 0
        let elapsed: Duration
        switch mode {
        case "visit":
            let start = clock.now
            try connection.mget(keys: names, batchSize: batch, pipelineDepth: depth) { _, value in
                guard let value else { return }
                found += 1
                var v = 0
                for b in value { v = v &* 10 &+ Int(b &- 48) }
                sum &+= v
            }
            elapsed = clock.now - start
        default:
            let start = clock.now
            let values = try connection.mget(keys: names, batchSize: batch, pipelineDepth: depth)
            elapsed = clock.now - start  // the checksum below is not part of the sweep
            for v in values {
                if let v {
                    found += 1
                    sum &+= Int(v) ?? 0
                }
            }
        }
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
        let build = Double(buildTime.components.seconds) + Double(buildTime.components.attoseconds) * 1e-18
        let rate = Double(keys) / seconds
        print(
            #"{"bench":"redis-sweep","impl":"swift","mode":"\#(mode)","keys":\#(keys),"batch":\#(batch),"depth":\#(depth),"#
                + #""found":\#(found),"sum":\#(sum),"seconds":\#(fmt(seconds)),"keys_per_s":\#(Int(rate)),"key_build_seconds":\#(fmt(build))}"#
        )
    }

    private func fmt(_ x: Double) -> String {
        let micro = Int((x * 1_000_000).rounded())
        let frac = String(micro % 1_000_000)
        return "\(micro / 1_000_000)." + String(repeating: "0", count: 6 - frac.count) + frac
    }
}
