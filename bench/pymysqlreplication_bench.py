"""python-mysql-replication reference for scripts/bench-replication.

Streams FILE:4 to the current end (blocking=False) with only UPDATE_ROWS events, decodes every
row (event.rows) and prints one JSON line. Password from $BR_MYSQL_PASSWORD.
Usage: python3 bench/pymysqlreplication_bench.py HOST PORT USER FILE SERVER_ID
"""
import json
import os
import sys
import time

from pymysqlreplication import BinLogStreamReader
from pymysqlreplication.row_event import UpdateRowsEvent


def main():
    host, port, user, log_file, server_id = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5])
    settings = {"host": host, "port": port, "user": user, "passwd": os.environ["BR_MYSQL_PASSWORD"]}
    t0 = time.monotonic()
    stream = BinLogStreamReader(
        connection_settings=settings, server_id=server_id, blocking=False, resume_stream=True,
        log_file=log_file, log_pos=4, only_events=[UpdateRowsEvent])
    events = rows = 0
    for event in stream:
        events += 1
        rows += len(event.rows)
    stream.close()
    seconds = time.monotonic() - t0
    print(json.dumps({"tool": "python-mysql-replication", "update_rows_events": events, "rows": rows,
                      "seconds": round(seconds, 3)}))


if __name__ == "__main__":
    main()
