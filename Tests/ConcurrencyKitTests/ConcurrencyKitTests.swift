import ConcurrencyKit
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Waits until `done` holds, at most `seconds`; whether it does. A test that waits on a thread
/// this way fails (instead of hanging) when the thread deadlocks.
private func eventually(_ seconds: Double = 5, _ done: () -> Bool) -> Bool {
    let deadline = now() + seconds
    while !done() {
        if now() > deadline { return false }
        usleep(1000)
    }
    return true
}

private func now() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_MONOTONIC, &t)
    return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
}

/// Runs `body` on a new thread; the flag is set when it returned.
private func spawn(_ body: @escaping @Sendable () -> Void) throws -> (JoinableThread, ended: Flag) {
    let ended = Flag()
    let t = try JoinableThread(name: "test") {
        body()
        ended.set()
    }
    return (t, ended)
}

private final class Flag: Sendable {
    private let value = Atomic<Bool>(false)
    func set() { value.store(true, ordering: .sequentiallyConsistent) }
    var isSet: Bool { value.load(ordering: .sequentiallyConsistent) }
}

/// Items a consumer thread took, in the order it took them.
private final class Received<T: Sendable>: Sendable {
    private let items = Mutex<[T]>([])
    func append(_ item: T) { items.withLock { $0.append(item) } }
    var all: [T] { items.withLock { $0 } }
}

@Suite("JoinableThread")
struct JoinableThreadTests {
    @Test func joinWaitsForTheBodyToReturn() throws {
        let received = Received<Int>()
        let t = try JoinableThread(name: "worker") {
            usleep(50_000)
            for i in 0..<1000 { received.append(i) }
        }
        t.join()
        // Everything the body did is visible after join, without waiting.
        #expect(received.all == Array(0..<1000))
        t.join()  // again: returns at once
    }

    @Test func manyThreadsEachRunOnceAndAreJoined() throws {
        let runs = Atomic<Int>(0)
        let threads = try (0..<32).map { _ in try JoinableThread(name: "n") { runs.add(1, ordering: .relaxed) } }
        for t in threads { t.join() }
        #expect(runs.load(ordering: .relaxed) == 32)
    }

    @Test func joinOnItsOwnThreadReturnsAndIsCurrentTellsTheThreads() throws {
        let slot = Mutex<JoinableThread?>(nil)
        let started = Flag()
        let inside = Atomic<Int>(-1)
        let go = Flag()
        let t = try JoinableThread(name: "self") {
            _ = eventually { go.isSet }
            let me = slot.withLock { $0 }
            inside.store(me?.isCurrent == true ? 1 : 0, ordering: .sequentiallyConsistent)
            me?.join()  // must not deadlock
            started.set()
        }
        slot.withLock { $0 = t }
        #expect(!t.isCurrent)
        go.set()
        #expect(eventually { started.isSet }, "join on the thread itself deadlocked")
        #expect(inside.load(ordering: .sequentiallyConsistent) == 1)
        t.join()
        #expect(!t.isCurrent)
    }
}

