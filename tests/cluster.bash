# shellcheck shell=bash disable=SC2154
# cluster.bash: a Redis Cluster (3 masters, 3 replicas) or a Sentinel
# setup (a master, a replica, 3 sentinels), started by the test in its own
# directory on free ports, each server recorded by PID and killed by PID in
# teardown (helpers.bash).  A cluster node's bus port is its port + 10000,
# so both must be free.  Keys are written with redis-py (python3-redis),
# one command at a time, so that their creation order is known.

# A free port whose bus port (+10000) is free too.
cluster_port() {
	$PY - <<-'EOF'
		import socket
		for _ in range(200):
		    a = socket.socket(); a.bind(("127.0.0.1", 0)); p = a.getsockname()[1]
		    if p + 10000 > 65535 or p == 6379:
		        a.close(); continue
		    b = socket.socket()
		    try:
		        b.bind(("127.0.0.1", p + 10000))
		    except OSError:
		        a.close(); b.close(); continue
		    a.close(); b.close(); print(p); break
	EOF
}

# node_spawn NAME PORT ARGS...: one redis-server on 127.0.0.1:PORT.
node_spawn() {
	local name=$1 port=$2

	shift 2
	mkdir -p "$TEST_DIR/$name"
	echo 127.0.0.1 >"$TEST_DIR/$name.host"
	echo "$port" >"$TEST_DIR/$name.port"
	redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --daemonize no \
		--dir "$TEST_DIR/$name" "$@" >>"$TEST_DIR/$name.log" 2>&1 3>&- </dev/null &
	record_pid "redis-$name" "$!"
	wait_for -t 10 redis_ready "$name" || fail "redis $name did not come up: $(tail -n 5 "$TEST_DIR/$name.log")"
}

# cluster_start: six nodes c1..c6 (c1-c3 masters, c4-c6 their replicas),
# every slot covered, cluster_state ok everywhere.  Sets SEEDS to two
# masters' addresses.
cluster_start() {
	local i port addrs=()

	for i in 1 2 3 4 5 6; do
		port=$(cluster_port)
		node_spawn "c$i" "$port" --cluster-enabled yes --cluster-config-file nodes.conf \
			--cluster-node-timeout 1000
		addrs+=("127.0.0.1:$port")
	done
	redis-cli --cluster create "${addrs[@]}" --cluster-replicas 1 --cluster-yes \
		>"$TEST_DIR/cluster-create.log" 2>&1 || fail "cluster create: $(tail -n 20 "$TEST_DIR/cluster-create.log")"
	for i in 1 2 3 4 5 6; do
		wait_for -t 20 cluster_ok "c$i"
	done
	# A replica knows its master only once it has synced: wait for all three.
	wait_for -t 20 cluster_replicas_synced
	SEEDS="${addrs[0]} ${addrs[1]}"
}

cluster_ok() {
	redis_cli "$1" cluster info | grep -q '^cluster_state:ok'
}

cluster_replicas_synced() {
	local i

	for i in 4 5 6; do
		redis_cli "c$i" info replication | grep -q '^master_link_status:up' || return 1
	done
}

# The nodes (c1..c6) that are masters now, as names.
cluster_masters() {
	local i

	for i in 1 2 3 4 5 6; do
		[[ -f $TEST_DIR/c$i.port ]] && kill -0 "$(pid_of "redis-c$i")" 2>/dev/null || continue
		redis_cli "c$i" role 2>/dev/null | head -n 1 | grep -qx master && echo "c$i"
	done
}

# cluster_py SCRIPT ARGS...: runs python with rc, a RedisCluster on the seeds.
cluster_py() {
	local script=$1

	shift
	$PY - "${SEEDS%% *}" "$@" <<-EOF
		import sys, redis, redis.cluster
		host, port = sys.argv[1].rsplit(":", 1)
		rc = redis.cluster.RedisCluster(host=host, port=int(port))
		args = sys.argv[2:]
		$script
	EOF
}

