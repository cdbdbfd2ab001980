#!/usr/bin/env python3
"""Release robustness pass: `binlog-reconciler events` and `analyze` over every fixture binlog and
over mutated copies of them. Run by scripts/mutated-binlogs (see there for the contract).

`analyze` selects the table most TABLE_MAP events of the original name (`--key @1 --value @2`),
so that its rows are decoded. Every run must end within the timeout with exit 0 or a clean error exit (1 with a
`binlog-reconciler: ` message on stderr), under 512 MB peak RSS: a signal, another exit status, a
Swift runtime error ("Fatal error", "Crash"), a timeout or more memory is a failure.

Mutations are deterministic (seeded from the file name and the mutation's index):
  flip-N     N random bytes after the magic XOR-ed with a random non-zero byte (N = 1, 4, 16, 64);
             flip-1 keeps CRC32 verification on, the others run with --no-verify-checksum so the
             damaged bodies are decoded rather than refused by their checksum
  cut-K      the file truncated: inside 4 random event headers (an event's start + 1..18), and at
             25/50/90 % of the file
  size-V     one event header's event_size replaced by a hostile value (0, 18, 19, the real size
             +-1, 2^30, 2^31-1, 2^32-1)
  lenenc-K   a length field inside an event body forged: 0xFE followed by 8 0xFF bytes (a
             length-encoded 2^64-1), 0xFC 0xFF 0xFF, or 4 0xFF bytes, at a random place in a
             random event's body (checksum not verified)
"""
import hashlib
import os
import random
import re
import struct
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor

RSS_LIMIT_KB = 512 * 1024
MAGIC = b"\xfebin"


def events_of(data):
    """(offset, size) of each top-level event whose header fits, stepping by event_size."""
    out, pos = [], 4
    while pos + 19 <= len(data):
        size = struct.unpack_from("<I", data, pos + 9)[0]
        if size < 19:
            break
        out.append((pos, size))
        pos += size
    return out


def mutations(name, data):
    """Yields (label, bytes, verify_checksum)."""
    seed = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "little")
    evs = events_of(data) if data[:4] == MAGIC else []
    n = len(data)
    for i, count in enumerate([1, 4, 16, 64]):
        rng = random.Random(seed * 100 + i)
        b = bytearray(data)
        for _ in range(count):
            if n > 4:
                p = rng.randrange(4, n)
                b[p] ^= rng.randrange(1, 256)
        yield f"flip-{count}", bytes(b), i == 0
    rng = random.Random(seed * 100 + 10)
    cuts = []
    if len(evs) > 1:
        for _ in range(4):
            off, _size = evs[rng.randrange(1, len(evs))]
            cuts.append(off + rng.randrange(1, 19))
    cuts += [n * 25 // 100, n // 2, n * 90 // 100]
    for k, c in enumerate(cuts):
        yield f"cut-{k}@{c}", data[:c], True
    if evs:
        rng = random.Random(seed * 100 + 20)
        for k, value in enumerate(["0", "18", "19", "+1", "-1", str(1 << 30), str((1 << 31) - 1), str((1 << 32) - 1)]):
            off, size = evs[rng.randrange(len(evs))]
            v = size + int(value) if value[0] in "+-" else int(value)
            b = bytearray(data)
            struct.pack_into("<I", b, off + 9, v & 0xFFFFFFFF)
            yield f"size-{value}@{off}", bytes(b), True
        rng = random.Random(seed * 100 + 30)
        forged = [b"\xfe" + b"\xff" * 8, b"\xfc\xff\xff", b"\xff" * 4]
        bodies = [(o, s) for o, s in evs if s > 19 + 4]
        for k in range(6):
            if not bodies:
                break
            off, size = bodies[rng.randrange(len(bodies))]
            f = forged[k % len(forged)]
            p = off + 19 + rng.randrange(0, max(1, size - 19 - len(f)))
            b = bytearray(data)
            b[p:p + len(f)] = f[: max(0, min(len(f), off + size - p))]
            yield f"lenenc-{k}@{p}", bytes(b[: len(data)]), False


def run(binary, args, timeout):
    """(status, signal, rss_kb, seconds, stderr) ; status None on timeout."""
    t0 = time.monotonic()
    with tempfile.TemporaryFile() as err:
        pid = os.fork()
        if pid == 0:
            try:
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, 1)
                os.dup2(err.fileno(), 2)
                os.environ["SWIFT_BACKTRACE"] = "enable=no"
                os.execv(binary, [binary] + args)
            finally:
                os._exit(127)
        deadline = t0 + timeout
        delay = 0.001
        while True:
            wpid, status, ru = os.wait4(pid, os.WNOHANG)
            if wpid == pid:
                break
            if time.monotonic() > deadline:
                os.kill(pid, 9)
                os.wait4(pid, 0)
                err.seek(0)
                return None, None, 0, time.monotonic() - t0, err.read().decode(errors="replace")
            time.sleep(delay)
            delay = min(delay * 2, 0.02)
        err.seek(0)
        text = err.read().decode(errors="replace")
    secs = time.monotonic() - t0
    if os.WIFSIGNALED(status):
        return None, os.WTERMSIG(status), ru.ru_maxrss, secs, text
    return os.WEXITSTATUS(status), None, ru.ru_maxrss, secs, text


