import Foundation
import Testing
@testable import BinlogReconciler
@testable import ReconcileEngine
@testable import ReconcilerCore
@testable import RedisClient
@testable import ReplicationClient

/// Binlog coordinates order by base name, then the numeric extension as a number, then offset.
@Suite struct BinlogCoordinatesTests {
    private func at(_ file: String, _ position: UInt64) -> BinlogCoordinates { BinlogCoordinates(file: file, position: position) }

    @Test func sequencePastSixDigitsOrdersNumerically() {
        #expect(at("mysql-bin.999999", 4) < at("mysql-bin.1000000", 4))
        #expect(!(at("mysql-bin.1000000", 4) < at("mysql-bin.999999", 4)))
        // The end of the old file is still before the start of the new one.
        #expect(at("mysql-bin.999999", 1 << 40) < at("mysql-bin.1000000", 4))
        #expect(at("mysql-bin.000009", 900) < at("mysql-bin.000010", 4))
        #expect(at("mysql-bin.9", 900) < at("mysql-bin.000010", 4))
        // Longer than UInt64 digits still compare.
        #expect(at("mysql-bin.99999999999999999999", 4) < at("mysql-bin.100000000000000000000", 4))
    }

    @Test func sameFileOrdersByOffset() {
        #expect(at("mysql-bin.000001", 4) < at("mysql-bin.000001", 5))
        #expect(!(at("mysql-bin.000001", 5) < at("mysql-bin.000001", 4)))
        #expect(at("mysql-bin.1000000", 120) < at("mysql-bin.1000000", 4096))
    }

    @Test func differentBaseNamesOrderByBaseName() {
        #expect(at("a-bin.000002", 4) < at("b-bin.000001", 4))
        #expect(!(at("b-bin.000001", 4) < at("a-bin.999999", 900)))
        // The base name decides before the number does.
        #expect(at("mysql-bin.1000000", 4) < at("relay.000001", 4))
        #expect(!BinlogCoordinates.sameSeries("mysql-bin.000001", "relay-bin.000002"))
        #expect(BinlogCoordinates.sameSeries("mysql-bin.999999", "mysql-bin.1000000"))
    }

    @Test func namesWithoutNumericExtensionOrderAsText() {
        #expect(at("binlog-a", 900) < at("binlog-b", 4))
        #expect(at("old.bin", 4) < at("old.log", 4))
        #expect(at("x.10a", 4) < at("x.9a", 4))  // not numeric: text order
        #expect(at("mysql-bin.", 4) < at("mysql-bin.x", 4))
        // An unnumbered name comes before the numbered files of the same base.
        #expect(at("mysql-bin", 1 << 40) < at("mysql-bin.000001", 4))
        #expect(!BinlogCoordinates.sameSeries("old.bin", "old.log"))
    }

    @Test func equalCoordinates() {
        let a = at("mysql-bin.1000000", 4), b = at("mysql-bin.1000000", 4)
        #expect(a == b)
        #expect(!(a < b) && !(b < a))
        #expect(a <= b && a >= b)
        #expect(BinlogCoordinates.compareFileNames("mysql-bin.000042", "mysql-bin.000042") == 0)
        // Numerically equal but differently written names are different files: ordered, not equal.
        #expect(at("a.01", 4) != at("a.1", 4))
        #expect((at("a.01", 4) < at("a.1", 4)) != (at("a.1", 4) < at("a.01", 4)))
    }

    /// A strict total order over a mixed set: sorting agrees with every pairwise comparison.
    @Test func totalOrderOverMixedNames() {
        let names = ["mysql-bin.1000000", "mysql-bin.999999", "mysql-bin.000001", "mysql-bin", "mysql-bin.5z", "a.10", "a.9", "a.5z", "a.01", "a.1", "relay.000002", "relay.10", "x"]
        let coords = names.flatMap { [at($0, 4), at($0, 100)] }
        for a in coords {
            #expect(!(a < a))
            for b in coords {
                #expect((a < b) != (b < a) || a == b)
                for c in coords where a < b && b < c { #expect(a < c) }
            }
        }
        #expect(["mysql-bin.1000000", "mysql-bin.000002", "mysql-bin.999999", "mysql-bin.000010"].sorted { at($0, 4) < at($1, 4) }
            == ["mysql-bin.000002", "mysql-bin.000010", "mysql-bin.999999", "mysql-bin.1000000"])
    }

    /// The daemon's caught-up gate: applied up to the end of .999999 is behind a source at .1000000.
    @Test func caughtUpGateAcrossTheSixDigitBoundary() {
        let seen = at("mysql-bin.999999", 1_073_741_824), source = at("mysql-bin.1000000", 4)
        #expect(seen < source)  // isCaughtUp is !(seen < source): not caught up
        #expect(!(source < seen))
    }
}
