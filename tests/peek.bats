#!/usr/bin/env bats
# peek.bats: looking before deleting.  gcs-flushctl oldest lists the
# oldest tracked entries; flush --dry-run says what a flush would take and
# how much it would free, and deletes nothing.  Key names are binary: in
# the JSON they round-trip exactly through a standard parser ("key", or
# "key_base64" when not UTF-8), and the tables show them escaped.

load helpers
load flushing

setup() {
	common_setup
	redis_start r
	conf_base
	# No flush but the forced ones.
	conf_shard a "unix:$(redis_sock r)" "flush_when_at_least_bytes = 1TiB"
	daemon_start
	wait_for shard_is a state connected
}

teardown() {
	common_teardown
}

# Binary keys, created after k:0001..k:0100, in this order.
BINARY_KEYS='[b"bin\xff\xfe", b"nul\x00byte", b"line\nbreak", b"caf\xc3\xa9", b"", b"\x1b[31mred", b"sp ace"]'

put_binary_keys() {
	$PY - "$(redis_sock r)" "$BINARY_KEYS" <<-'EOF'
		import ast, sys, redis
		r = redis.Redis(unix_socket_path=sys.argv[1])
		for k in ast.literal_eval(sys.argv[2]):
		    r.set(k, b"v")
	EOF
}

@test "oldest: the N oldest entries in creation order; binary keys round-trip exactly through JSON" {
	put_keys r 1 100
	put_binary_keys
	wait_for shard_is a tracked_entries 107
	ctl --json oldest a 10000 >"$TEST_DIR/oldest.json"
	# Python's json module is the standard parser: every key comes back
	# byte for byte, in creation order, and each exists in Redis as such.
	run $PY - "$(redis_sock r)" "$BINARY_KEYS" "$TEST_DIR/oldest.json" <<-'EOF'
		import ast, base64, json, sys, redis
		j = json.load(open(sys.argv[3], encoding="utf-8"))
		keys = [e["key"].encode("utf-8", "surrogateescape") if "key" in e else base64.b64decode(e["key_base64"])
		        for e in j["entries"]]
		want = [b"k:%04d" % i for i in range(1, 101)] + ast.literal_eval(sys.argv[2])
		assert keys == want, (keys[-8:], want[-8:])
		assert j["tracked"] == 107 and j["listed"] == 107 and j["flushable"] == 107, j
		b64 = [base64.b64decode(e["key_base64"]) for e in j["entries"] if "key_base64" in e]
		assert b64 == [b"bin\xff\xfe"], b64
		r = redis.Redis(unix_socket_path=sys.argv[1])
		assert all(r.exists(k) for k in keys)
		assert all(0 <= e["age_s"] < 60 and isinstance(e["created_unix"], int) for e in j["entries"])
		print("ok")
	EOF
	assert_output ok
}

