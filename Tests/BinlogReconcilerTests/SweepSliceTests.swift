import Testing

@testable import BinlogReconciler
@testable import ReconcilerCore
@testable import RedisClient

extension RedisTests {
    /// A sweep's slice: one pipeline that stops sending at its deadline, and the key order.
    @Suite struct SweepSlice {
        @Test(arguments: [(1, 1), (3, 2), (4, 8)] as [(Int, Int)])
        func readValueBatchesStopsSendingAndReadsWhatIsInFlight(batch: Int, depth: Int) throws {
            guard let c = RedisTestEnv.connect() else { return }
            let p = RedisTestEnv.uniquePrefix("slice")
            let keys = (0..<40).map { "\(p)\($0)" }
            defer { _ = try? c.command(["DEL"] + keys) }
            _ = try c.pipeline(keys.enumerated().filter { $0.offset % 5 != 0 }.map { ["SET", $0.element, "v\($0.offset)"] })
            // The first question comes with the first reply: the batches sent until then are read.
            var asked = 0
            var seen: [(index: Int, value: String?)] = []
            let read = try c.readValueBatches(.strings, count: keys.count, batchSize: batch, pipelineDepth: depth, keepSending: {
                asked += 1
                return asked < 2
            }) { i, frame in
                frame.appendArgument(keys[i])
            } visit: { values in
                for j in 0..<values.count {
                    seen.append((values.first + j, values[j].map { String(decoding: $0, as: UTF8.self) }))
                }
            }
            #expect(read == min(keys.count, batch * (depth + 1)))
            #expect(asked == 2)
            #expect(seen.map(\.index) == Array(0..<read))
            for (i, value) in seen { #expect(value == (i % 5 == 0 ? nil : "v\(i)")) }
            // Nothing is left in flight: the connection answers the next command in order.
            #expect(try c.command(["PING"]) == .status("PONG"))
            #expect(try c.mget(keys: [keys[1]]) == ["v1"])
            // Without a stop, everything is read.
            let all = try c.readValueBatches(.strings, count: keys.count, batchSize: batch, pipelineDepth: depth) { i, frame in
                frame.appendArgument(keys[i])
            } visit: { _ in }
            #expect(all == keys.count)
        }
    }
}

@Suite struct SweepKeyOrder {
    @Test(arguments: [
        [] as [Int64], [7], [3, 1, 2], [10, -5, 0, 64, 63, 65, -64, 1_000],
        (1...5_000).map { Int64($0) }.shuffled(),
        (0..<3_000).map { Int64($0) * 37 - 40_000 }.shuffled(),
        [Int64.min, Int64.max, 0, -1, 1],
        [Int64.max, Int64.max - 1, Int64.max - 63, Int64.max - 64],
        [Int64.min, Int64.min + 1, Int64.min + 64],
    ])
    func sortUniqueSortsDistinctKeysDenseOrSparse(_ keys: [Int64]) {
        var a = keys
        Reconciler.sortUnique(&a)
        #expect(a == keys.sorted())
    }
}