# cluster_put FROM TO: SET k:NNNNN for i = FROM..TO, one at a time, in
# order.  During a resharding redis-py may give up on a redirect: each key
# is tried again, a bounded number of times.
cluster_put() {
	cluster_py '
import time
for i in range(int(args[0]), int(args[1]) + 1):
    for attempt in range(50):
        try:
            rc.set("k:%05d" % i, "v%05d" % i)
            break
        except redis.exceptions.RedisError:
            time.sleep(0.02)
            rc = redis.cluster.RedisCluster(host=host, port=int(port))
    else:
        sys.exit("k:%05d: not written" % i)' "$1" "$2"
}

# cluster_keys: every k:* key on the masters, sorted.
cluster_keys() {
	local m

	for m in $(cluster_masters); do
		redis_cli "$m" --scan --pattern 'k:*'
	done | sort
}

# slot_of KEY: its hash slot, as the cluster computes it.
slot_of_key() {
	redis_cli c1 cluster keyslot "$1"
}

# ---- Sentinel --------------------------------------------------------------------

# rcli NAME ARGS...: redis_cli with the password of the Sentinel setup's
# nodes (NODE_PW) or sentinels (SENTINEL_PW), when the test set one.
rcli() {
	local name=$1 pw=

	shift
	case $name in
	m*) pw=${NODE_PW:-} ;;
	s*) pw=${SENTINEL_PW:-} ;;
	esac
	if [[ -n $pw ]]; then
		redis_cli "$name" -a "$pw" --no-auth-warning "$@"
	else
		redis_cli "$name" "$@"
	fi
}

# sentinel_start: master m1, replica m2, sentinels s1..s3 watching "gcs"
# with down-after 1000 ms; with NODE_PW the nodes, with SENTINEL_PW the
# sentinels want a password.  Sets SENTINELS.
sentinel_start() {
	local i port mport conf auth=()

	[[ -z ${NODE_PW:-} ]] || auth=(--requirepass "$NODE_PW" --masterauth "$NODE_PW")
	node_spawn m1 "$(free_port)" ${auth[@]+"${auth[@]}"}
	mport=$(redis_port m1)
	node_spawn m2 "$(free_port)" --replicaof 127.0.0.1 "$mport" ${auth[@]+"${auth[@]}"}
	wait_for -t 20 eval "rcli m2 info replication | grep -q '^master_link_status:up'"
	SENTINELS=
	for i in 1 2 3; do
		port=$(free_port)
		conf=$TEST_DIR/s$i.conf
		cat >"$conf" <<-EOF
			port $port
			bind 127.0.0.1
			dir $TEST_DIR
			sentinel monitor gcs 127.0.0.1 $mport 2
			sentinel down-after-milliseconds gcs 1000
			sentinel failover-timeout gcs 4000
			sentinel parallel-syncs gcs 1
		EOF
		[[ -z ${NODE_PW:-} ]] || printf 'sentinel auth-pass gcs %s\n' "$NODE_PW" >>"$conf"
		[[ -z ${SENTINEL_PW:-} ]] || printf 'requirepass %s\n' "$SENTINEL_PW" >>"$conf"
		echo 127.0.0.1 >"$TEST_DIR/s$i.host"
		echo "$port" >"$TEST_DIR/s$i.port"
		redis-server "$conf" --sentinel >>"$TEST_DIR/s$i.log" 2>&1 3>&- </dev/null &
		record_pid "redis-s$i" "$!"
		wait_for -t 10 redis_ready "s$i"
		SENTINELS+="${SENTINELS:+ }127.0.0.1:$port"
	done
	wait_for -t 20 sentinels_agree "127.0.0.1 $mport"
}

# The master the sentinels name, as "host port".
sentinel_master_addr() {
	rcli "$1" sentinel get-master-addr-by-name gcs | paste -sd ' '
}

