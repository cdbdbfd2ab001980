# shellcheck shell=bash disable=SC2034  # variables are used by the sourcing scripts
# scripts/lib.sh — shared helpers, sourced by the other scripts (not run on its own):
#   source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#
# Environment (all optional):
#   BR_STATE_DIR    state dir for private servers   (default: $REPO/.state)
#   BR_MYSQL_PORT   port of the private MariaDB     (default: 23306)
#   BR_REDIS_PORT   port of the private Redis       (default: 26379)
# Everything binds to 127.0.0.1 only.

set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BR_STATE_DIR="${BR_STATE_DIR:-$REPO/.state}"
BR_MYSQL_PORT="${BR_MYSQL_PORT:-23306}"
BR_REDIS_PORT="${BR_REDIS_PORT:-26379}"
BR_BIND=127.0.0.1
BR_MARIADB_DIR="$BR_STATE_DIR/mariadb"   # main instance: data/, mysqld.sock, mysqld.pid, error.log
BR_REDIS_DIR="$BR_STATE_DIR/redis"       # redis.pid, redis.log, dump dir
export BR_STATE_DIR BR_MYSQL_PORT BR_REDIS_PORT

br_log() { printf '[%s] %s\n' "$(basename "$0")" "$*" >&2; }
br_die() { br_log "error: $*"; exit 1; }

# .gitignore in the repo root: create it if missing, make sure .state/ is listed.
br_ensure_gitignore() {
  local gi="$REPO/.gitignore"
  if [[ ! -e $gi ]]; then
    printf '%s\n' '.build/' '.build-*/' 'Package.resolved' '.state/' >"$gi"
  elif ! grep -qxF '.state/' "$gi"; then
    [[ -z $(tail -c1 "$gi") ]] || echo >>"$gi"
    echo '.state/' >>"$gi"
  fi
}

# br_port_busy PORT -> 0 if something accepts TCP connections on 127.0.0.1:PORT
br_port_busy() { (exec 3<>"/dev/tcp/$BR_BIND/$1") 2>/dev/null; }

# br_pid_gone PID -> 0 when PID is no running process: gone, or a zombie (killed and not yet
# reaped: a daemonized server's parent is init, which may take tens of seconds to reap it)
br_pid_gone() {
  kill -0 "$1" 2>/dev/null || return 0
  [[ $(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) == Z ]]
}

# br_live_pid PIDFILE COMM -> prints the pid and returns 0 if PIDFILE names a live
# process whose command name is COMM (guards against recycled pids; a zombie is not live).
br_live_pid() {
  local pidfile=$1 comm=$2 pid
  [[ -r $pidfile ]] || return 1
  pid=$(tr -dc '0-9' <"$pidfile")
  [[ -n $pid ]] || return 1
  br_pid_gone "$pid" && return 1
  [[ $(cat "/proc/$pid/comm" 2>/dev/null) == "$comm"* ]] || return 1
  echo "$pid"
}

# br_wait_exit PID TIMEOUT_SECONDS -> 0 once PID is gone (or a zombie), 1 on timeout
br_wait_exit() {
  local pid=$1 t=$(( $2 * 10 ))
  until br_pid_gone "$pid"; do
    (( t-- > 0 )) || return 1
    sleep 0.1
  done
}

# ---------------------------------------------------------------- MariaDB ---
# An "instance dir" DIR holds: data/ (datadir, binlogs mysql-bin.* inside),
# mysqld.sock, mysqld.pid, error.log, install.log.

br_mdb_sock() { echo "$1/mysqld.sock"; }
br_mdb_pid()  { br_live_pid "$1/mysqld.pid" mariadbd; }

# br_mdb_client DIR [mariadb args...] — root via the instance's socket
br_mdb_client() {
  local dir=$1; shift
  mariadb --no-defaults --protocol=socket -S "$dir/mysqld.sock" -uroot \
    --default-character-set=utf8mb4 "$@"
}

# br_mdb_init DIR — initialise DIR/data with mariadb-install-db if absent
br_mdb_init() {
  local dir=$1
  [[ -d $dir/data/mysql ]] && return 0
  mkdir -p "$dir"
  rm -rf "$dir/data"
  br_log "initialising datadir $dir/data"
  if ! mariadb-install-db --no-defaults --user=root --basedir=/usr \
        --datadir="$dir/data" --auth-root-authentication-method=socket \
        --skip-test-db --skip-name-resolve >"$dir/install.log" 2>&1; then
    tail -n 30 "$dir/install.log" >&2
    br_die "mariadb-install-db failed (log: $dir/install.log)"
  fi
}

