import ArgumentParser
import BinlogReconciler

@main
struct BinlogReconcilerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "binlog-reconciler",
        abstract: "Prove a Redis cache agrees with MySQL/MariaDB, from the binary log.",
        discussion: """
            Data commands print JSON lines on stdout; logs and progress go to stderr.

            Examples:
              binlog-reconciler events mysql-bin.000001 | jq -c 'select(.type=="TABLE_MAP_EVENT")'
              binlog-reconciler analyze mysql-bin.0000* --table shop.products --key id --value stock
              binlog-reconciler analyze mysql-bin.000042 --table shop.products --key id --value stock --timeline 17
            """,
        version: BinlogReconcilerVersion.string,
        subcommands: [
            EventsCommand.self, AnalyzeCommand.self, RunCommand.self, CheckCommand.self, DoctorCommand.self, CheckpointCommand.self, SimulateCommand.self,
        ]
    )
}
