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

br_scli() { local port=$1; shift; redis-cli --no-auth-warning -h "$BR_BIND" -p "$port" "$@"; }

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
