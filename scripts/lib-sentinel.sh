# shellcheck shell=bash disable=SC2034  # variables are used by the sourcing scripts
# scripts/lib-sentinel.sh — the private Redis Sentinel topology's helpers, sourced after lib.sh by
# scripts/redis-sentinel-start and scripts/redis-sentinel-stop:
#   source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#   source "$(dirname "${BASH_SOURCE[0]}")/lib-sentinel.sh"
#
# Environment (all optional):
#   BR_REDIS_SENTINEL_PORT  base port (default 27300): the first primary on BASE, its replica on
#                           BASE+1, the three sentinels on BASE+10..BASE+12
#   BR_REDIS_SENTINEL_NAME  the monitored master's name (default shop)
#   BR_REDIS_SENTINEL_PASSWORD   when set, the data nodes (primary, replica) get requirepass and
#                                masterauth with it, and the sentinels `sentinel auth-pass`
#   BR_REDIS_SENTINELS_PASSWORD  when set, the sentinels' own password: requirepass on each, and
#                                `sentinel sentinel-pass` so that they can talk to each other
#   BR_REDIS_SENTINELS_USER      with BR_REDIS_SENTINELS_PASSWORD: also an ACL user of that name on
#                                each sentinel (the sentinels then talk to each other as it)
# redis-cli is given the passwords through REDISCLI_AUTH, never argv.
# Each process's dir is $BR_STATE_DIR/redis-sentinel/PORT: redis.pid, redis.log (sentinels: also
# sentinel.conf, which the sentinel rewrites).

BR_REDIS_SENTINEL_PORT="${BR_REDIS_SENTINEL_PORT:-27300}"
BR_REDIS_SENTINEL_NAME="${BR_REDIS_SENTINEL_NAME:-shop}"
BR_REDIS_SENTINEL_DIR="$BR_STATE_DIR/redis-sentinel"
export BR_REDIS_SENTINEL_PORT

br_sentinel_data_ports() { echo "$BR_REDIS_SENTINEL_PORT"; echo $(( BR_REDIS_SENTINEL_PORT + 1 )); }
br_sentinel_ports() { local i; for i in 10 11 12; do echo $(( BR_REDIS_SENTINEL_PORT + i )); done; }
br_sentinel_all_ports() { br_sentinel_data_ports; br_sentinel_ports; }
br_sentinel_dir() { echo "$BR_REDIS_SENTINEL_DIR/$1"; }

# br_sentinel_pid PORT -> the pid of the process on PORT (by its pid file)
br_sentinel_pid() {
  br_live_pid "$(br_sentinel_dir "$1")/redis.pid" redis-server
}

# br_scli PORT [redis-cli args...] — redis-cli on one process, with its credentials (a sentinel's
# own, or the data nodes')
br_scli() {
  local port=$1; shift
  local pass=${BR_REDIS_SENTINEL_PASSWORD:-} user=()
  if (( port >= BR_REDIS_SENTINEL_PORT + 10 )); then
    pass=${BR_REDIS_SENTINELS_PASSWORD:-}
    [[ -n ${BR_REDIS_SENTINELS_USER:-} && -n $pass ]] && user=(--user "$BR_REDIS_SENTINELS_USER")
  fi
  # An empty REDISCLI_AUTH would still send AUTH: set it only with a password.
  if [[ -n $pass ]]; then
    REDISCLI_AUTH=$pass redis-cli --no-auth-warning -h "$BR_BIND" -p "$port" "${user[@]}" "$@"
  else
    env -u REDISCLI_AUTH redis-cli --no-auth-warning -h "$BR_BIND" -p "$port" "$@"
  fi
}

# br_sentinel_primary SENTINELPORT -> the port the sentinel names as the primary
br_sentinel_primary() {
  br_scli "$1" sentinel get-master-addr-by-name "$BR_REDIS_SENTINEL_NAME" 2>/dev/null | tr -d '\r' | sed -n 2p
}

# br_sentinel_master_field SENTINELPORT FIELD -> FIELD of SENTINEL MASTER name
br_sentinel_master_field() {
  br_scli "$1" sentinel master "$BR_REDIS_SENTINEL_NAME" 2>/dev/null | tr -d '\r' |
    awk -v f="$2" 'prev == f { print; exit } { prev = $0 }'
}

