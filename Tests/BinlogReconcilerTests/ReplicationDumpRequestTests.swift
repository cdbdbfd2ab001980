import Testing

@testable import BinlogReconciler
@testable import ReconcileEngine
@testable import ReconcilerCore
@testable import RedisClient
@testable import ReplicationClient

/// Byte layouts of the dump requests (no server involved: MySQL is not available here).
@Suite struct ReplicationDumpRequestTests {
    @Test func binlogDumpLayout() {
        let r = BinlogDumpRequest.binlogDump(file: "mysql-bin.000042", position: 0x0102_0304, flags: 1, serverID: 0xA0B0_C0D0)
        #expect(r.command == 0x12)
        #expect(r.body == [0x04, 0x03, 0x02, 0x01, 0x01, 0x00, 0xD0, 0xC0, 0xB0, 0xA0] + Array("mysql-bin.000042".utf8))
    }

    @Test func binlogDumpGTIDLayout() throws {
        let set = try #require(MySQLGTIDSet("3E11FA47-71CA-11E1-9E33-C80AA9429562:1-5:7"))
        let encoded = set.encoded
        #expect(encoded.count == 8 + 16 + 8 + 2 * 16)
        #expect(Array(encoded[0..<8]) == [1, 0, 0, 0, 0, 0, 0, 0])
        #expect(Array(encoded[8..<24]) == [0x3E, 0x11, 0xFA, 0x47, 0x71, 0xCA, 0x11, 0xE1, 0x9E, 0x33, 0xC8, 0x0A, 0xA9, 0x42, 0x95, 0x62])
        #expect(Array(encoded[24..<32]) == [2, 0, 0, 0, 0, 0, 0, 0])
        #expect(Array(encoded[32..<40]) == [1, 0, 0, 0, 0, 0, 0, 0])  // start 1
        #expect(Array(encoded[40..<48]) == [6, 0, 0, 0, 0, 0, 0, 0])  // end 6 (exclusive)
        #expect(Array(encoded[48..<56]) == [7, 0, 0, 0, 0, 0, 0, 0])
        #expect(Array(encoded[56..<64]) == [8, 0, 0, 0, 0, 0, 0, 0])

        let r = BinlogDumpRequest.binlogDumpGTID(
            file: "", position: 4, flags: BinlogDumpRequest.throughGTID, serverID: 77, gtidSet: encoded)
        #expect(r.command == 0x1e)
        let body = r.body
        #expect(Array(body[0..<2]) == [4, 0])  // flags
        #expect(Array(body[2..<6]) == [77, 0, 0, 0])  // server id
        #expect(Array(body[6..<10]) == [0, 0, 0, 0])  // name length
        #expect(Array(body[10..<18]) == [4, 0, 0, 0, 0, 0, 0, 0])  // position
        #expect(Array(body[18..<22]) == [64, 0, 0, 0])  // data size
        #expect(Array(body[22...]) == encoded)
    }

    @Test func gtidSetParsing() {
        #expect(MySQLGTIDSet("")?.encoded == [0, 0, 0, 0, 0, 0, 0, 0])
        #expect(MySQLGTIDSet("3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5,\n 4e11fa47-71ca-11e1-9e33-c80aa9429562:9") != nil)
        #expect(MySQLGTIDSet("not-a-uuid:1-5") == nil)
        #expect(MySQLGTIDSet("3e11fa47-71ca-11e1-9e33-c80aa9429562:5-1") == nil)
        #expect(MySQLGTIDSet("3e11fa47-71ca-11e1-9e33-c80aa9429562:0") == nil)
        #expect(MySQLGTIDSet("3e11fa47-71ca-11e1-9e33-c80aa9429562:tag:1") == nil)  // tagged GTIDs: not covered
    }

    @Test func mariadbGTIDListValidation() {
        #expect(ReplicationStream.isValidMariaDBGTIDList(""))
        #expect(ReplicationStream.isValidMariaDBGTIDList("0-1-100"))
        #expect(ReplicationStream.isValidMariaDBGTIDList("0-1-100, 1-2-3"))
        #expect(!ReplicationStream.isValidMariaDBGTIDList("0-1"))
        #expect(!ReplicationStream.isValidMariaDBGTIDList("0-1-x"))
        #expect(!ReplicationStream.isValidMariaDBGTIDList("0-1-2'; --"))
    }

    @Test func derivedUUIDIsStablePerServerID() {
        #expect(ReplicationStream.derivedUUID(serverID: 0x1234) == "62726563-0000-4000-8000-000000001234")
        #expect(ReplicationStream.derivedUUID(serverID: UInt32.max) == "62726563-0000-4000-8000-0000ffffffff")
    }

    @Test func binlogStatusStatementFollowsTheServerVersion() {
        #expect(ServerFlavor.mariadb.binlogStatusStatement(version: "10.11.19-MariaDB-0+deb12u1-log") == "SHOW MASTER STATUS")
        #expect(ServerFlavor.mysql.binlogStatusStatement(version: "5.7.44-log") == "SHOW MASTER STATUS")
        #expect(ServerFlavor.mysql.binlogStatusStatement(version: "8.0.40") == "SHOW MASTER STATUS")
        #expect(ServerFlavor.mysql.binlogStatusStatement(version: "8.2.0") == "SHOW BINARY LOG STATUS")
        #expect(ServerFlavor.mysql.binlogStatusStatement(version: "8.4.3") == "SHOW BINARY LOG STATUS")
        #expect(ServerFlavor.mysql.binlogStatusStatement(version: "9.1.0-commercial") == "SHOW BINARY LOG STATUS")
        #expect(ServerFlavor.mysql.binlogStatusStatement(version: "") == "SHOW MASTER STATUS")
    }
}
