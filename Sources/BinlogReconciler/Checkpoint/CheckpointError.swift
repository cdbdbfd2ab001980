#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Why a checkpoint file could not be written or read. Every error names the file.
///
/// The reading errors are distinct on purpose: `empty`, `notACheckpoint` (wrong magic: some other
/// kind of file), `truncated` (shorter than its header says), `unsupportedVersion`,
/// `headerChecksumMismatch` and `checksumMismatch` (damaged bytes: a bit flip lands in one of
/// these), `corrupt` (the bytes are intact but do not follow the format).
public struct CheckpointError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Kind: Sendable, Hashable {
        /// The file has no bytes.
        case empty
        /// The first bytes are not the checkpoint magic; `looksLike` names what the file seems to
        /// be ("a PNG image", "a MySQL/MariaDB binlog", or the first bytes in hex).
        case notACheckpoint(looksLike: String)
        /// The file ends before the length its header states (or before the header ends).
        case truncated(expectedBytes: UInt64, actualBytes: UInt64)
        /// A format version this reader does not know.
        case unsupportedVersion(UInt16)
        /// The 40-byte header's own CRC-32 does not match.
        case headerChecksumMismatch(stored: UInt32, computed: UInt32)
        /// The CRC-32 of the compressed body (`region: "body"`) or of the uncompressed content
        /// (`region: "content"`) does not match the header.
        case checksumMismatch(region: String, stored: UInt32, computed: UInt32)
        /// Intact bytes that do not follow the format (a writer bug or a crafted file).
        case corrupt(String)
        /// A system call failed (`ENOSPC` is a full disk).
        case io(operation: String, errno: Int32)
        /// The store has checkpoint files but none of them is valid.
        case noValidCheckpoint(skipped: [SkippedCheckpoint])
        /// A checkpoint that cannot be written as given (two watches with one name, too many
        /// watches, key columns or GTID domains), or the compressor failed.
        case invalidInput(String)
        /// The directory could be written by someone else (group- or world-writable, or another
        /// owner): a planted checkpoint would be loaded and, under `--repair`, pushed into Redis.
        case unsafeDirectory(String)
    }

    public var kind: Kind
    /// The file (or directory) concerned.
    public var path: String
    /// Where in the file (`fileOffset`) or in the uncompressed content (`contentOffset`) it was
    /// noticed, when that is meaningful.
    public var fileOffset: UInt64?
    public var contentOffset: UInt64?

    public init(_ kind: Kind, path: String, fileOffset: UInt64? = nil, contentOffset: UInt64? = nil) {
        self.kind = kind
        self.path = path
        self.fileOffset = fileOffset
        self.contentOffset = contentOffset
    }

    /// True for a failure of the disk (I/O), false for bad file contents.
    public var isIOError: Bool { if case .io = kind { return true } else { return false } }

    public var description: String {
        var s = path + ": "
        switch kind {
        case .empty:
            s += "empty file (0 bytes), not a checkpoint"
        case .notACheckpoint(let what):
            s += "not a checkpoint file (wrong magic: \(what))"
        case .truncated(let expected, let actual):
            s += "truncated: the file has \(actual) bytes, its header needs \(expected)"
        case .unsupportedVersion(let v):
            s += "unsupported checkpoint format version \(v) (this build reads version \(CheckpointFormat.version))"
        case .headerChecksumMismatch(let stored, let computed):
            s += "damaged header: CRC-32 is \(hex32(computed)), the header says \(hex32(stored))"
        case .checksumMismatch(let region, let stored, let computed):
            s +=
                "checksum mismatch (file damaged): CRC-32 of the \(region) is \(hex32(computed)), the header says \(hex32(stored))"
        case .corrupt(let what):
            s += "corrupt checkpoint: " + what
        case .io(let op, let e):
            s += "\(op) failed: \(String(cString: strerror(e))) (errno \(e))"
        case .noValidCheckpoint(let skipped):
            s +=
                "no valid checkpoint (\(skipped.count) skipped: "
                + skipped.map { $0.error.description }.joined(separator: "; ") + ")"
        case .invalidInput(let what):
            s += "cannot write checkpoint: " + what
        case .unsafeDirectory(let what):
            s += "refusing to use this checkpoint directory: " + what
        }
        if let o = contentOffset {
            s += " (content offset \(o))"
        } else if let o = fileOffset {
            s += " (file offset \(o))"
        }
        return s
    }
}

/// A checkpoint file passed over by `CheckpointStore.loadNewestValid()`, and why.
public struct SkippedCheckpoint: Sendable, Hashable, CustomStringConvertible {
    public var path: String
    public var error: CheckpointError
    public init(path: String, error: CheckpointError) {
        self.path = path
        self.error = error
    }
    public var description: String { error.description }
}

func hex32(_ v: UInt32) -> String {
    let s = String(v, radix: 16)
    return "0x" + String(repeating: "0", count: max(0, 8 - s.count)) + s
}
