import Testing

@testable import BinlogReconciler
@testable import ReconcileEngine
@testable import ReconcilerCore
@testable import RedisClient
@testable import ReplicationClient

extension RedisTests {
    /// The request framing used by the pipelined sweeps (no server needed).
    @Suite struct RESPCommandBufferEncoding {
        private func text(_ b: RESPCommandBuffer) -> String { String(decoding: b.bytes, as: UTF8.self) }

        @Test func encodesArraysOfBulkStrings() {
            var b = RESPCommandBuffer()
            b.appendCommand(["MGET", "product:1:stock", ""])
            #expect(text(b) == "*3\r\n$4\r\nMGET\r\n$15\r\nproduct:1:stock\r\n$0\r\n\r\n")
            b.reset()
            #expect(b.isEmpty)
            b.beginCommand(argumentCount: 3)
            b.appendArgument("SCAN")
            b.appendArgument(0)
            b.appendArgument(-1234567890)
            #expect(text(b) == "*3\r\n$4\r\nSCAN\r\n$1\r\n0\r\n$11\r\n-1234567890\r\n")
        }

        @Test func binaryAndMultiByteArgumentsUseByteLengths() {
            var b = RESPCommandBuffer()
            b.beginCommand(argumentCount: 2)
            b.appendArgument("é€")  // 2 + 3 UTF-8 bytes
            b.appendArgument([0, 13, 10, 0xFF])
            #expect(Array(b.bytes) == Array("*2\r\n$5\r\né€\r\n$4\r\n".utf8) + [0, 13, 10, 0xFF, 13, 10])
            b.reset()
            b.beginCommand(argumentCount: 12)
            #expect(text(b) == "*12\r\n")
        }
    }
}
