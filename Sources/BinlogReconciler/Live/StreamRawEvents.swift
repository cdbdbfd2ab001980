import BinlogFold
import BinlogParser

/// A replication stream as the fold's event source reads it: each event with the file the stream
/// says it is in and the log position the source stamped on it (the position after it; for an
/// artificial event or one without a log position, where the stream is), and whether its checksum
/// was verified on the fetch thread.
public struct StreamRawEvents: RawEventProvider {
    public let stream: ReplicationStream

    public init(stream: ReplicationStream) { self.stream = stream }

    public mutating func nextRaw() throws -> SourcedRaw? {
        guard let raw = try stream.next() else { return nil }
        let header = raw.header
        let logPosition = UInt64(header.logPosition)
        return SourcedRaw(
            raw: raw, file: stream.eventFile, end: logPosition != 0 ? logPosition : raw.offset,
            reachesEnd: logPosition != 0 && !header.isArtificial, checksumVerified: stream.lastEventChecksumVerified)
    }
}