@test "oldest: the table escapes keys readably, and gcs-flushctl reads a NUL byte" {
	put_keys r 1 3
	put_binary_keys
	wait_for shard_is a tracked_entries 10
	run ctl oldest a 20
	assert_success
	assert_line --index 0 --regexp '^AGE +CREATED \(UTC\) +KEY$'
	assert_line --index 1 --regexp '^ *[0-9]+s +[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z +k:0001$'
	assert_line --index 4 --regexp ' "bin\\xff\\xfe"$'
	assert_line --index 5 --regexp ' "nul\\x00byte"$'
	assert_line --index 6 --regexp ' "line\\nbreak"$'
	assert_line --index 7 --regexp ' café$'
	assert_line --index 8 --regexp ' ""$'
	assert_line --index 9 --regexp ' "\\x1b\[31mred"$'
	assert_line --index 10 --regexp ' "sp ace"$'
	assert_line --index 11 '10 of 10 tracked entries, oldest first'
	run ctl oldest a
	assert_success
	((${#lines[@]} == 12)) || fail "the default is 10 entries: $output"
}

@test "flush --dry-run: what a flush would take and about what it frees, deleting nothing; the flush then takes exactly that" {
	local before
	# Values of growing size: only a sample spread over the 200 estimates
	# their total well.
	$PY -c 'import sys, redis
r = redis.Redis(unix_socket_path=sys.argv[1])
for i in range(1, 501):
    r.set("k:%04d" % i, "x" * (10 * i))' "$(redis_sock r)"
	wait_for shard_is a tracked_entries 500
	before=$(redis_cli r dbsize)
	run ctl --json flush --dry-run a 200
	assert_success
	echo "$output" >"$TEST_DIR/dry.json"
	run $PY - "$(redis_sock r)" "$TEST_DIR/dry.json" <<-'EOF'
		import json, sys, redis
		j = json.load(open(sys.argv[2]))
		assert j["dry_run"] is True and j["requested"] == 200 and j["would_flush"] == 200, j
		assert j["stops_at"] is None and j["first"]["key"] == "k:0001" and j["last"]["key"] == "k:0200", j
		assert j["sampled"] == 64 and j["sample_gone"] == 0 and j["sample_error"] is None, j
		r = redis.Redis(unix_socket_path=sys.argv[1])
		real = sum(r.memory_usage("k:%04d" % i) for i in range(1, 201))
		est = j["estimated_bytes"]
		assert abs(est - real) <= 0.2 * real, (est, real)
		print("ok %d %d" % (est, real))
	EOF
	assert_output --regexp '^ok '
	# Nothing was taken: every key is there, the ledger and counters as before.
	run redis_cli r dbsize
	assert_output "$before"
	run status_field a tracked_entries
	assert_output 500
	run status_field a flush_cycles_total
	assert_output 0
	# The people's form says the same.
	run ctl flush --dry-run a 200
	assert_success
	assert_line --index 0 'dry run: a flush of 200 would take 200 entries; nothing was deleted'
	assert_line --index 1 --regexp '^first: k:0001 \(created [0-9T:-]+Z, [0-9]+s ago\)$'
	assert_line --index 2 --regexp '^last:  k:0200 \('
	assert_line --index 3 --regexp '^would free about [0-9.]+ KiB \(MEMORY USAGE of 64 keys spread over them: [0-9.]+ KiB; 0 already gone\)$'
	# The flush takes exactly the entries the dry run named.
	run flush_req a 200
	assert_output --partial '"flushed":200'
	run redis_cli r exists k:0200 k:0201
	assert_output 1
	run ctl --json oldest a 1
	assert_output --partial '"key":"k:0201"'
	# Asking past the end: the whole ledger, and why it stops.
	run ctl --json flush --dry-run a 1000
	assert_output --partial '"would_flush":300,"stops_at":"end"'
	run ctl flush --dry-run a 1000
	assert_line --index 0 'dry run: a flush of 1000 would take 300 entries (no more tracked entries); nothing was deleted'
}

@test "flush --dry-run looks at 100000 entries at most, and says so" {
	redis_cli r eval "for i = 1, 100010 do redis.call('SET', 'p:' .. i, 'v') end" 0 >/dev/null
	wait_for shard_is a tracked_entries 100010
	run ctl --json flush --dry-run a 200000
	assert_success
	assert_output --partial '"requested":200000,"would_flush":100000,"stops_at":"limit"'
	assert_output --partial '"last":{"key":"p:100000"'
	run ctl flush --dry-run a 200000
	assert_line --index 0 'dry run: a flush of 200000 would take at least 100000 entries (a dry run looks no further); nothing was deleted'
}

@test "flush --dry-run: with the shard down, or Redis silent, it still answers from the ledger, without an estimate" {
	put_keys r 1 50
	wait_for shard_is a tracked_entries 50
	# Redis stops answering: MEMORY USAGE times out (command_timeout_secs = 1).
	redis_pause r
	run ctl --json flush --dry-run a 20
	redis_resume r
	assert_success
	assert_output --partial '"would_flush":20'
	assert_output --partial '"estimated_bytes":null,"sample_error":"no reply within 1s (command_timeout_secs)"'
	redis_stop r
	wait_for shard_state_in a down connecting
	run ctl flush --dry-run a 20
	assert_success
	assert_line --index 0 'dry run: a flush of 20 would take 20 entries; nothing was deleted'
	assert_line --index 1 --partial 'first: k:0001'
	assert_line --index 3 'no size estimate: the shard is not connected'
	run ctl oldest a 2
	assert_success
	assert_line --index 3 '2 of 50 tracked entries, oldest first'
}

@test "oldest and flush --dry-run: usage and errors" {
	run ctl oldest
	assert_failure 2
	run ctl flush --dry-run
	assert_failure 2
	run ctl flush --dry-run a 1 2
	assert_failure 2
	run ctl oldest nosuch
	assert_failure 1
	assert_output --partial "no shard named 'nosuch'"
	run ctl oldest a 0
	assert_failure 1
	assert_output --partial 'N must be a whole number from 1 to 10000'
	run ctl flush --dry-run a x
	assert_failure 1
	assert_output --partial 'N must be a whole number from 1 to 1000000000'
	# Straight to the socket: the flag only counts first.
	run ctl_req 'flush a --dry-run'
	assert_output --partial "N must be a whole number"
	run ctl_req 'flush --dry-run'
	assert_output '{"ok":false,"error":"usage: flush [--dry-run] SHARD [N]"}'
	run status_field a flush_cycles_total
	assert_output 0
}