# br_sentinel_healthy -> 0 when the three sentinels name the same primary, that primary says
# role:master with one replica whose link is up, and each sentinel knows the other two.
br_sentinel_healthy() {
  local s p primary=""
  for s in $(br_sentinel_ports); do
    p=$(br_sentinel_primary "$s") || return 1
    [[ -n $p ]] || return 1
    [[ -z $primary || $p == "$primary" ]] || return 1
    primary=$p
    # Each knows the other two sentinels and the replica (else SENTINEL FAILOVER says NOGOODSLAVE).
    [[ $(br_sentinel_master_field "$s" num-other-sentinels) == 2 ]] || return 1
    [[ $(br_sentinel_master_field "$s" num-slaves) == 1 ]] || return 1
  done
  local info
  info=$(br_scli "$primary" info replication 2>/dev/null | tr -d '\r') || return 1
  grep -qx 'role:master' <<<"$info" && grep -q '^slave0:.*state=online' <<<"$info"
}

# br_sentinel_wait_healthy SECONDS -> 0 once br_sentinel_healthy, 1 on timeout
br_sentinel_wait_healthy() {
  local t=$(( $1 * 5 ))
  until br_sentinel_healthy; do
    (( t-- > 0 )) || return 1
    sleep 0.2
  done
}

# br_sentinel_failover — SENTINEL FAILOVER without losing an acknowledged write: writes are paused
# on the primary (CLIENT PAUSE WRITE) until its replica has every byte of the replication stream,
# then the sentinels promote the replica; once a quorum names it and it says ROLE master, the old
# primary is made its replica at once (the sentinels would do it about 8 s later; until then it
# would take writes that the new primary never sees) and unpaused: the writes it held back answer
# READONLY. Waits until the topology is healthy again; prints "OLD_PORT NEW_PORT" on stdout.
br_sentinel_failover() {
  local s0=$(( BR_REDIS_SENTINEL_PORT + 10 )) old new i master_off replica_off
  old=$(br_sentinel_primary "$s0")
  [[ -n $old ]] || br_die "sentinel $BR_BIND:$s0 names no primary for '$BR_REDIS_SENTINEL_NAME'"
  new=$(br_sentinel_data_ports | grep -vx "$old" | head -n 1)
  br_log "SENTINEL FAILOVER $BR_REDIS_SENTINEL_NAME: writes paused on $BR_BIND:$old until $BR_BIND:$new has caught up"
  [[ $(br_scli "$old" client pause 30000 write | tr -d '\r') == OK ]] || br_die "CLIENT PAUSE refused by $BR_BIND:$old"
  # From here on, a failure unpauses the old primary before it dies.
  br_sentinel_fail() { br_scli "$old" client unpause >/dev/null 2>&1 || true; br_die "$@"; }
  for (( i = 0; i < 100; i++ )); do
    master_off=$(br_scli "$old" info replication | tr -d '\r' | sed -n 's/^master_repl_offset://p')
    replica_off=$(br_scli "$new" info replication | tr -d '\r' | sed -n 's/^slave_repl_offset://p')
    [[ -n $master_off && $master_off == "$replica_off" ]] && break
    sleep 0.02
  done
  [[ -n $master_off && $master_off == "$replica_off" ]] || br_sentinel_fail "$BR_BIND:$new did not catch up with $BR_BIND:$old within 2 s (offsets $replica_off / $master_off)"
  # A sentinel that has just started may not know the replica yet (NOGOODSLAVE): retried. Any other
  # answer is final (sent again after an OK, it would fail back over).
  local out=""
  for (( i = 0; i < 50; i++ )); do
    out=$(br_scli "$s0" sentinel failover "$BR_REDIS_SENTINEL_NAME" 2>&1 | tr -d '\r')
    [[ $out == *NOGOODSLAVE* ]] || break
    sleep 0.2
  done
  [[ $out == OK ]] || br_sentinel_fail "SENTINEL FAILOVER refused by $BR_BIND:$s0: $out"
  br_log "SENTINEL FAILOVER accepted at_unix_ms=$(date +%s%3N)"
  local named s
  for (( i = 0; i < 300; i++ )); do
    named=0
    for s in $(br_sentinel_ports); do [[ $(br_sentinel_primary "$s") == "$new" ]] && named=$(( named + 1 )); done
    (( named >= 2 )) && [[ $(br_scli "$new" role 2>/dev/null | head -n 1 | tr -d '\r') == master ]] && break
    sleep 0.05
  done
  (( named >= 2 )) || br_sentinel_fail "no quorum names $BR_BIND:$new within 15 s"
  br_log "a quorum ($named of 3) names $BR_BIND:$new, which says ROLE master (at_unix_ms=$(date +%s%3N)); $BR_BIND:$old becomes its replica"
  br_scli "$old" replicaof "$BR_BIND" "$new" >/dev/null
  br_scli "$old" client unpause >/dev/null
  br_sentinel_wait_healthy 60 || br_die "the Sentinel topology did not settle within 60 s after the failover"
  br_log "$BR_BIND:$new is the primary now; $BR_BIND:$old its replica"
  echo "$old $new"
}
