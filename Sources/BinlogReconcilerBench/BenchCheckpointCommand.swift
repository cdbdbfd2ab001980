import ArgumentParser
import BinlogParser
import BinlogReconciler
import Dispatch
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `binlog-reconciler-bench checkpoint`, the checkpoint benchmark (scripts/bench-checkpoint).
struct BenchCheckpointCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "checkpoint",
        abstract: "Benchmark checkpoint write/load, size and the apply stall of taking a snapshot.",
        discussion: """
            Builds one watch's shadow map of --keys integer keys with 3-digit values (sequential
            ids 1…N, or random 64-bit ids), then measures, printing one JSON line on stdout:
            the apply stall (beginSnapshot + the first 1000 mutations, against 1000 mutations
            without a snapshot and against a plain copy-on-write copy), write time (snapshot open,
            nothing else running), write time with mutations applied concurrently (and their worst
            1000-mutation batch), the overlay merge after it, load time, bytes per key, and peak
            extra memory (VmHWM − VmRSS before, from /proc/self/status). Run it in a release build.
            """
    )

    enum Mode: String, ExpressibleByArgument, CaseIterable { case sequential, sparse }

    @Option(help: "Number of keys.")
    var keys: Int = 10_000_000

    @Option(help: "sequential (ids 1…N) or sparse (random 64-bit ids).")
    var mode: Mode = .sequential

    @Option(help: "Directory for the checkpoint store (created; old checkpoints in it are replaced).")
    var dir: String

    @Option(help: "Also write the map as a sorted key,value CSV to this path (for comparing with zstd -3).")
    var csv: String?

    @Option(help: "zstd level.")
    var level: Int32 = 3

    @Option(help: "zstd worker threads (0: compress on the writing thread).")
    var workers: Int32 = 0

    @Option(name: .customLong("apply-rate"), help: "Mutations per second applied during the concurrent write.")
    var applyRate: Int = 200_000

    func run() throws {
        guard keys > 0 else { throw ValidationError("--keys must be positive") }
        var result = JSONWriter(capacity: 4096)
        result.beginObject()
        result.field("mode", mode.rawValue)
        result.field("keys", keys)

        // Build the map.
        let rssEmpty = memory().rss
        var t = monotonicSeconds()
        var map = ShadowMap()
        map.reserveCapacity(keys)
        var rng = Rng(seed: 1)
        var sample: [Int64] = []  // existing keys to mutate
        let sampleSize = 1 << 20  // distinct keys the mutations touch (a power of two)
        sample.reserveCapacity(sampleSize)
        switch mode {
        case .sequential:
            for i in 1...Int64(keys) { map[.int(i)] = .int(Int64(100 + rng.next() % 900)) }
            for _ in 0..<sampleSize { sample.append(Int64(1 + rng.next() % UInt64(keys))) }
        case .sparse:
            while map.count < keys {
                let k = Int64(bitPattern: rng.next())
                map[.int(k)] = .int(Int64(100 + rng.next() % 900))
                if sample.count < sampleSize { sample.append(k) }
            }
            let distinct = sample.count
            while sample.count < sampleSize { sample.append(sample[sample.count % distinct]) }
        }
        result.field("build_s", rounded(monotonicSeconds() - t))
        result.field("map_rss_mb", rounded(Double(memory().rss - rssEmpty) / 1e6))
        printError("bench-checkpoint: built \(keys) \(mode.rawValue) keys in \(rounded(monotonicSeconds() - t)) s")

        // Apply stall: beginSnapshot + 1000 mutations vs 1000 mutations, and vs a plain CoW copy.
        var cursor = 0
        func mutate(_ m: inout ShadowMap, _ n: Int) {
            for _ in 0..<n {
                let k = sample[cursor & (sample.count - 1)]
                cursor &+= 1
                m[.int(k)] = .int(Int64(cursor % 1000))
            }
        }
        var plain: [Double] = []
        for _ in 0..<5 {
            t = monotonicSeconds()
            mutate(&map, 1000)
            plain.append(monotonicSeconds() - t)
        }
        t = monotonicSeconds()
        var snap: ShadowMapSnapshot? = map.beginSnapshot()
        mutate(&map, 1000)
        let withSnapshot = monotonicSeconds() - t
        result.key("stall_ms")
        result.beginObject()
        result.field("mutations", 1000)
        result.key("without_snapshot")
        result.double(rounded((plain.min() ?? 0) * 1000, 4))
        result.key("begin_snapshot_plus_mutations")
        result.double(rounded(withSnapshot * 1000, 4))
        snap = nil
        map.endSnapshot(mergeLimit: Int.max)
        do {
            t = monotonicSeconds()
            var copy = map
            mutate(&copy, 1000)  // the copy's first write copies the whole table
            let cowStall = monotonicSeconds() - t
            result.key("naive_cow_copy_plus_mutations")
            result.double(rounded(cowStall * 1000, 2))
            _ = copy.count
        }
        result.endObject()

        // Overlay only (no writer thread): 200 batches of 1000 mutations while a snapshot is open.
        do {
            var held: ShadowMapSnapshot? = map.beginSnapshot()
            var worstOverlay = 0.0
            var worstOverlayCPU = 0.0
            for _ in 0..<200 {
                t = monotonicSeconds()
                let c = threadCPUSeconds()
                mutate(&map, 1000)
                let d = monotonicSeconds() - t
                if d > worstOverlay {
                    worstOverlay = d
                    worstOverlayCPU = threadCPUSeconds() - c
                }
            }
            held = nil
            _ = held
            var slices = 0
            var worstSlice = 0.0
            t = monotonicSeconds()
            var done = map.endSnapshot(mergeLimit: 0)
            let total = monotonicSeconds()
            while !done {
                let t1 = monotonicSeconds()
                done = map.mergeOverlay()
                worstSlice = max(worstSlice, monotonicSeconds() - t1)
                slices += 1
            }
            result.key("overlay_only")
            result.beginObject()
            result.field("mutations", 200_000)
            result.field("worst_batch_ms", rounded(worstOverlay * 1000, 3))
            result.field("worst_batch_cpu_ms", rounded(worstOverlayCPU * 1000, 3))
            result.field("merge_slices", slices)
            result.field("merge_worst_slice_ms", rounded(worstSlice * 1000, 3))
            result.field("merge_total_ms", rounded((monotonicSeconds() - total) * 1000, 3))
            result.endObject()
        }

        // Quiet write: snapshot open, nothing else running.
        var store = try CheckpointStore(directory: dir, keep: 2)
        store.compressionLevel = level
        store.compressionWorkers = workers
        let schema = CheckpointWatchSchema(
            name: "products",
            table: "shop.products",
            keyColumns: [CheckpointColumn(name: "id", type: "bigint")],
            valueColumn: CheckpointColumn(name: "stock", type: "int"),
            schemaSince: CheckpointPosition(file: "mysql-bin.000001", position: 4)
        )
        let header = CheckpointHeader(
            createdMillis: wallClockMillis(),
            source: CheckpointSource(flavour: .mariadb, serverID: 1, gtidDomains: [0]),
            position: CheckpointPosition(file: "mysql-bin.000001", position: 4),
            gtidState: "0-1-1",
            watchesFingerprint: CheckpointFingerprint.of(["products"]),
            schemaFingerprint: CheckpointFingerprint.schema([schema])
        )
        resetPeak()
        var before = memory().rss
        snap = map.beginSnapshot()
        t = monotonicSeconds()
        let written = try store.write(
            Checkpoint(header: header, watches: [CheckpointWatch(schema: schema, map: snap!)])
        )
        let writeSeconds = monotonicSeconds() - t
        let writePeak = memory().hwm - before
        snap = nil
        map.endSnapshot(mergeLimit: Int.max)
        result.field("write_s", rounded(writeSeconds))
        result.field("write_peak_extra_mb", rounded(Double(writePeak) / 1e6))
        result.field("file_bytes", written.file.bytes)
        result.field("content_bytes", written.stats.contentBytes)
        result.field("bytes_per_key", rounded(Double(written.file.bytes) / Double(keys), 3))
        result.field("content_bytes_per_key", rounded(Double(written.stats.contentBytes) / Double(keys), 3))
        result.field("sort", written.stats.sortStrategies.first ?? "")
        printError("bench-checkpoint: wrote \(written.file.bytes) bytes in \(rounded(writeSeconds)) s")

        // Concurrent write: the snapshot is written on another thread while this one applies
        // mutations at --apply-rate in batches of 1000; worst batch latency and the merge after.
        let box = Mutex<Result<CheckpointStore.WriteResult, CheckpointError>?>(nil)
        let started = monotonicSeconds()
        do {
            // Only the writer's closure holds the snapshot, so it is released when the write ends.
            let snapshot = map.beginSnapshot()
            let writeStore = store
            DispatchQueue.global().async { [snapshot] in
                let cp = Checkpoint(header: header, watches: [CheckpointWatch(schema: schema, map: snapshot)])
                let r: Result<CheckpointStore.WriteResult, CheckpointError>
                do throws(CheckpointError) { r = .success(try writeStore.write(cp)) } catch { r = .failure(error) }
                box.withLock { $0 = r }
            }
        }
        var worst = 0.0
        var worstCPU = 0.0
        var latencies: [Double] = []
        var batches = 0
        var concurrentSeconds = 0.0
        let batchInterval = 1000.0 / Double(max(1, applyRate))
        while true {
            if box.withLock({ $0 != nil }) {
                concurrentSeconds = monotonicSeconds() - started
                break
            }
            t = monotonicSeconds()
            let c = threadCPUSeconds()
            mutate(&map, 1000)
            let d = monotonicSeconds() - t
            if d > worst {
                worst = d
                worstCPU = threadCPUSeconds() - c
            }
            latencies.append(d)
            batches += 1
            let next = started + Double(batches) * batchInterval
            let wait = next - monotonicSeconds()
            if wait > 0 { usleep(UInt32(wait * 1e6)) }
        }
        if case .failure(let e)? = box.withLock({ $0 }) { throw e }
        let overlay = map.pendingOverlayCount
        // Merge back in slices (8 192 entries, the default) once the writer has released the snapshot.
        var mergeWorst = 0.0
        var mergeTotal = 0.0
        t = monotonicSeconds()
        var done = map.endSnapshot()
        mergeWorst = monotonicSeconds() - t
        mergeTotal = mergeWorst
        while !done {
            t = monotonicSeconds()
            done = map.mergeOverlay()
            let d = monotonicSeconds() - t
            mergeWorst = max(mergeWorst, d)
            mergeTotal += d
        }
        result.key("concurrent")
        result.beginObject()
        result.field("write_s", rounded(concurrentSeconds))
        result.field("mutations", batches * 1000)
        latencies.sort()
        result.field("median_batch_ms", rounded((latencies.isEmpty ? 0 : latencies[latencies.count / 2]) * 1000, 3))
        result.field("p99_batch_ms", rounded((latencies.isEmpty ? 0 : latencies[latencies.count * 99 / 100]) * 1000, 3))
        result.key("worst_batch_ms")
        result.double(rounded(worst * 1000, 3))
        result.field("worst_batch_cpu_ms", rounded(worstCPU * 1000, 3))
        result.field("overlay_entries", overlay)
        result.key("merge_worst_slice_ms")
        result.double(rounded(mergeWorst * 1000, 3))
        result.key("merge_total_ms")
        result.double(rounded(mergeTotal * 1000, 3))
        result.endObject()

        // Load (the newest, i.e. the concurrent write's checkpoint).
        resetPeak()
        before = memory().rss
        t = monotonicSeconds()
        guard let loaded = try store.loadNewestValid() else { throw ValidationError("nothing to load") }
        let loadSeconds = monotonicSeconds() - t
        let loadPeak = memory().hwm - before
        let loadedCount = loaded.checkpoint.watches.first?.map.count ?? -1
        result.field("load_s", rounded(loadSeconds))
        result.field("load_peak_extra_mb", rounded(Double(loadPeak) / 1e6))
        result.field("loaded_keys", loadedCount)
        guard loadedCount == keys else { throw ValidationError("loaded \(loadedCount) keys, expected \(keys)") }
        printError("bench-checkpoint: loaded in \(rounded(loadSeconds)) s")

        if let csv {
            t = monotonicSeconds()
            try writeCSV(map, to: csv)
            result.field("csv", csv)
            printError("bench-checkpoint: wrote \(csv) in \(rounded(monotonicSeconds() - t)) s")
        }
        result.endObject()
        let out = OutputSink.standardOutput()
        out.writeLine(&result)
        out.flush()
    }

    private func writeCSV(_ map: ShadowMap, to path: String) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw ValidationError("cannot create \(path)") }
        defer { close(fd) }
        let sink = OutputSink(fd: fd)
        var line = JSONWriter(capacity: 64)
        for (k, v) in map.sortedIntegerEntries() {
            line.reset()
            line.raw(Array("\(k),\(v)".utf8))
            sink.writeLine(line.bytes)
        }
        sink.flush()
        if sink.failed { throw ValidationError("writing \(path) failed") }
    }
}

