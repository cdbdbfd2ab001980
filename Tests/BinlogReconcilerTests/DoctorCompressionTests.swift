import Foundation
import Testing
@testable import BinlogReconciler
@testable import ReconcileEngine
@testable import ReconcilerCore
@testable import RedisClient
@testable import ReplicationClient

/// doctor's binlog compression check: `binlog_transaction_compression` on MySQL, `log_bin_compress`
/// on MariaDB; always ok, OFF when the server lacks the variable.
@Suite struct DoctorCompressionTests {
    private func finding(mariadb: Bool, _ values: [String: String]) -> Doctor.Finding {
        Doctor.compressionFinding(mariadb: mariadb) { values[$0] }
    }

    @Test func mysqlReportsBinlogTransactionCompression() {
        for on in ["ON", "1", "on"] {
            let f = finding(mariadb: false, ["binlog_transaction_compression": on])
            #expect(f.check == "binlog_transaction_compression")
            #expect(f.severity == .ok)
            #expect(f.detail == "ON: compressed transactions (TRANSACTION_PAYLOAD) are expanded and applied")
            #expect(f.fix == nil)
        }
        let off = finding(mariadb: false, ["binlog_transaction_compression": "0"])
        #expect(off.check == "binlog_transaction_compression" && off.severity == .ok && off.detail == "OFF")
        // MySQL before 8.0.20: no such variable, no error.
        let absent = finding(mariadb: false, [:])
        #expect(absent.check == "binlog_transaction_compression" && absent.severity == .ok && absent.detail == "OFF")
    }

    @Test func mariadbReportsLogBinCompress() {
        let on = finding(mariadb: true, ["log_bin_compress": "1", "binlog_transaction_compression": "1"])
        #expect(on.check == "log_bin_compress")
        #expect(on.severity == .ok)
        #expect(on.detail.hasPrefix("ON: compressed events"))
        let off = finding(mariadb: true, ["log_bin_compress": "OFF"])
        #expect(off.check == "log_bin_compress" && off.severity == .ok && off.detail == "OFF")
        let absent = finding(mariadb: true, [:])
        #expect(absent.check == "log_bin_compress" && absent.severity == .ok && absent.detail == "OFF")
    }

    /// Against the private MariaDB, read-only: doctor only reads variables and grants (the watched
    /// table does not exist, which is its own finding; nothing is created or changed).
    @Test func doctorJSONNamesTheCompressionCheckOnMariaDB() throws {
        guard DaemonCheckTests.serversUp else { Issue.record("MariaDB and Redis must run (scripts/test starts them)"); return }
        let n = UInt32.random(in: 0...UInt32.max)
        let path = try DaemonCheckTests.config(db: "br_doctor_absent_\(n)", prefix: "dc\(n)")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let r = try DoctorAndRepairTests.doctor(path)
        #expect(DoctorAndRepairTests.severity(r.findings, "source.connect") == "ok", "\(r.findings)")
        #expect(DoctorAndRepairTests.severity(r.findings, "log_bin_compress") == "ok", "\(r.findings)")
        let detail = r.findings.first { $0["check"] as? String == "log_bin_compress" }?["detail"] as? String
        #expect(detail == "OFF" || detail?.hasPrefix("ON: ") == true, "\(detail ?? "nil")")
        #expect(r.findings.first { $0["check"] as? String == "log_bin_compress" }?["fix"] is NSNull)
        // MariaDB has no binlog_transaction_compression: neither that check nor an error about it.
        #expect(DoctorAndRepairTests.severity(r.findings, "binlog_transaction_compression") == nil)
        #expect(!r.findings.contains { ($0["detail"] as? String)?.contains("binlog_transaction_compression") == true })
    }
}
