# shellcheck shell=bash disable=SC2034  # variables are used by the sourcing scripts
# scripts/lib-cluster.sh — the private Redis Cluster's helpers, sourced after lib.sh by
# scripts/redis-cluster-start, scripts/redis-cluster-stop and scripts/redis-cluster:
#   source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#   source "$(dirname "${BASH_SOURCE[0]}")/lib-cluster.sh"
#
# Environment (all optional):
#   BR_REDIS_CLUSTER_PORT      first node's port (default 27100); the six nodes use BASE..BASE+5
#                              and their cluster bus ports BASE+10000..BASE+10005
#   BR_REDIS_CLUSTER_PASSWORD  when set, every node gets requirepass and masterauth with it (in a
#                              mode-600 auth.conf in its dir, not on its command line)
#                              (redis-cli is given it through REDISCLI_AUTH, never argv)
# Node N's dir is $BR_STATE_DIR/redis-cluster/PORT: redis.pid, redis.log, nodes.conf.

BR_REDIS_CLUSTER_PORT="${BR_REDIS_CLUSTER_PORT:-27100}"
BR_REDIS_CLUSTER_DIR="$BR_STATE_DIR/redis-cluster"
BR_REDIS_CLUSTER_NODES=6   # 3 masters, 3 replicas
export BR_REDIS_CLUSTER_PORT
if [[ -n ${BR_REDIS_CLUSTER_PASSWORD:-} ]]; then export REDISCLI_AUTH="$BR_REDIS_CLUSTER_PASSWORD"; fi

# br_cluster_ports -> the six node ports, one per line
br_cluster_ports() {
  local i
  for (( i = 0; i < BR_REDIS_CLUSTER_NODES; i++ )); do echo $(( BR_REDIS_CLUSTER_PORT + i )); done
}

br_cluster_node_dir() { echo "$BR_REDIS_CLUSTER_DIR/$1"; }

# br_cluster_node_pid PORT -> prints the pid of the node running on PORT (by its pid file)
br_cluster_node_pid() {
  br_live_pid "$(br_cluster_node_dir "$1")/redis.pid" redis-server
}

# br_ccli PORT [redis-cli args...] — redis-cli against one node (no -c: no redirect following)
br_ccli() { local port=$1; shift; redis-cli --no-auth-warning -h "$BR_BIND" -p "$port" "$@"; }

# br_cluster_info_field PORT FIELD -> the value of FIELD in CLUSTER INFO (e.g. cluster_state)
br_cluster_info_field() {
  br_ccli "$1" cluster info 2>/dev/null | tr -d '\r' | sed -n "s/^$2://p"
}

# br_cluster_myid PORT -> the node's 40-hex id
br_cluster_myid() { br_ccli "$1" cluster myid | tr -d '\r'; }

# br_cluster_role PORT -> master | slave
br_cluster_role() { br_ccli "$1" role 2>/dev/null | head -n 1 | tr -d '\r'; }

# br_cluster_masters -> the ports of the nodes that are masters with slots now, one per line,
# as node BASE sees them (CLUSTER NODES: id addr flags master ping pong epoch link slots...)
br_cluster_masters() {
  br_ccli "$BR_REDIS_CLUSTER_PORT" cluster nodes | tr -d '\r' |
    awk '$3 ~ /master/ && $3 !~ /fail/ && NF > 8 { split($2, a, "@"); n = split(a[1], hp, ":"); print hp[n] }' | sort -n
}

# br_cluster_replica_of PORT -> the port of a connected replica of the master on PORT
br_cluster_replica_of() {
  local id
  id=$(br_cluster_myid "$1")
  br_ccli "$1" cluster nodes | tr -d '\r' |
    awk -v id="$id" '$4 == id && $3 ~ /slave/ && $3 !~ /fail/ { split($2, a, "@"); n = split(a[1], hp, ":"); print hp[n]; exit }'
}

