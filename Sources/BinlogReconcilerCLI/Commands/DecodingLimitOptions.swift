import ArgumentParser
import BinlogParser

/// `--max-decompressed-bytes` / `--max-decompressed-file-bytes` of the file-reading commands
/// (`events`, `analyze`): the bounds of ``DecodingLimits`` a user may raise for a legitimate binlog.
struct DecodingLimitOptions: ParsableArguments {
    @Option(
        name: .customLong("max-decompressed-bytes"),
        help: ArgumentHelp(
            "Largest decompressed event accepted (a MariaDB compressed event, or one event inside a MySQL TRANSACTION_PAYLOAD); a number with an optional K/M/G suffix.",
            valueName: "BYTES"))
    var maxDecompressedBytes: String?

    @Option(
        name: .customLong("max-decompressed-file-bytes"),
        help: ArgumentHelp("Most bytes decompressed in one file, all compressed events together (K/M/G suffix allowed).", valueName: "BYTES"))
    var maxDecompressedFileBytes: String?

    func validate() throws { _ = try decodingLimits() }

    func decodingLimits() throws -> DecodingLimits {
        var limits = DecodingLimits()
        if let s = maxDecompressedBytes {
            guard let n = DecodingLimits.parseByteCount(s), n <= UInt64(Int.max) else {
                throw ValidationError("--max-decompressed-bytes wants a positive byte count such as 256M or 2G, got \(s)")
            }
            limits.maxDecompressedEventSize = Int(n)
            // The per-file limit is at least one event's.
            limits.maxDecompressedBytesPerFile = max(limits.maxDecompressedBytesPerFile, n)
        }
        if let s = maxDecompressedFileBytes {
            guard let n = DecodingLimits.parseByteCount(s) else {
                throw ValidationError("--max-decompressed-file-bytes wants a positive byte count such as 16G, got \(s)")
            }
            limits.maxDecompressedBytesPerFile = n
        }
        return limits
    }
}
