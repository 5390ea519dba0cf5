#!/usr/bin/env bats
# shellcheck disable=SC2154
# sentinel.bats: a Sentinel-managed master (a master, a replica and three
# sentinels, started by each test): discovery, SENTINEL FAILOVER and kill -9
# of the master followed within a second of +switch-master, an old master
# back as an empty master never flushed, a sentinel down, and auth.

load helpers
load flushing
load cluster

BATS_TEST_TIMEOUT=120

sentinel_conf() {
	conf_base "$CONF" "$@"
	cat >>"$CONF" <<-EOF

		[shard:gcs]
		sentinels = $SENTINELS
		sentinel_master = gcs
	EOF
	printf '%s\n' ${SHARD_LINES[@]+"${SHARD_LINES[@]}"} >>"$CONF"
}

# The master the shard's node is on, connected.
shard_on() {
	SHARD=gcs node_in_status "$1"
}

put_m() {
	local master=$1 from=$2 to=$3

	seq -f "SET k:%05g v" "$from" "$to" | rcli "$master" >/dev/null
}

# Waits for the sentinels to name node NAME as the master.
master_is() {
	sentinels_agree "127.0.0.1 $(redis_port "$1")"
}

# Every k:1..N of the master is in Redis or in the archive.
nothing_lost_on() {
	local m=$1 n=$2

	"$GCS_FLUSHCTL" -c "$CONF" archive ls gcs 'k:*' | awk '{ print $NF }' | grep '^k:' | sort -u >"$TEST_DIR/archived"
	rcli "$m" --scan --pattern 'k:*' | sort >"$TEST_DIR/present"
	seq -f 'k:%05g' 1 "$n" | sort >"$TEST_DIR/all"
	sort -u "$TEST_DIR/archived" "$TEST_DIR/present" | comm -23 "$TEST_DIR/all" - >"$TEST_DIR/lost"
	[[ ! -s $TEST_DIR/lost ]] || fail "lost: $(head -n 5 "$TEST_DIR/lost")"
}