# br_cluster_healthy -> 0 when every node runs, says cluster_state:ok, every replica's link to
# its master is up, there are 3 replicas, and redis-cli --cluster check sees all slots covered and
# every node agreeing on the slot map.
br_cluster_healthy() {
  local port replicas=0 role
  for port in $(br_cluster_ports); do
    [[ $(br_cluster_info_field "$port" cluster_state) == ok ]] || return 1
    role=$(br_cluster_role "$port") || return 1
    if [[ $role == slave ]]; then
      replicas=$(( replicas + 1 ))
      br_ccli "$port" info replication | tr -d '\r' | grep -qx 'master_link_status:up' || return 1
    fi
  done
  (( replicas == BR_REDIS_CLUSTER_NODES / 2 )) || return 1
  local check
  check=$(redis-cli --no-auth-warning --cluster check "$BR_BIND:$BR_REDIS_CLUSTER_PORT" 2>&1) || return 1
  grep -q 'All nodes agree about slots configuration' <<<"$check" &&
    grep -q 'All 16384 slots covered' <<<"$check" &&
    ! grep -q '\[WARNING\]\|\[ERR\]' <<<"$check"
}

# br_cluster_wait_healthy SECONDS -> 0 once br_cluster_healthy, 1 on timeout
br_cluster_wait_healthy() {
  local t=$(( $1 * 5 ))
  until br_cluster_healthy; do
    (( t-- > 0 )) || return 1
    sleep 0.2
  done
}

# br_cluster_reshard SLOTS [FROM_PORT TO_PORT] — moves SLOTS slots (with their keys) from the
# master on FROM_PORT to the master on TO_PORT (default: the first two masters by port) with
# redis-cli --cluster reshard, then waits until the cluster is healthy again.
br_cluster_reshard() {
  local slots=$1 from=${2:-} to=${3:-}
  if [[ -z $from || -z $to ]]; then
    local masters
    mapfile -t masters < <(br_cluster_masters)
    (( ${#masters[@]} >= 2 )) || br_die "fewer than two masters with slots"
    from=${masters[0]} to=${masters[1]}
  fi
  br_log "resharding $slots slots from $BR_BIND:$from to $BR_BIND:$to"
  redis-cli --no-auth-warning --cluster reshard "$BR_BIND:$from" \
    --cluster-from "$(br_cluster_myid "$from")" --cluster-to "$(br_cluster_myid "$to")" \
    --cluster-slots "$slots" --cluster-yes >"$BR_REDIS_CLUSTER_DIR/reshard.log" 2>&1 ||
    { tail -n 20 "$BR_REDIS_CLUSTER_DIR/reshard.log" >&2; br_die "reshard failed (log: $BR_REDIS_CLUSTER_DIR/reshard.log)"; }
  br_cluster_wait_healthy 60 || br_die "the cluster did not settle within 60 s after the reshard"
  br_log "resharded $slots slots"
}

# br_cluster_failover MASTER_PORT — CLUSTER FAILOVER on a replica of that master (a coordinated
# failover: the master stops taking writes until the replica has everything, so nothing is
# lost); waits until the replica is a master and the cluster is healthy; prints the new
# master's port on stdout.
br_cluster_failover() {
  local master=$1 replica i
  replica=$(br_cluster_replica_of "$master")
  [[ -n $replica ]] || br_die "no connected replica of $BR_BIND:$master"
  br_log "CLUSTER FAILOVER on $BR_BIND:$replica (replica of $BR_BIND:$master)"
  [[ $(br_ccli "$replica" cluster failover | tr -d '\r') == OK ]] || br_die "CLUSTER FAILOVER refused by $BR_BIND:$replica"
  for (( i = 0; i < 300; i++ )); do
    [[ $(br_cluster_role "$replica") == master ]] && break
    sleep 0.1
  done
  [[ $(br_cluster_role "$replica") == master ]] || br_die "$BR_BIND:$replica did not become master within 30 s"
  br_cluster_wait_healthy 60 || br_die "the cluster did not settle within 60 s after the failover"
  br_log "$BR_BIND:$replica is the master now; $BR_BIND:$master its replica"
  echo "$replica"
}