@Suite("BlockingQueue")
struct BlockingQueueTests {
    @Test func oneProducerOneConsumerGetEveryItemOnceInOrder() throws {
        let n = 200_000
        let queue = BlockingQueue<FIFOBuffer<Int>>(capacity: 4)
        let received = Received<Int>()
        let (consumer, ended) = try spawn {
            var local: [Int] = []
            while let i = queue.take() { local.append(i) }
            for i in local { received.append(i) }
        }
        for i in 0..<n { #expect(queue.put(i)) }
        queue.close()
        #expect(eventually(30) { ended.isSet }, "the consumer did not end after close")
        consumer.join()
        let got = received.all
        #expect(got.count == n)
        #expect(got == Array(0..<n), "items lost, repeated or reordered")
    }

    @Test func manyProducersAndConsumersLoseAndRepeatNothingAndKeepEachProducersOrder() throws {
        let producers = 4, consumers = 3, perProducer = 25_000
        let queue = BlockingQueue<FIFOBuffer<Int>>(capacity: 8)
        let received = (0..<consumers).map { _ in Received<Int>() }
        var threads: [JoinableThread] = []
        for c in 0..<consumers {
            let sink = received[c]
            threads.append(try JoinableThread(name: "consumer") {
                var local: [Int] = []
                while let i = queue.take() { local.append(i) }
                for i in local { sink.append(i) }
            })
        }
        let producing = try (0..<producers).map { p in
            try JoinableThread(name: "producer") {
                for i in 0..<perProducer { _ = queue.put(p * perProducer + i) }
            }
        }
        for t in producing { t.join() }
        queue.close()
        let allEnded = Flag()
        let consuming = threads
        let joiner = try JoinableThread(name: "joiner") {
            for t in consuming { t.join() }
            allEnded.set()
        }
        #expect(eventually(30) { allEnded.isSet }, "consumers did not end after close")
        joiner.join()
        var all: [Int] = []
        for r in received {
            let got = r.all
            all += got
            // Each consumer sees each producer's items in the order they were put.
            for p in 0..<producers {
                let mine = got.filter { $0 / perProducer == p }
                #expect(mine == mine.sorted(), "producer \(p)'s items reordered")
            }
        }
        #expect(all.count == producers * perProducer)
        #expect(all.sorted() == Array(0..<(producers * perProducer)), "items lost or repeated")
    }

    @Test func putBlocksWhileFullAndResumesAfterATake() throws {
        let queue = BlockingQueue<FIFOBuffer<Int>>(capacity: 2)
        let done = Atomic<Int>(0)
        let (producer, ended) = try spawn {
            for i in 0..<3 {
                queue.put(i)
                done.add(1, ordering: .sequentiallyConsistent)
            }
        }
        #expect(eventually { done.load(ordering: .sequentiallyConsistent) == 2 })
        usleep(100_000)
        #expect(done.load(ordering: .sequentiallyConsistent) == 2, "a put did not wait while the queue was full")
        #expect(queue.count() == 2)
        #expect(queue.take() == 0)
        #expect(eventually { ended.isSet }, "the blocked put did not resume after a take")
        producer.join()
        #expect(queue.take() == 1)
        #expect(queue.take() == 2)
    }

    @Test func closeWakesABlockedTakerAfterItDrainedTheQueue() throws {
        let queue = BlockingQueue<FIFOBuffer<Int>>(capacity: 4)
        let received = Received<Int?>()
        let (consumer, ended) = try spawn {
            for _ in 0..<3 { received.append(queue.take()) }
        }
        queue.put(7)
        usleep(50_000)
        queue.close()
        #expect(eventually { ended.isSet }, "close did not wake the taker")
        consumer.join()
        #expect(received.all == [7, nil, nil])
        #expect(!queue.put(8), "put after close")
        #expect(queue.take() == nil)

        // What is queued at close is still taken, in order.
        let q2 = BlockingQueue<FIFOBuffer<Int>>(capacity: 4)
        for i in 0..<3 { q2.put(i) }
        q2.close()
        #expect(q2.take() == 0)
        #expect(q2.take(upTo: 10) == [1, 2])
        #expect(q2.take(upTo: 10) == nil)
    }

    @Test func cancelWakesABlockedPutterAndDropsTheQueue() throws {
        let queue = BlockingQueue<FIFOBuffer<Int>>(capacity: 1)
        queue.put(1)
        let result = Mutex<Bool?>(nil)
        let (producer, ended) = try spawn { result.withLock { $0 = queue.put(2) } }
        usleep(50_000)
        #expect(!ended.isSet)
        queue.cancel()
        #expect(eventually { ended.isSet }, "cancel did not wake the putter")
        producer.join()
        #expect(result.withLock { $0 } == false)
        #expect(queue.take() == nil, "cancel keeps nothing")
        #expect(queue.isCancelled)

        let q2 = BlockingQueue<FIFOBuffer<Int>>(capacity: 1)
        let (taker, takerEnded) = try spawn { _ = q2.take() }
        usleep(50_000)
        q2.cancel()
        #expect(eventually { takerEnded.isSet }, "cancel did not wake the taker")
        taker.join()
    }

    @Test func takeWithATimeoutReturnsNilWhenNothingCame() throws {
        let queue = BlockingQueue<FIFOBuffer<Int>>(capacity: 1)
        let began = now()
        #expect(queue.take(timeout: .milliseconds(100)) == nil)
        let waited = now() - began
        #expect(waited >= 0.09 && waited < 3, "waited \(waited) s")
        queue.put(5)
        #expect(queue.take(timeout: .seconds(5)) == 5)
        #expect(!queue.waitUntilClosed(timeout: .milliseconds(10)))
        queue.close()
        #expect(queue.waitUntilClosed(timeout: .seconds(5)))
    }

    @Test func putDroppingOldestKeepsTheNewestAndCountsTheDropped() {
        let queue = BlockingQueue<FIFOBuffer<Int>>(capacity: 3)
        #expect((1...5).map { queue.putDroppingOldest($0) } == [0, 0, 0, 1, 1])
        #expect(queue.count() == 3)
        // A batch the consumer could not deliver goes back in front; the oldest overflow.
        let batch = queue.take(upTo: 2)
        #expect(batch == [3, 4])
        queue.putDroppingOldest(6)
        queue.putDroppingOldest(7)  // [5, 6, 7]
        #expect(queue.putBack([3, 4]) == 2)
        #expect(queue.take(upTo: 10) == [5, 6, 7])
        queue.putDroppingOldest(8)
        #expect(queue.putBack([6, 7]) == 0)
        #expect(queue.take(upTo: 10) == [6, 7, 8])
        queue.close()
        #expect(queue.putDroppingOldest(9) == nil)
    }

    final class Payload: Sendable {
        let n: Int
        init(_ n: Int) { self.n = n }
    }

    @Test func aTakenItemIsNotKeptAliveByTheQueue() {
        let queue = BlockingQueue<FIFOBuffer<Payload>>(capacity: 4)
        weak var first: Payload?
        do {
            let a = Payload(1)
            first = a
            queue.put(a)
        }
        queue.put(Payload(2))
        do {
            let taken = queue.take()
            #expect(taken?.n == 1)
        }
        // The item behind it is still queued; the one taken is gone (the read-ahead's 1 MiB chunks
        // must not pile up in the queue's storage).
        #expect(first == nil, "the queue kept a taken item alive")
        #expect(queue.count() == 1)
        #expect(queue.take()?.n == 2)
    }

    /// A buffer bounded in bytes, filled in place, taken whole (as the live fetch thread's).
    struct Bytes: HandOffBuffer {
        var bytes: [UInt8] = []
        var ends: [Int] = []
        var isEmpty: Bool { ends.isEmpty }
        func hasRoom(for item: borrowing [UInt8], capacity: Int) -> Bool { bytes.count + item.count <= capacity }
        mutating func append(_ item: [UInt8]) {
            bytes += item
            ends.append(bytes.count)
        }
        mutating func removeAll() {
            bytes.removeAll(keepingCapacity: true)
            ends.removeAll(keepingCapacity: true)
        }
    }

    @Test func aByteBoundedBufferTakesOneLargeItemAndHandsBatchesOverWhole() throws {
        let queue = BlockingQueue<Bytes>(capacity: 100)
        let n = 20_000
        let received = Received<Int>()
        let mixed = Flag()
        let (consumer, ended) = try spawn {
            var batch = Bytes()
            var local: [Int] = []
            while queue.takeAll(into: &batch) {
                var start = 0
                for end in batch.ends {
                    let item = batch.bytes[start..<end]
                    // Item i is i % 250 + 1 bytes of value i % 256, so its size and content tell it.
                    local.append(item.count)
                    if !item.allSatisfy({ $0 == item.first }) { mixed.set() }
                    start = end
                }
                batch.removeAll()
            }
            for i in local { received.append(i) }
        }
        for i in 0..<n { #expect(queue.put([UInt8](repeating: UInt8(i % 256), count: i % 250 + 1))) }
        queue.close()
        #expect(eventually(30) { ended.isSet })
        consumer.join()
        #expect(received.all == (0..<n).map { $0 % 250 + 1 }, "items lost, repeated or reordered")
        #expect(!mixed.isSet, "an item's bytes were mixed with another's")

        // Full in bytes: the next put waits; an empty buffer takes an item larger than the capacity.
        let q2 = BlockingQueue<Bytes>(capacity: 10)
        q2.put([UInt8](repeating: 1, count: 8))
        let (producer, putDone) = try spawn { q2.put([1, 2, 3]) }
        usleep(50_000)
        #expect(!putDone.isSet, "a put did not wait for room")
        var batch = Bytes()
        #expect(q2.takeAll(into: &batch) && batch.bytes.count == 8)
        #expect(eventually { putDone.isSet })
        producer.join()
        batch.removeAll()
        #expect(q2.takeAll(into: &batch) && batch.bytes == [1, 2, 3])
        #expect(q2.put([UInt8](repeating: 0, count: 50)))
    }
}

@Suite("StopSignal")
struct StopSignalTests {
    @Test func sleepEndsAtOnceWhenStoppedAndOtherwiseAfterItsTime() throws {
        let signal = StopSignal()
        let began = now()
        #expect(!signal.sleep(.milliseconds(50)))
        #expect(now() - began >= 0.045)
        let woke = Mutex<(Bool, Double)?>(nil)
        let (sleeper, ended) = try spawn {
            let t = now()
            let stopped = signal.sleep(.seconds(30))
            woke.withLock { $0 = (stopped, now() - t) }
        }
        usleep(50_000)
        signal.stop()
        #expect(eventually { ended.isSet }, "stop did not wake the sleeper")
        sleeper.join()
        let (stopped, slept) = try #require(woke.withLock { $0 })
        #expect(stopped && slept < 10)
        #expect(signal.isStopped && signal.sleep(.seconds(30)))
    }
}