# The keys left on m are the newest of k:1..N.
newest_left_on() {
	local m=$1 n=$2 first
	first=$(rcli "$m" --scan --pattern 'k:*' | sort | head -n 1)
	[[ -n $first ]] || return 0
	[[ $(rcli "$m" --scan --pattern 'k:*' | sort) == "$(seq -f 'k:%05g' "$((10#${first#k:}))" "$n")" ]]
}

@test "the master is found through the sentinels and flushed oldest first" {
	sentinel_start
	sentinel_conf 'flush_when_at_least_bytes = 1TiB'
	daemon_start
	wait_for -t 20 shard_on "127.0.0.1:$(redis_port m1)"
	run status_field gcs topology
	assert_output sentinel
	run status_field gcs address
	assert_output "127.0.0.1:$(redis_port m1)"
	put_m m1 1 200
	wait_for -t 20 shard_is gcs tracked_entries 200
	r=$(flush_req gcs 50)
	[[ $(jget "$r" "j['flushed'] == 50") == true ]] || fail "flush: $r"
	run newest_left_on m1 200
	assert_success
	run rcli m1 dbsize
	assert_output 150
}

@test "SENTINEL FAILOVER: the daemon follows within a second of +switch-master; order kept, nothing lost" {
	local t0 t1
	sentinel_start
	sentinel_conf 'flush_when_at_least_bytes = 1TiB'
	daemon_start
	wait_for -t 20 shard_on "127.0.0.1:$(redis_port m1)"
	put_m m1 1 300
	wait_for -t 20 shard_is gcs tracked_entries 300
	wait_for -t 20 eval '[[ $(rcli m2 dbsize) == 300 ]]'
	rcli s1 sentinel failover gcs >/dev/null
	wait_for -t 20 master_is m2
	t0=$(now_us)
	wait_for -t 10 shard_on "127.0.0.1:$(redis_port m2)"
	t1=$(now_us)
	echo "# on the new master $(((t1 - t0) / 1000)) ms after the sentinels named it" >&3
	((t1 - t0 < 5000000)) || fail "took $(((t1 - t0) / 1000)) ms"
	# The same ledger goes on: the oldest on the new master go first.
	wait_for -t 20 eval '[[ $(status_field gcs reconcile_state) == done && $(status_field gcs state) == connected ]]'
	run status_field gcs tracked_entries
	assert_output 300
	r=$(flush_req gcs 100)
	[[ $(jget "$r" "j['flushed'] == 100") == true ]] || fail "flush: $r"
	run newest_left_on m2 300
	assert_success
	nothing_lost_on m2 300
}

@test "kill -9 of the master: the daemon follows, and the old master back empty is never flushed" {
	local old
	sentinel_start
	SHARD_LINES=('flush_when_at_least_bytes = 1' 'flush_num_entries_each_time = 5' 'flush_period_secs = 0.5')
	sentinel_conf
	daemon_start
	wait_for -t 20 shard_on "127.0.0.1:$(redis_port m1)"
	run ctl pause gcs
	assert_success
	put_m m1 1 100
	wait_for -t 20 shard_is gcs tracked_entries 100
	wait_for -t 20 eval '[[ $(rcli m2 dbsize) == 100 ]]'
	old=$(pid_of redis-m1)
	kill -KILL "$old"
	wait_for -t 30 master_is m2
	wait_for -t 10 shard_on "127.0.0.1:$(redis_port m2)"
	# The old master comes back empty, claiming to be a master, until the
	# sentinels turn it into a replica: it must see no delete and no ROLE
	# check of ours may take it for the shard's master.
	node_spawn m1 "$(redis_port m1)"
	rcli m1 set canary 1 >/dev/null
	run ctl resume gcs
	assert_success
	wait_for -t 20 eval '(( $(rcli m2 dbsize) <= 90 ))'
	run rcli m1 get canary
	assert_output 1
	run newest_left_on m2 100
	assert_success
	nothing_lost_on m2 100
}

@test "one sentinel down does not stop discovery; passwords on the nodes and on the sentinels" {
	NODE_PW=nodepw SENTINEL_PW=sentpw sentinel_start
	kill -KILL "$(pid_of redis-s1)"
	echo nodepw >"$TEST_DIR/node.pw"
	echo sentpw >"$TEST_DIR/sent.pw"
	chmod 600 "$TEST_DIR/node.pw" "$TEST_DIR/sent.pw"
	SHARD_LINES=("password_file = $TEST_DIR/node.pw" "sentinel_password_file = $TEST_DIR/sent.pw")
	sentinel_conf 'flush_when_at_least_bytes = 1TiB'
	daemon_start
	wait_for -t 20 shard_on "127.0.0.1:$(redis_port m1)"
	NODE_PW=nodepw put_m m1 1 20
	wait_for -t 20 shard_is gcs tracked_entries 20
	r=$(flush_req gcs 5)
	[[ $(jget "$r" "j['flushed'] == 5") == true ]] || fail "flush: $r"
	run "$GCS_FLUSHCTL" -c "$CONF" restore gcs k:00001
	assert_success
}

@test "a sentinel shard's config: sentinel_master is needed, and only with sentinels" {
	SENTINELS="127.0.0.1:1"
	conf_base
	printf '\n[shard:gcs]\nsentinels = 127.0.0.1:1\n' >>"$CONF"
	run "$GCS_FLUSHD" -t -c "$CONF"
	assert_failure
	assert_output --partial "sentinel_master: needed with sentinels"
	conf_base
	printf '\n[shard:gcs]\naddress = 127.0.0.1:1\nsentinel_master = gcs\n' >>"$CONF"
	run "$GCS_FLUSHD" -t -c "$CONF"
	assert_output --partial "sentinel_master: only with sentinels"
}