extension JSONWriter {
    fileprivate mutating func field(_ name: String, _ value: Double) {
        key(name)
        double(value)
    }
}

private struct Rng {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

private func rounded(_ v: Double, _ digits: Int = 3) -> Double {
    var p = 1.0
    for _ in 0..<digits { p *= 10 }
    return (v * p).rounded() / p
}

private func threadCPUSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

private func wallClockMillis() -> Int64 {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
}

/// VmRSS and VmHWM from /proc/self/status, in bytes.
private func memory() -> (rss: Int, hwm: Int) {
    let fd = open("/proc/self/status", O_RDONLY)
    guard fd >= 0 else { return (0, 0) }
    defer { close(fd) }
    var buf = [UInt8](repeating: 0, count: 8192)
    let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
    guard n > 0 else { return (0, 0) }
    let text = String(decoding: buf[0..<n], as: UTF8.self)
    var rss = 0
    var hwm = 0
    for line in text.split(separator: "\n") {
        let parts = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
        guard parts.count >= 2, let kb = Int(parts[1]) else { continue }
        if parts[0] == "VmRSS:" { rss = kb * 1024 }
        if parts[0] == "VmHWM:" { hwm = kb * 1024 }
    }
    return (rss, hwm)
}

/// Resets VmHWM to the current RSS (Linux: write 5 to /proc/self/clear_refs).
private func resetPeak() {
    let fd = open("/proc/self/clear_refs", O_WRONLY)
    guard fd >= 0 else { return }
    _ = write(fd, "5", 1)
    close(fd)
}
