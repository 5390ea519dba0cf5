#!/usr/bin/env bats
# shellcheck disable=SC2154
# cluster.bats: a Redis Cluster of 3 masters and 3 replicas, started by each
# test: discovery, per-node flushing of each node's own oldest entries, a
# shard-wide forced flush of exactly the N oldest, failover (CLUSTER
# FAILOVER and kill -9), resharding, and restore, with nothing lost.

load helpers
load flushing
load cluster

BATS_TEST_TIMEOUT=120

# cluster_conf [policy lines...]: a [shard:meta] over the cluster's seeds,
# with the lines of SHARD_LINES (an array) in it.
cluster_conf() {
	conf_base "$CONF" "$@"
	cat >>"$CONF" <<-EOF

		[shard:meta]
		cluster = $SEEDS
	EOF
	printf '%s\n' ${SHARD_LINES[@]+"${SHARD_LINES[@]}"} >>"$CONF"
}

start_all() {
	cluster_start
	cluster_conf "$@"
	daemon_start
	wait_for -t 20 nodes_connected 3
}

# No command ever crossed a slot.
no_crossslot() {
	! grep -q CROSSSLOT "$DAEMON_LOG" || fail "CROSSSLOT in the log: $(grep CROSSSLOT "$DAEMON_LOG" | head -n 3)"
}

# Every k:00001..k:N is in the cluster or in the archive.
nothing_lost() {
	local n=$1

	"$GCS_FLUSHCTL" -c "$CONF" archive ls meta 'k:*' | awk '{ print $NF }' | grep '^k:' | sort -u >"$TEST_DIR/archived"
	cluster_keys >"$TEST_DIR/present"
	seq -f 'k:%05g' 1 "$n" | sort >"$TEST_DIR/all"
	sort -u "$TEST_DIR/archived" "$TEST_DIR/present" | comm -23 "$TEST_DIR/all" - >"$TEST_DIR/lost"
	[[ ! -s $TEST_DIR/lost ]] || fail "lost: $(head -n 5 "$TEST_DIR/lost")"
}

# The replica of master NAME (c1..c6), as a name.
replica_of() {
	local port i
	port=$(redis_port "$1")
	for i in 1 2 3 4 5 6; do
		[[ $(redis_cli "c$i" role 2>/dev/null | sed -n 2p) == 127.0.0.1 &&
			$(redis_cli "c$i" role 2>/dev/null | sed -n 3p) == "$port" ]] && echo "c$i" && return
	done
}

is_master() {
	[[ $(redis_cli "$1" role 2>/dev/null | head -n 1) == master ]]
}

