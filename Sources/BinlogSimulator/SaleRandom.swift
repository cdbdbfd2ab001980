#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// Deterministic randomness for the flash-sale simulator: the same seed gives the same products,
// stock, order stream and fault schedule on every machine (Swift's SystemRandomNumberGenerator is
// not seedable, and its algorithm is not promised to stay the same).

/// SplitMix64 (Steele, Lea, Flood 2014): small, fast, and good enough for a workload generator.
public struct SaleRandom: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A uniform integer in `range` (Lemire's unbiased method is overkill here; the modulo bias
    /// for ranges of a few thousand is below 1e-15).
    public mutating func int(in range: ClosedRange<Int>) -> Int {
        range.lowerBound + Int(next() % UInt64(range.count))
    }

    /// A uniform double in [0, 1).
    public mutating func unit() -> Double { Double(next() >> 11) * 0x1.0p-53 }

    /// A derived generator, so that adding draws to one stream does not shift another.
    public func fork(_ salt: UInt64) -> SaleRandom {
        var copy = SaleRandom(seed: state ^ (salt &* 0xD1B5_4A32_D192_ED03))
        _ = copy.next()
        return copy
    }
}

/// Popularity over `count` items: item of rank r (0-based) is drawn with probability proportional
/// to 1 / (r + 1)^s. Sampling is a binary search in the cumulative table.
public struct ZipfSampler: Sendable {
    private let cumulative: [Double]

    public init(count: Int, exponent s: Double) {
        precondition(count > 0)
        var c = [Double]()
        c.reserveCapacity(count)
        var total = 0.0
        for r in 0..<count {
            total += 1 / pow(Double(r + 1), s)
            c.append(total)
        }
        cumulative = c.map { $0 / total }
    }

    /// Probability of rank `r`.
    public func weight(_ r: Int) -> Double { r == 0 ? cumulative[0] : cumulative[r] - cumulative[r - 1] }

    /// A rank in 0..<count.
    public func sample(_ rng: inout SaleRandom) -> Int {
        let u = rng.unit()
        var lo = 0
        var hi = cumulative.count - 1
        while lo < hi {
            let mid = (lo + hi) / 2
            if cumulative[mid] <= u { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }
}