# br_mdb_start DIR PORT [extra mariadbd options...]
# Starts mariadbd for instance DIR (initialising it if needed) and waits up to
# 60 s until it accepts connections. Returns 0 at once if it already runs.
br_mdb_start() {
  local dir=$1 port=$2; shift 2
  local pid sock="$dir/mysqld.sock"
  if pid=$(br_mdb_pid "$dir"); then
    br_log "MariaDB ($dir) already running, pid $pid"
    (( $# == 0 )) || br_log "warning: it runs with the options it was started with; ignoring: $*"
    return 0
  fi
  (( ${#sock} < 100 )) || br_die "socket path too long (${#sock} chars): $sock — use a shorter BR_STATE_DIR"
  br_port_busy "$port" && br_die "port $port on $BR_BIND is already in use by another process"
  br_mdb_init "$dir"
  rm -f "$sock" "$sock.lock" "$dir/mysqld.pid"
  : >>"$dir/error.log"
  local errlog_start
  errlog_start=$(wc -l <"$dir/error.log")
  setsid mariadbd --no-defaults --user=root --basedir=/usr \
    --datadir="$dir/data" \
    --socket="$sock" --pid-file="$dir/mysqld.pid" --log-error="$dir/error.log" \
    --bind-address="$BR_BIND" --port="$port" --skip-name-resolve \
    --log-bin=mysql-bin --server-id=1 --log-slave-updates \
    --binlog-format=ROW --binlog-row-image=FULL --binlog-row-metadata=FULL \
    --binlog-checksum=CRC32 \
    --innodb-buffer-pool-size=256M --innodb-flush-log-at-trx-commit=2 --sync-binlog=0 \
    --max-allowed-packet=64M \
    --character-set-server=utf8mb4 --collation-server=utf8mb4_general_ci \
    "$@" </dev/null >>"$dir/console.log" 2>&1 &
  pid=$!
  local i
  for (( i = 0; i < 600; i++ )); do
    if ! kill -0 "$pid" 2>/dev/null; then
      br_log "mariadbd exited during startup; error log tail ($dir/error.log):"
      tail -n +"$((errlog_start + 1))" "$dir/error.log" | tail -n 30 >&2
      tail -n 5 "$dir/console.log" >&2 || true
      return 1
    fi
    if [[ -S $sock ]] && mariadb-admin --no-defaults --protocol=socket -S "$sock" -uroot \
         --connect-timeout=2 ping >/dev/null 2>&1; then
      br_log "MariaDB ($dir) up, pid $pid, port $port, socket $sock"
      return 0
    fi
    sleep 0.1
  done
  br_log "MariaDB did not accept connections within 60 s; error log tail ($dir/error.log):"
  tail -n +"$((errlog_start + 1))" "$dir/error.log" | tail -n 30 >&2
  return 1
}

# br_mdb_stop DIR — stop the instance started from DIR (via its pid file); no
# error if it does not run. Waits for it to exit (SIGKILL after 120 s).
br_mdb_stop() {
  local dir=$1 pid
  if ! pid=$(br_mdb_pid "$dir"); then
    br_log "MariaDB ($dir) not running"
    return 0
  fi
  br_log "stopping MariaDB ($dir), pid $pid"
  kill -TERM "$pid"
  if ! br_wait_exit "$pid" 120; then
    br_log "warning: pid $pid did not exit within 120 s, sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    br_wait_exit "$pid" 10 || br_die "pid $pid does not die"
  fi
  rm -f "$dir/mysqld.pid"
  br_log "MariaDB ($dir) stopped"
}

# br_mdb_create_users DIR — reconciler (minimal replication grants) and br_admin (all)
br_mdb_create_users() {
  br_mdb_client "$1" <<'SQL'
SET SESSION sql_log_bin = 0;
CREATE USER IF NOT EXISTS 'reconciler'@'127.0.0.1' IDENTIFIED BY 'reconciler';
CREATE USER IF NOT EXISTS 'reconciler'@'localhost' IDENTIFIED BY 'reconciler';
GRANT REPLICATION SLAVE, REPLICATION CLIENT, SELECT ON *.* TO 'reconciler'@'127.0.0.1';
GRANT REPLICATION SLAVE, REPLICATION CLIENT, SELECT ON *.* TO 'reconciler'@'localhost';
CREATE USER IF NOT EXISTS 'br_admin'@'127.0.0.1' IDENTIFIED BY 'br_admin';
CREATE USER IF NOT EXISTS 'br_admin'@'localhost' IDENTIFIED BY 'br_admin';
GRANT ALL PRIVILEGES ON *.* TO 'br_admin'@'127.0.0.1' WITH GRANT OPTION;
GRANT ALL PRIVILEGES ON *.* TO 'br_admin'@'localhost' WITH GRANT OPTION;
SQL
}

# ------------------------------------------------------------------ Redis ---
br_redis_pid() { br_live_pid "$BR_REDIS_DIR/redis.pid" redis-server; }