@test "every master is found, and each flushes only its own entries, oldest first" {
	SHARD_LINES=('flush_period_secs = 0.5')
	start_all 'flush_when_at_least_bytes = 1' 'flush_num_entries_each_time = 30'
	run ctl pause meta
	assert_success
	cluster_put 1 600
	wait_for -t 20 shard_is meta tracked_entries 600
	run status_nodes
	[[ ${#lines[@]} == 3 ]] || fail "nodes: $output"
	run ctl resume meta
	assert_success
	wait_for -t 30 eval '(( $(cluster_keys | wc -l) <= 450 ))'
	run ctl pause meta
	assert_success
	wait_for -t 10 shard_is meta flushing false
	run cluster_check_oldest 600
	assert_success
	echo "# $output of 600 gone, each master's oldest" >&3
	# Each master flushed its own: every node's flushed count moved.
	run status_json
	[[ $(json_eval "min(n['flushed_entries_total'] for n in j['shards'][0]['nodes'])" <<<"$output") -ge 30 ]] ||
		fail "a master flushed nothing: $output"
	nothing_lost 600
	no_crossslot
}

# flush_exact yes|no: flush meta N takes exactly the N oldest.
flush_exact() {
	start_all "archive = $1" 'flush_when_at_least_bytes = 1TiB'
	# In three waves, each seen whole before the next is written: the
	# order between waves is certain whichever node a key lives on.
	cluster_put 1 100
	wait_for -t 20 shard_is meta tracked_entries 100
	cluster_put 101 200
	wait_for -t 20 shard_is meta tracked_entries 200
	cluster_put 201 300
	wait_for -t 20 shard_is meta tracked_entries 300
	r=$(flush_req meta 200)
	[[ $(jget "$r" "j['ok'] and j['flushed'] == 200") == true ]] || fail "flush meta 200: $r"
	run cluster_left_is_range 201 300
	assert_success
	no_crossslot
	[[ $1 == no ]] || nothing_lost 300
}

@test "flush meta N removes exactly the N oldest entries of the cluster (archive on)" {
	flush_exact yes
}

@test "flush meta N removes exactly the N oldest entries of the cluster (archive off)" {
	flush_exact no
}

@test "CLUSTER FAILOVER during a flush: the daemon follows within a second, nothing lost, order kept" {
	local rep t0 t1 fl
	start_all 'flush_when_at_least_bytes = 1TiB' 'flush_max_entries_per_sec = 300'
	cluster_put 1 600
	wait_for -t 20 shard_is meta tracked_entries 600
	rep=$(replica_of c1)
	[[ -n $rep ]] || fail "no replica of c1"
	# A paced flush of everything (2 s), and the failover in its middle.
	flush_req meta 600 >"$TEST_DIR/flush.out" 3>&- &
	fl=$!
	sleep 0.7
	redis_cli "$rep" cluster failover >/dev/null
	wait_for -t 10 is_master "$rep"
	t0=$(now_us)
	wait_for -t 10 node_in_status "127.0.0.1:$(redis_port "$rep")"
	t1=$(now_us)
	echo "# on the new master $(((t1 - t0) / 1000)) ms after its promotion" >&3
	((t1 - t0 < 5000000)) || fail "took $(((t1 - t0) / 1000)) ms"
	# Keys written while it switched are tracked (or reconciled).
	cluster_put 601 650
	wait "$fl" || true
	# The rest of the flush, on the right nodes now.
	wait_for -t 20 nodes_connected 3
	wait_for -t 20 eval '[[ $(status_field meta tracked_entries) -ge 50 ]]'
	r=$(flush_req meta 100000)
	[[ $(jget "$r" "j['ok']") == true ]] || fail "flush: $r"
	run cluster_check_oldest 650
	assert_success
	nothing_lost 650
	no_crossslot
}

@test "kill -9 of a master: its replica is promoted and flushed; nothing lost" {
	local rep
	start_all 'flush_when_at_least_bytes = 1TiB'
	cluster_put 1 300
	wait_for -t 20 shard_is meta tracked_entries 300
	rep=$(replica_of c2)
	kill -KILL "$(pid_of redis-c2)"
	wait_for -t 20 is_master "$rep"
	wait_for -t 10 node_in_status "127.0.0.1:$(redis_port "$rep")"
	wait_for -t 20 nodes_connected 3
	r=$(flush_req meta 150)
	[[ $(jget "$r" "j['ok'] and j['flushed'] == 150") == true ]] || fail "flush meta 150: $r"
	run cluster_check_oldest 300
	assert_success
	nothing_lost 300
}

@test "resharding 100 slots while keys are written: migrated keys keep their place" {
	local from to moved writer
	start_all 'flush_when_at_least_bytes = 1TiB'
	cluster_put 1 3000
	wait_for -t 20 shard_is meta tracked_entries 3000
	from=$(redis_cli c1 cluster myid)
	to=$(redis_cli c2 cluster myid)
	cluster_put 3001 4000 3>&- &
	writer=$!
	redis-cli --cluster reshard "127.0.0.1:$(redis_port c1)" --cluster-from "$from" --cluster-to "$to" \
		--cluster-slots 100 --cluster-yes >"$TEST_DIR/reshard.log" 2>&1 || fail "reshard: $(tail "$TEST_DIR/reshard.log")"
	wait "$writer" || fail "the writer failed"
	moved=$(keys_in_slots_of c2 3000 0 5460)
	echo "# $moved of the oldest 3000 keys migrated" >&3
	((moved >= 5)) || fail "only $moved keys migrated"
	wait_for -t 20 shard_is meta tracked_entries 4000
	# The daemon reads the topology once a second: flush once it has.
	wait_for -t 20 daemon_sees_topology
	r=$(flush_req meta 3000)
	[[ $(jget "$r" "j['ok'] and j['flushed'] == 3000") == true ]] || fail "flush meta 3000: $r"
	run cluster_left_is_range 3001 4000
	assert_success
	nothing_lost 4000
}

@test "restore puts keys back on the node that owns their slot now, after a failover" {
	local rep k
	start_all 'flush_when_at_least_bytes = 1TiB'
	cluster_put 1 30
	wait_for -t 20 shard_is meta tracked_entries 30
	r=$(flush_req meta 30)
	[[ $(jget "$r" "j['flushed'] == 30") == true ]] || fail "flush: $r"
	rep=$(replica_of c3)
	redis_cli "$rep" cluster failover >/dev/null
	wait_for -t 10 is_master "$rep"
	daemon_stop
	run "$GCS_FLUSHCTL" -c "$CONF" restore meta $(seq -f 'k:%05g' 1 30)
	assert_success
	run cluster_keys
	assert_output "$(seq -f 'k:%05g' 1 30)"
	for k in k:00001 k:00030; do
		run cluster_py 'print(rc.get(args[0]).decode())' "$k"
		assert_output "v${k#k:}"
	done
}

@test "a cluster shard's config: one of address, cluster and sentinels; db 0; seeds checked" {
	SEEDS="127.0.0.1:1 127.0.0.1:2"
	cluster_conf
	echo 'address = 127.0.0.1:3' >>"$CONF"
	run "$GCS_FLUSHD" -t -c "$CONF"
	assert_failure
	assert_output --partial "give only one of address, cluster and sentinels"
	cluster_conf
	echo 'db = 2' >>"$CONF"
	run "$GCS_FLUSHD" -t -c "$CONF"
	assert_output --partial "db: a cluster has only db 0"
	SEEDS="127.0.0.1:1 unix:/x"
	cluster_conf
	run "$GCS_FLUSHD" -t -c "$CONF"
	assert_output --partial "cluster: 'unix:/x': needs host:port, not a UNIX socket"
}

@test "reload adds, changes and removes a cluster shard" {
	cluster_start
	conf_base
	conf_shard a "unix:$TEST_DIR/none.sock"
	daemon_start
	cluster_conf
	run ctl reload
	assert_success
	SHARD=meta wait_for -t 20 nodes_connected 3
	echo 'flush_num_entries_each_time = 7' >>"$CONF"
	run ctl reload
	assert_success
	assert_output --partial "changed meta"
	run status_field meta flush_num_entries_each_time
	assert_output 7
	SHARD=meta wait_for -t 20 nodes_connected 3
	conf_base
	conf_shard a "unix:$TEST_DIR/none.sock"
	run ctl reload
	assert_success
	assert_output --partial "removed meta"
}