FATAL = re.compile(r"Fatal error|Crash|Illegal instruction|Segmentation fault|Trace/breakpoint|Aborted|Stack dump")


def main():
    binary, workdir, timeout = sys.argv[1], sys.argv[2], float(sys.argv[3])
    files = sys.argv[4:]
    os.makedirs(workdir, exist_ok=True)
    stats = {"files": 0, "mutations": 0, "runs": 0, "ok": 0, "clean_errors": 0, "located": 0, "failures": 0}
    lock = threading.Lock()
    failures = []
    t0 = time.monotonic()
    max_secs = [0.0, ""]
    max_rss = [0, ""]

    def busiest_table(path):
        """The table most TABLE_MAP events of the original name, so that `analyze` decodes rows."""
        import collections, json, subprocess
        out = subprocess.run([binary, "events", "--no-verify-checksum", path], capture_output=True, timeout=timeout).stdout
        counts = collections.Counter()
        for line in out.splitlines():
            if b'"TABLE_MAP_EVENT"' in line:
                try:
                    counts[json.loads(line).get("table", "")] += 1
                except ValueError:
                    pass
        counts.pop("", None)
        return counts.most_common(1)[0][0] if counts else "d.t"

    def check(label, path, verify, table):
        for cmd in ("events", "analyze"):
            args = [cmd, path]
            if cmd == "analyze":
                args += ["--table", table, "--key", "@1", "--value", "@2"]
            if not verify:
                args.append("--no-verify-checksum")
            status, sig, rss, secs, err = run(binary, args, timeout)
            bad = None
            if status is None and sig is None:
                bad = f"timeout after {timeout:.0f} s"
            elif sig is not None:
                bad = f"killed by signal {sig}"
            elif FATAL.search(err):
                bad = "runtime error: " + FATAL.search(err).group(0)
            elif status not in (0, 1):
                bad = f"exit status {status}"
            elif status == 1 and "binlog-reconciler: " not in err:
                bad = "exit 1 without an error message"
            elif rss > RSS_LIMIT_KB:
                bad = f"peak RSS {rss} KB over 512 MB"
            last = err.strip().splitlines()[-1][:200] if err.strip() else ""
            with lock:
                stats["runs"] += 1
                if secs > max_secs[0]:
                    max_secs[:] = [secs, f"{cmd} {label}"]
                if rss > max_rss[0]:
                    max_rss[:] = [rss, f"{cmd} {label}"]
                if bad:
                    stats["failures"] += 1
                    failures.append(f"FAIL {cmd} {label}{'' if verify else ' --no-verify-checksum'}: {bad}\n     {last}")
                elif status == 0:
                    stats["ok"] += 1
                else:
                    stats["clean_errors"] += 1
                    if re.search(r"binlog-reconciler: .*:[0-9]+: ", err):
                        stats["located"] += 1

    def one_file(src):
        with open(src, "rb") as f:
            data = f.read()
        name = os.path.basename(src)
        table = busiest_table(src)
        check(name, src, True, table)
        tmp = os.path.join(workdir, f"{threading.get_ident()}-{name}")
        count = 0
        for label, b, verify in mutations(name, data):
            with open(tmp, "wb") as f:
                f.write(b)
            check(f"{name}:{label}", tmp, verify, table)
            count += 1
        os.unlink(tmp)
        with lock:
            stats["files"] += 1
            stats["mutations"] += count

    with ThreadPoolExecutor(max_workers=max(1, min(2, os.cpu_count() or 1))) as pool:
        list(pool.map(one_file, files))
    for f in failures:
        print(f, file=sys.stderr)
    secs = time.monotonic() - t0
    print(
        f"mutated-binlogs: {stats['files']} files, {stats['mutations']} mutated copies, {stats['runs']} runs "
        f"(events + analyze): {stats['ok']} exit 0, {stats['clean_errors']} clean errors "
        f"({stats['located']} located FILE:OFFSET), {stats['failures']} failures; {secs:.1f} s "
        f"(slowest run {max_secs[0]:.2f} s: {max_secs[1]}; largest peak RSS {max_rss[0] // 1024} MB: {max_rss[1]})",
        file=sys.stderr,
    )
    sys.exit(1 if stats["failures"] else 0)


if __name__ == "__main__":
    main()