sentinels_agree() {
	local i

	for i in 1 2 3; do
		kill -0 "$(pid_of "redis-s$i")" 2>/dev/null || continue
		[[ $(sentinel_master_addr "s$i") == "$1" ]] || return 1
	done
}

# cluster_check_oldest N: of k:00001..k:N, on each master (by the slots it
# owns now) the keys left must be the newest: nothing older than a key
# still there is gone.  Prints how many are gone.
cluster_check_oldest() {
	cluster_py '
n = int(args[0])
byport, bad = {}, []
for i in range(1, n + 1):
    k = "k:%05d" % i
    byport.setdefault(rc.get_node_from_key(k).port, []).append((i, rc.exists(k) == 1))
gone = 0
for port, v in byport.items():
    seen_present = False
    for i, present in v:
        if present:
            seen_present = True
        elif seen_present:
            bad.append("k:%05d on :%d is gone while an older key is not" % (i, port))
        else:
            gone += 1
print(gone)
if bad:
    print("\n".join(bad[:5]), file=sys.stderr)
    sys.exit(1)
' "$1"
}

# cluster_left: the k:* keys left, sorted, one per line.
cluster_left_is_range() {
	local want
	want=$(seq -f 'k:%05g' "$1" "$2")
	[[ $(cluster_keys) == "$want" ]]
}

# The shard's nodes in status, "ADDRESS STATE" lines.
status_nodes() {
	status_json | json_eval "'\n'.join('%s %s' % (n['address'], n['state']) for s in j['shards'] if s['name'] == '${SHARD:-meta}' for n in s.get('nodes', []))"
}

# nodes_connected N: N nodes in status, every one connected, and the
# reconciliations done.
nodes_connected() {
	local lines
	lines=$(status_nodes) || return 1
	[[ $(grep -c ' connected$' <<<"$lines") == "$1" && $(wc -l <<<"$lines") == "$1" ]] &&
		[[ $(status_field "${SHARD:-meta}" reconcile_state) == done ]]
}

# node_in_status ADDRESS: the address is one of the shard's nodes, connected.
node_in_status() {
	status_nodes | grep -qx "$1 connected"
}

# keys_in_slots_of NODE N LO HI: how many of k:00001..k:N hash to a slot in
# LO..HI that NODE owns now (after a resharding: the keys that moved).
keys_in_slots_of() {
	$PY - "${SEEDS%% *}" "$(redis_port "$1")" "$2" "$3" "$4" <<-'EOF'
		import sys, redis.cluster
		host, port = sys.argv[1].rsplit(":", 1)
		rc = redis.cluster.RedisCluster(host=host, port=int(port))
		node, n, lo, hi = (int(a) for a in sys.argv[2:])
		owned = set()
		for (a, b), info in rc.cluster_slots().items():
		    if info["primary"][1] == node:
		        owned.update(s for s in range(a, b + 1) if lo <= s <= hi)
		print(sum(1 for i in range(1, n + 1) if rc.keyslot("k:%05d" % i) in owned))
	EOF
}

# daemon_sees_topology: the daemon's masters and slots (status) are the
# cluster's own (CLUSTER SLOTS from a seed).
daemon_sees_topology() {
	local js
	js=$(status_json) || return 1
	$PY - "${SEEDS%% *}" "$js" <<-'EOF'
		import json, sys, redis.cluster
		host, port = sys.argv[1].rsplit(":", 1)
		rc = redis.cluster.RedisCluster(host=host, port=int(port))
		want = {}
		for (a, b), info in rc.cluster_slots().items():
		    want.setdefault("%s:%d" % (info["primary"][0], info["primary"][1]), set()).update(range(a, b + 1))
		have = {}
		for s in json.loads(sys.argv[2])["shards"]:
		    for n in s.get("nodes", []):
		        slots = set()
		        for r in n["slots"].split():
		            a, _, b = r.partition("-")
		            slots.update(range(int(a), int(b or a) + 1))
		        have[n["address"]] = slots
		sys.exit(0 if have == want else 1)
	EOF
}
