#!/usr/bin/env python3
"""Usage: scripts/hostile-binlogs.py DIR

Writes hostile binlog files into DIR (for scripts/hostile-files) and prints, one per line,
"NAME EXPECTED_EXIT": 1 for files that must end in a located error, 0 for files that are valid
but expensive to print. Only the standard library: zlib for MariaDB's compressed events, and zstd
frames written by hand (raw and RLE blocks) for the TRANSACTION_PAYLOAD bomb.
"""
import os
import struct
import sys
import zlib


def lenenc(v):
    if v < 251:
        return bytes([v])
    if v < 1 << 16:
        return b"\xfc" + struct.pack("<H", v)
    if v < 1 << 24:
        return b"\xfd" + struct.pack("<I", v)[:3]
    return b"\xfe" + struct.pack("<Q", v)


def event(code, body, checksum=True):
    size = 19 + len(body) + (4 if checksum else 0)
    e = struct.pack("<IBIIIH", 1_700_000_000, code, 1, size, 0, 0) + body
    if checksum:
        e += struct.pack("<I", zlib.crc32(e) & 0xFFFFFFFF)
    return e


MYSQL80_POST_HEADERS = bytes([
    0, 13, 0, 8, 0, 0, 0, 0, 4, 0, 4, 0, 0, 0, 98, 0, 4, 26, 8, 0, 0, 0, 8, 8, 8, 2, 0, 0, 0, 10, 10, 10, 42, 42, 0,
    18, 52, 0, 10, 40, 0, 0,
])


def fde():
    version = b"8.0.35".ljust(50, b"\0")
    body = struct.pack("<H", 4) + version + struct.pack("<I", 1_700_000_000) + bytes([19]) + MYSQL80_POST_HEADERS + bytes([1])
    return event(15, body)


def table_map(table_id, types, metadata=b""):
    body = struct.pack("<Q", table_id)[:6] + struct.pack("<H", 1)
    body += b"\x01d\x00\x01t\x00" + lenenc(len(types)) + bytes(types)
    body += lenenc(len(metadata)) + metadata + b"\xff" * ((len(types) + 7) // 8)
    return event(19, body)


def binlog(*events):
    return b"\xfebin" + b"".join(events)


def json_bomb(depth=60):
    # A small array per level whose two entries both point at the next level: 2^depth values.
    doc = b"\x02"
    for level in range(depth):
        doc += struct.pack("<HH", 2, 10 * (depth - level) + 4) + b"\x02\x0a\x00" * 2
    doc += struct.pack("<HH", 0, 4)
    row = b"\x00" + struct.pack("<I", len(doc)) + doc
    rows = struct.pack("<Q", 7)[:6] + struct.pack("<HH", 1, 2) + lenenc(1) + b"\xff" + row
    return binlog(fde(), table_map(7, [245], b"\x04"), event(30, rows))


def zlib_zeros(n):
    c = zlib.compressobj(9)
    out = []
    block = bytes(1 << 20)
    while n > 0:
        k = min(n, len(block))
        out.append(c.compress(block[:k]))
        n -= k
    out.append(c.flush())
    return b"".join(out)


def mariadb_compressed(declared, stream):
    return bytes([0x84]) + struct.pack(">I", declared) + stream


def mariadb_zlib_bomb():
    # WRITE_ROWS_COMPRESSED_EVENT_V1 declaring (and holding) 512 MiB of zeros in ~0.5 MB.
    declared = 512 << 20
    rows = struct.pack("<Q", 7)[:6] + struct.pack("<H", 1) + lenenc(1) + b"\xff"
    rows += mariadb_compressed(declared, zlib_zeros(declared))
    return binlog(fde(), table_map(7, [3]), event(166, rows))


def mariadb_rows_amplifier():
    # Valid: 4,096 nullable columns, every row NULL (a 512-byte bitmap): 4 MiB of row images
    # compressed to a few KB, each row printed as 4,096 nulls.
    columns = 4096
    row = b"\xff" * (columns // 8)
    data = row * ((4 << 20) // len(row))
    rows = struct.pack("<Q", 7)[:6] + struct.pack("<H", 1) + lenenc(columns) + b"\xff" * (columns // 8)
    rows += mariadb_compressed(len(data), zlib.compress(data, 9))
    return binlog(fde(), table_map(7, [3] * columns), event(166, rows))


def zstd_bomb(head, zeros):
    # Frame header: no content size, not single-segment, window 128 KiB; then a raw block with
    # `head` and RLE blocks of zeros (4 bytes per 128 KiB).
    out = bytearray(struct.pack("<I", 0xFD2FB528) + b"\x00\x38")

    def block(last, kind, size):
        h = (1 if last else 0) | kind << 1 | size << 3
        out.extend(struct.pack("<I", h)[:3])

    block(zeros == 0, 0, len(head))
    out.extend(head)
    while zeros > 0:
        n = min(zeros, 128 << 10)
        zeros -= n
        block(zeros == 0, 1, n)
        out.append(0)
    return bytes(out)


def zstd_payload_bomb():
    # One inner event declaring 1 GiB - 1, then that many zeros: ~30 KB on disk.
    size = (1 << 30) - 1
    head = struct.pack("<IBIIIH", 0, 200, 1, size, 0, 0)
    compressed = zstd_bomb(head, size - 19)
    psize = lenenc(len(compressed))
    body = lenenc(2) + lenenc(1) + lenenc(0) + lenenc(1) + lenenc(len(psize)) + psize + lenenc(0) + compressed
    return binlog(fde(), event(40, body))


def wide_table_maps():
    # Six table maps of a million columns each: ~6 MB on disk.
    wide = table_map(7, [3] * 1_000_000)
    return binlog(fde(), *([wide] * 6))


def many_table_maps():
    # 400 table maps of 4,096 columns with distinct ids and no rows event ending the statement.
    return binlog(fde(), *[table_map(100 + i, [3] * 4096) for i in range(400)])


def huge_event_header():
    # The last header declares 1 GiB - 1 bytes; 3 follow.
    return binlog(fde(), struct.pack("<IBIIIH", 0, 2, 1, (1 << 30) - 1, 0, 0) + b"\x01\x02\x03")


FILES = [
    ("json-bomb.binlog", json_bomb, 1),
    ("mariadb-zlib-bomb.binlog", mariadb_zlib_bomb, 1),
    ("mariadb-rows-amplifier.binlog", mariadb_rows_amplifier, 0),
    ("zstd-payload-bomb.binlog", zstd_payload_bomb, 1),
    ("wide-table-maps.binlog", wide_table_maps, 1),
    ("many-table-maps.binlog", many_table_maps, 1),
    ("huge-event-header.binlog", huge_event_header, 1),
]


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    for name, make, expected in FILES:
        with open(os.path.join(out, name), "wb") as f:
            f.write(make())
        print(name, expected)


if __name__ == "__main__":
    main()
