#!/usr/bin/env bats
# crash.bats: gcs-flushd killed with SIGKILL at random moments while it
# flushes a workload of 24,000 entries, and restarted each time: after the
# last kill, and again once a last daemon has flushed the rest, every entry
# ever written is in Redis or in the archive, byte for byte.

# shellcheck disable=SC2154,SC2034
BATS_TEST_TIMEOUT=${BATS_TEST_TIMEOUT:-150}
load helpers
load flushing
load archive

COUNT=24000
# No events: their scores are the wall clock.  Hashes as listpacks: DUMPs
# from the reference server and from ours compare (see SAME_DUMP_ARGS).
# shellcheck disable=SC2054
LOAD_ARGS=(--count "$COUNT" --mix 70,20,10,0 --value-size 200 --seed 42)

# check_all REF LIVE ARCHIVED: every key of REF has the same DUMP in LIVE or,
# when gone from LIVE, in ARCHIVED (and every archived copy is right too).
check_all() {
	$PY - "$@" <<-'EOF'
		import sys
		def load(p):
		    m = {}
		    for l in open(p):
		        k, d, t = l.rstrip("\n").split("\t")
		        if d != "-":
		            m[k] = d
		    return m
		ref, live, arch = (load(p) for p in sys.argv[1:4])
		n_live = n_arch = n_both = 0
		lost, wrong = [], []
		for k, d in ref.items():
		    if k in arch and arch[k] != d:
		        wrong.append(k + " (archived copy)")
		    if k in live:
		        n_live += 1
		        n_both += k in arch
		        if live[k] != d:
		            wrong.append(k + " (in Redis)")
		    elif k in arch:
		        n_arch += 1
		    else:
		        lost.append(k)
		extra = sorted(set(live) - set(ref))
		print("%d keys written: %d in Redis (%d of them also archived), %d only in the archive, "
		      "%d lost, %d different, %d unexpected in Redis"
		      % (len(ref), n_live, n_both, n_arch, len(lost), len(wrong), len(extra)))
		for k in sorted(lost)[:20]:
		    print("  lost: " + k)
		for k in sorted(wrong)[:20]:
		    print("  different: " + k)
		for k in extra[:20]:
		    print("  unexpected: " + k)
		sys.exit(1 if lost or wrong or extra else 0)
	EOF
}

# verify_all WHEN: exports the archive into the scratch redis and runs
# check_all on the reference, redis a and the scratch redis.
verify_all() {
	local out

	dump_keys a "$TEST_DIR/ref.keys" "$TEST_DIR/live"
	out=$(export_into a scratch)
	dump_keys scratch "$TEST_DIR/ref.keys" "$TEST_DIR/archived"
	run check_all "$TEST_DIR/ref" "$TEST_DIR/live" "$TEST_DIR/archived"
	echo "# $1: $output; $out" >&3
	assert_success
}

@test "SIGKILL at random moments while flushing: every entry is in Redis or in the archive, byte for byte" {
	local kills=0 mid=0 i t0 lg st out torn
	RANDOM=4242	# reproducible moments
	one_shard_start -p 'flush_when_at_least_bytes = 1' -p 'flush_num_entries_each_time = 1000' \
		-p 'flush_max_entries_per_sec = 2000' -s 'flush_period_secs = 0.1' \
		"${SAME_DUMP_ARGS[@]}"

	# About 22 s of writes at 1100 a second; the daemon flushes at most
	# 2000 a second, and catches up after each restart.
	"$GCS_LOADGEN" -s "$(redis_sock a)" "${LOAD_ARGS[@]}" --rate 1100 \
		>"$TEST_DIR/loadgen.out" 2>"$TEST_DIR/loadgen.err" &
	lg=$!
	record_pid loadgen "$lg"

	t0=$(now_us)
	for ((i = 0; i < 80; i++)); do
		# 25 kills take about 15 s: gcs-loadgen goes on after the last
		# one, and its last entries stay in Redis.
		((kills < 25)) || break
		(($(now_us) - t0 < 75000000)) || break
		((i == 0)) || daemon_start
		wait_for -t 20 shard_is a state connected
		# 0.05 to 0.8 s after it is connected (reconciling, tracking,
		# flushing: wherever it happens to be).
		sleep "$(printf '0.%02d' $((5 + RANDOM % 75)))"
		[[ $(status_field a flushing) == true ]] && mid=$((mid + 1))
		kill -KILL "$DAEMON_PID"
		wait_gone "$DAEMON_PID" 10 || fail "gcs-flushd $DAEMON_PID survived SIGKILL"
		st=0
		{ wait "$DAEMON_PID"; } 2>/dev/null || st=$?	# no "Killed" line
		((st == 137)) || fail "kill -9: exit status $st"
		rm -f "$PID_DIR/daemon.pid"
		kills=$((kills + 1))
	done
	echo "# $kills kills in $((($(now_us) - t0) / 1000)) ms, $mid of them while a flush was running" >&3
	((kills >= 20)) || fail "only $kills kills"
	((mid >= 5)) || fail "only $mid kills while a flush was running"

	wait_gone "$lg" 30 || fail "gcs-loadgen still running"
	st=0
	wait "$lg" || st=$?
	rm -f "$PID_DIR/loadgen.pid"
	((st == 0)) || fail "gcs-loadgen: exit $st: $(cat "$TEST_DIR/loadgen.err")"
	grep -q "^created $COUNT entries" "$TEST_DIR/loadgen.out" ||
		fail "gcs-loadgen: $(cat "$TEST_DIR/loadgen.out" "$TEST_DIR/loadgen.err")"

	# The reference: the same entries in a server of their own.
	redis_start ref "${SAME_DUMP_ARGS[@]}"
	loadgen ref "${LOAD_ARGS[@]}" >/dev/null
	dump_all ref "$TEST_DIR/ref"
	[[ $(wc -l <"$TEST_DIR/ref") == "$COUNT" ]] || fail "the reference has $(wc -l <"$TEST_DIR/ref") keys"

	# Right after the last SIGKILL: in Redis or in the archive.
	redis_start scratch "${SAME_DUMP_ARGS[@]}"
	verify_all "after the last SIGKILL"

	# A last daemon drains what is left and stops cleanly: then all of it
	# is in the archive.
	daemon_start
	wait_for -t 20 shard_is a state connected
	wait_for -t 60 live_count_is a 0 || true	# (a key left in Redis is not lost)
	out=$(status_json)
	daemon_stop
	torn=$(grep -c 'archive .*: cut a torn tail' "$DAEMON_LOG" || true)
	echo "# torn archive tails cut at start: $torn ($(grep -c 'ledger .*: cut a torn tail' "$DAEMON_LOG" || true) ledger tails);" \
		"the last run archived $(json_eval "j['shards'][0]['archived_entries_total']" <<<"$out")" >&3
	grep 'archive .*: cut a torn tail' "$DAEMON_LOG" | head -n 3 | sed 's/^/#   /' >&3
	redis_cli scratch FLUSHALL >/dev/null
	verify_all "after draining"
	run live_count a
	assert_output 0
}
