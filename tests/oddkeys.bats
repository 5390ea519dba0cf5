#!/usr/bin/env bats
# oddkeys.bats: keys with odd names (binary bytes, NUL, invalid UTF-8,
# newlines, quotes, backslashes, glob characters, 64 KiB, the empty key)
# tracked, flushed oldest first, archived, listed, exported and restored
# byte for byte; and Redis replies the daemon does not expect (wrong
# types, errors, a huge INFO, malformed pub/sub messages, replies to no
# command), from a real Redis where one can send them and from
# tests/fake-redis.py where only a broken server or proxy would.

# shellcheck disable=SC2154,SC2034
load helpers
load flushing
load archive

ODDKEYS=$top_srcdir/tests/oddkeys.py

okpy() {
	$PY "$ODDKEYS" "$@"
}

# keys_range FROM TO: lines FROM..TO of the key list (1-based).
keys_range() {
	sed -n "$1,$2p" "$TEST_DIR/keys"
}

# exist_is SHARD KEYFILE PATTERN: which keys exist, as a string of 0s and 1s.
exists_of() {
	okpy exist "$(redis_sock "$1")" "$2" | tr -d '\n'
}

# assert_json FILE: strict UTF-8 JSON.
assert_json() {
	okpy json-check "$1" || fail "not valid JSON: $1"
}

# assert_status_json: the status reply, raw, is strict JSON.
assert_status_json() {
	ctl --json status >"$TEST_DIR/status.json" || fail "status failed"
	assert_json "$TEST_DIR/status.json"
}

# flush_json SHARD N: a forced flush; the raw reply must be strict JSON.
flush_json() {
	flush_req "$1 $2" >"$TEST_DIR/flush.json"
	assert_json "$TEST_DIR/flush.json"
	cat "$TEST_DIR/flush.json"
}

# ---- odd keys ------------------------------------------------------------------------

@test "odd keys: tracked in order, flushed oldest first across a restart, archived, listed, exported, restored byte for byte" {
	local n r
	redis_start a
	conf_base "" 'flush_when_at_least_bytes = 1TiB'
	conf_shard a "unix:$(redis_sock a)"
	daemon_start
	shard_ready a
	okpy list "$TEST_DIR/keys"
	n=$(wc -l <"$TEST_DIR/keys")
	okpy create "$(redis_sock a)" "$TEST_DIR/keys"
	wait_for shard_is a tracked_entries "$n"
	okpy dump "$(redis_sock a)" "$TEST_DIR/keys" "$TEST_DIR/before"
	! grep -q $'\t-$' "$TEST_DIR/before" || fail "a key was not created"

	# The 5 oldest go first: the empty key, NUL, invalid UTF-8, LF, CR.
	r=$(flush_json a 5)
	assert_flush_reply "$r" true 5 5 0
	run exists_of a "$TEST_DIR/keys"
	assert_output "00000$(printf '1%.0s' $(seq 6 "$n"))"
	assert_status_json

	# The ledger log keeps the binary keys and their order across a restart.
	daemon_stop
	daemon_start
	shard_ready a
	run status_field a tracked_entries
	assert_output $((n - 5))
	r=$(flush_json a 7)
	assert_flush_reply "$r" true 7 7 0
	run exists_of a "$TEST_DIR/keys"
	assert_output "000000000000$(printf '1%.0s' $(seq 13 "$n"))"
	r=$(flush_json a 1000)
	assert_flush_reply "$r" true 1000 $((n - 12)) 0
	run live_count a
	assert_output 0
	run status_field a archived_entries_total	# since the restart
	assert_output $((n - 5))
	assert_status_json

	# archive ls: every key, oldest first, escaped into printable ASCII.
	"$GCS_FLUSHCTL" -c "$CONF" archive ls a >"$TEST_DIR/ls" 2>"$TEST_DIR/ls.err" ||
		fail "archive ls: $(cat "$TEST_DIR/ls.err")"
	okpy ls-check "$TEST_DIR/ls" "$TEST_DIR/keys" || fail "archive ls: $(head -c 2000 "$TEST_DIR/ls")"
	run cat "$TEST_DIR/ls.err"
	assert_output "$n records"
	# A pattern with glob characters escaped finds the literal key only.
	run --separate-stderr "$GCS_FLUSHCTL" -c "$CONF" archive ls a 'glob\*star'
	assert_success
	assert_equal "${#lines[@]}" 2
	assert_line --index 1 --regexp '  glob\*star$'
	run --separate-stderr "$GCS_FLUSHCTL" -c "$CONF" archive ls a '\[*'
	assert_equal "${#lines[@]}" 2
	assert_line --index 1 --regexp '  \[$'

	# archive export: each key once, byte for byte, with its DUMP.
	"$GCS_FLUSHCTL" -c "$CONF" archive export a >"$TEST_DIR/export.resp" 2>/dev/null ||
		fail "archive export failed"
	okpy export-check "$TEST_DIR/export.resp" "$TEST_DIR/keys" "$TEST_DIR/before" ||
		fail "archive export does not hold the keys and their DUMPs"

	# Into a fresh redis-server: restore (every key that a command line can
	# hold), and export | redis-cli --pipe for the key with a NUL byte.
	redis_stop a
	rm -f "$TEST_DIR/a.rdb"
	redis_start a
	run live_count a
	assert_output 0
	okpy restore "$GCS_FLUSHCTL" "$CONF" a "$TEST_DIR/keys" || fail "restore failed"
	"$GCS_FLUSHCTL" -c "$CONF" archive export a 'nul?byte' >"$TEST_DIR/nul.resp" 2>"$TEST_DIR/nul.err" ||
		fail "archive export with a pattern failed"
	run cat "$TEST_DIR/nul.err"
	assert_output "exported 1 record"
	run redis_cli a --pipe <"$TEST_DIR/nul.resp"
	assert_output --partial 'errors: 0, replies: 2'	# SELECT, RESTORE
	okpy dump "$(redis_sock a)" "$TEST_DIR/keys" "$TEST_DIR/after"
	run diff "$TEST_DIR/before" "$TEST_DIR/after"
	assert_success
	run redis_cli a DBSIZE	# not live_count: a key with a newline is two lines
	assert_output "$n"
}

@test "odd keys with archive off and found by reconciliation (SCAN, OBJECT IDLETIME) flush completely" {
	local n r
	redis_start a
	okpy list "$TEST_DIR/keys"
	n=$(wc -l <"$TEST_DIR/keys")
	# Created before the daemon starts: only the SCAN can find them.
	okpy create "$(redis_sock a)" "$TEST_DIR/keys"
	conf_base "" 'flush_when_at_least_bytes = 1TiB' 'archive = no'
	conf_shard a "unix:$(redis_sock a)"
	daemon_start
	shard_ready a
	run status_field a reconcile_added_total
	assert_output "$n"
	run status_field a tracked_entries
	assert_output "$n"
	r=$(flush_json a 1000)
	assert_flush_reply "$r" true 1000 "$n" 0
	run live_count a
	assert_output 0
	assert_status_json
}

@test "odd names in the config (policy key, patterns) are escaped in status JSON and work as keys" {
	local pk
	redis_start a
	# Quotes, a backslash, a UTF-8 character and a byte that is not UTF-8.
	pk=$(printf 'pol"icy\\key\xff\xc3\xa9')
	conf_base "" 'flush_when_at_least_bytes = 1TiB' "policy_key = $pk"
	conf_shard a "unix:$(redis_sock a)" "match = \"q* back\\\\* [x]y"
	daemon_start
	shard_ready a
	assert_status_json
	run status_json
	assert_output --partial '"value":"pol\"icy\\key\u00ffé"'
	# The policy key, found byte for byte, steers the shard.
	redis_cli a HSET "$pk" flush_num_entries_each_time 7 >/dev/null
	wait_for setting_is a flush_num_entries_each_time 7 runtime
	# The patterns: a quote, a literal backslash, a class.
	redis_cli a SET '"quoted' v >/dev/null
	redis_cli a SET 'back\x' v >/dev/null
	redis_cli a SET 'xy' v >/dev/null
	redis_cli a SET 'other' v >/dev/null
	wait_for shard_is a tracked_entries 3
}
